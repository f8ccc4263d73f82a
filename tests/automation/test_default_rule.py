"""The value-alert task is a default rule: seeded, editable, switchable, not deletable, bulk."""

import pytest

from valuecrm.automation.defaults import VALUE_ALERT_RULE_KEY, ensure_default_rules
from valuecrm.automation.models import Rule
from valuecrm.common import events
from valuecrm.common.errors import Conflict
from valuecrm.customers.models import Task
from valuecrm.customers.services import customer_create

pytestmark = pytest.mark.django_db


def _customers(admin, owner, n):
    return [customer_create(actor=admin, data={"name": f"VIP {i}", "owner_id": owner.pk}) for i in range(n)]


def _raise_alerts(customers):
    from valuecrm.insights.models import ValueAlert

    alerts = ValueAlert.objects.bulk_create([
        ValueAlert(customer=c, kind="slowing", episode_key="silence:2026-01-01", tier="A",
                   reason="last order 94 days ago", reason_params={"code": "slowing", "gap_days": 94,
                                                                   "interval_days": 21}, created_on="2026-04-05")
        for c in customers])
    events.emit_many([events.ValueAlertRaised(customer_id=a.customer_id, alert_id=a.pk, kind=a.kind, tier="A")
                      for a in alerts])
    return alerts


def test_a_batch_of_value_alerts_gets_owner_tasks_in_constant_queries(
        admin_user, rep_north, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    from valuecrm.insights.models import ValueAlert

    ensure_default_rules()
    customers = _customers(admin_user, rep_north, 40)
    with django_assert_max_num_queries(80), django_capture_on_commit_callbacks(execute=True):
        alerts = _raise_alerts(customers)
    tasks = Task.objects.filter(customer_id__in=[a.customer_id for a in alerts])
    assert tasks.count() == 40
    assert set(tasks.values_list("assignee_id", flat=True)) == {rep_north.pk}
    first = ValueAlert.objects.select_related("task").get(pk=alerts[0].pk)
    assert first.task.title == "Value alert: VIP 0 — Buys less often"
    assert first.task.description == "last order 94 days ago; usually orders every 21 days"


def test_switched_off_it_creates_no_task_and_it_cannot_be_deleted(admin_user, rep_north,
                                                                django_capture_on_commit_callbacks):
    from valuecrm.automation.services import rule_delete, rule_set_enabled

    ensure_default_rules()
    rule = Rule.objects.get(system_key=VALUE_ALERT_RULE_KEY)
    rule_set_enabled(actor=admin_user, rule=rule, enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        _raise_alerts(_customers(admin_user, rep_north, 3))
    assert not Task.objects.exists()
    with pytest.raises(Conflict):
        rule_delete(actor=admin_user, rule=rule)
    ensure_default_rules()
    assert Rule.objects.filter(system_key=VALUE_ALERT_RULE_KEY).count() == 1
