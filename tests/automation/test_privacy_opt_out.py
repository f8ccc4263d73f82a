"""A person who refused automated decisions (PIPL Art. 24) is never acted on by an
automation rule: the run is logged as skipped with the reason, and a dry run against
the audience shows them as not matched."""

import pytest

from valuecrm.automation.models import Run, RunStatus
from valuecrm.automation.services import rule_dry_run
from valuecrm.customers.models import Customer
from valuecrm.customers.services import customer_create
from valuecrm.privacy.models import Channel, Purpose
from valuecrm.privacy.services import consent_record

pytestmark = pytest.mark.django_db


def _tags(customer):
    return set(Customer.objects.get(pk=customer.pk).tags.values_list("name", flat=True))


def test_a_rule_skips_a_person_who_refused_automated_decisions(admin_user, make_rule, run_after_commit):
    refusing = customer_create(actor=admin_user, data={"name": "Refuses", "city": "上海"})
    consent_record(actor=admin_user, customer=refusing, channel=Channel.ANY,
                   purpose=Purpose.AUTOMATED_DECISIONS, granted=False)
    willing = customer_create(actor=admin_user, data={"name": "Willing", "city": "上海"})
    rule = make_rule(trigger={"event": "customer.updated"}, conditions=[],
                     actions=[{"type": "add_tag", "tag": "auto"}])
    from valuecrm.customers.services import customer_update

    for customer in (refusing, willing):
        run_after_commit(customer_update, actor=admin_user, customer=customer, data={"city": "苏州"})
    assert _tags(refusing) == set()
    assert _tags(willing) == {"auto"}
    skipped = Run.objects.get(rule=rule, customer_id=refusing.pk)
    assert (skipped.status, skipped.reason_code) == (RunStatus.SKIPPED, "opted_out")
    assert Run.objects.get(rule=rule, customer_id=willing.pk).status == RunStatus.SUCCEEDED

    plan = rule_dry_run(actor=admin_user, rule=rule, mode="audience")
    matched = {item["customer_id"]: item["matched"] for item in plan["items"]}
    assert matched[refusing.pk] is False and matched[willing.pk] is True
