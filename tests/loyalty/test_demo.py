import datetime as dt

import pytest
from django.db.models import Count

from valuecrm.customers.models import Customer
from valuecrm.demo.generate import demo_generate
from valuecrm.loyalty import selectors
from valuecrm.loyalty.models import Account, CareReminder, Entry, Referral

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


def test_demo_has_a_year_old_programme_with_every_kind_of_movement():
    demo_generate(customers=400, seed=3, now=NOW)
    kinds = dict(Entry.objects.values_list("kind").annotate(n=Count("id")))
    assert {"earn", "release", "redeem", "expire"} <= set(kinds)
    assert Account.objects.values("tier").distinct().count() >= 2
    assert Referral.objects.exists()
    for account in Account.objects.all()[:50]:
        assert (account.balance, account.pending) == selectors.ledger_sums(account.pk)
    # VIPs whose care is due got a care task for their owner (what the shipped rule does).
    reminders = list(CareReminder.objects.select_related("customer", "task"))
    assert reminders
    assert all(r.task.assignee_id == r.customer.owner_id and r.task.customer_id == r.customer_id
               and r.task.title.startswith("VIP care: get in touch with ") for r in reminders)
    assert not Customer.objects.filter(selectors.care_due_q(now=NOW), owner__isnull=False).exists()

