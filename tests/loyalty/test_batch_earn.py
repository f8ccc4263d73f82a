"""The batch earn path (an import's thousands of order.created events in one delivery) credits
exactly what the one-order-at-a-time path does, in a bounded number of queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuecrm.loyalty import services, subscriber
from valuecrm.loyalty.models import Account, Entry, Tier
from valuecrm.orders.models import Order

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


orders_st = st.lists(st.tuples(st.integers(0, 4),  # which customer
                               st.integers(1, 3000),  # amount
                               st.integers(0, 400),  # days ago
                               st.sampled_from(["paid", "paid", "fulfilled", "pending", "cancelled"])),
                     min_size=1, max_size=14)


def _state(customers):
    accounts = {a.customer_id: (a.balance, a.pending, a.lifetime_earned, a.tier.code if a.tier else "")
                for a in Account.objects.filter(customer__in=customers).select_related("tier")}
    rows = sorted(Entry.objects.filter(account__customer__in=customers).values_list(
        "account__customer_id", "kind", "points", "pending", "order_id", "reference", "at", "expires_at",
        "available_at"))
    return accounts, rows


def _run(spec, customers, batch, existing):
    now = timezone.now()
    orders = []
    for i, (who, amount, days, status) in enumerate(spec):
        orders.append(Order.objects.create(customer=customers[who], external_id=f"B{i}", status=status,
                                           placed_at=now - dt.timedelta(days=days, hours=i),
                                           total_amount=Decimal(amount)))
    if existing:  # one order already credited before the batch arrives (a re-delivery)
        services.order_changed(order_id=orders[0].pk)
    ids = [o.pk for o in orders] + [orders[0].pk]  # an event twice in one batch
    if batch:
        services.orders_changed(order_ids=ids)
    else:
        for pk in dict.fromkeys(ids):
            services.order_changed(order_id=pk)
    return _state(customers)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(spec=orders_st, bonus=st.sampled_from([0, 50]), escrow=st.sampled_from([0, 7]),
       existing=st.booleans(), member=st.booleans())
def test_batch_and_one_by_one_give_the_same_balances_rows_and_tiers(spec, bonus, escrow, existing, member,
                                                                     admin_user):
    from valuecrm.customers.models import Customer

    services.program_update(actor=admin_user, data={
        "effective_from": dt.date(2020, 1, 1), "points_per_cny": "1", "escrow_days": escrow,
        "expiry_days": 365, "first_order_bonus": bonus, "birthday_multiplier": "1", "tier_window_days": 365})
    Tier.objects.filter(rank__gt=Tier.objects.order_by("rank").first().rank).update(multiplier=Decimal("1.5"))
    results = []
    for batch in (False, True):
        try:
            with transaction.atomic():
                customers = [Customer.objects.create(name=f"C{i}", owner=admin_user) for i in range(5)]
                if member:  # one customer is a member already, near the next tier
                    account = services._account_for(customers[0].pk)
                    services._write(account, "earn", points=900, at=timezone.now() - dt.timedelta(days=3),
                                    order_id=None, reference="seed")
                    services.tier_review(account_id=account.pk)
                state = _run(spec, customers, batch, existing)
                # customer ids differ between the two runs: compare by position
                index = {c.pk: i for i, c in enumerate(customers)}
                results.append(({index[k]: v for k, v in state[0].items()},
                                [(index[r[0]], *r[1:4], r[5]) for r in state[1]]))
                raise _Rollback
        except _Rollback:
            pass
    assert results[0] == results[1]


def _batch_queries(admin_user, tag, per_customer):
    from valuecrm.customers.models import Customer

    customers = [Customer.objects.create(name=f"{tag}{i}", owner=admin_user) for i in range(20)]
    noon = timezone.localtime().replace(hour=12, minute=0) - dt.timedelta(days=2)  # one programme day
    orders = [Order.objects.create(customer=customers[i % 20], external_id=f"{tag}{i}", status="paid",
                                   placed_at=noon - dt.timedelta(seconds=i), total_amount=Decimal("10"))
              for i in range(20 * per_customer)]
    with CaptureQueriesContext(connection) as q:
        services.orders_changed(order_ids=[o.pk for o in orders])
    assert Entry.objects.filter(kind="earn", account__customer__in=customers).count() == 20 * per_customer
    assert sorted(Account.objects.filter(customer__in=customers).values_list("pending", flat=True)) == [
        10 * per_customer] * 20
    with CaptureQueriesContext(connection) as replay:
        services.orders_changed(order_ids=[o.pk for o in orders])  # re-delivered: nothing new
    assert Entry.objects.filter(kind="earn", account__customer__in=customers).count() == 20 * per_customer
    from valuecrm.common.models import OutboxEvent

    assert OutboxEvent.objects.filter(name="loyalty.points_earned").count() >= 20 * per_customer
    inserts = [x for x in q.captured_queries if x["sql"].startswith('INSERT INTO "loyalty_entry"')]
    # the ledger rows go in one insert, cut only by the backend's bulk batch size
    assert len(inserts) == -(-20 * per_customer // connection.ops.bulk_batch_size(
        [f for f in Entry._meta.concrete_fields if not f.primary_key], [Entry()] * 20 * per_customer))
    return len(q.captured_queries) - len(inserts), len(replay.captured_queries)


def test_a_batch_costs_queries_per_account_not_per_order(program, admin_user):
    _batch_queries(admin_user, "W", 1)  # warm the per-process caches
    one_each, replay_one = _batch_queries(admin_user, "A", 1)
    ten_each, replay_ten = _batch_queries(admin_user, "B", 10)
    assert ten_each == one_each  # besides the ledger insert, 200 orders cost what 20 do: the work is per member
    assert replay_one == replay_ten == 2  # the orders and their earn rows


def test_the_subscriber_hands_the_whole_batch_over(program, admin_user, monkeypatch):
    seen = []
    monkeypatch.setattr(services, "orders_changed", lambda *, order_ids: seen.append(order_ids))

    class E:
        def __init__(self, pk):
            self.event = type("Ev", (), {"order_id": pk})()

    subscriber.handle([E(3), E(1), E(3)])
    assert seen == [[3, 1, 3]]
