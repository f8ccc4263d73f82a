"""The built-in actions beyond tags and owner tasks: round-robin, a specific user, webhooks, fields."""

import pytest

from valuecrm.automation.models import Run, RunStatus
from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import Customer, Task
from valuecrm.customers.services import customer_create, customers_bulk_tag

pytestmark = pytest.mark.django_db


def test_round_robin_spreads_tasks_over_the_team_and_continues_across_batches(
        admin_user, make_user, team_north, make_rule, run_after_commit):
    # Team-scope members see the team's customers (a task for someone who cannot see its
    # customer would be left unassigned instead).
    a, b, c = (make_user(f"rr_{x}", role="sales_manager", team=team_north) for x in "abc")
    make_rule(trigger={"event": "customer.tagged"},
              actions=[{"type": "create_task", "title": "Call {customer}", "assignee": "round_robin",
                        "team_id": team_north.pk}])
    ids = [customer_create(actor=admin_user, data={"name": f"C{i}", "team_id": team_north.pk}).pk for i in range(4)]
    run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=ids, tag_names=["go"])
    first = list(Task.objects.order_by("pk").values_list("assignee_id", flat=True))
    assert first == [a.pk, b.pk, c.pk, a.pk]
    more = [customer_create(actor=admin_user, data={"name": f"D{i}", "team_id": team_north.pk}).pk for i in range(2)]
    run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=more, tag_names=["go"])
    assert list(Task.objects.order_by("pk").values_list("assignee_id", flat=True))[4:] == [b.pk, c.pk]


def test_a_specific_user_gets_the_task_and_a_field_is_set(admin_user, rep_north, make_rule, run_after_commit):
    make_rule(trigger={"event": "customer.created"},
              actions=[{"type": "change_owner", "user_id": rep_north.pk},
                       {"type": "create_task", "title": "Welcome", "assignee": "user", "user_id": rep_north.pk},
                       {"type": "update_field", "field": "consent_email", "value": "yes"}])
    customer = run_after_commit(customer_create, actor=admin_user, data={"name": "New"})
    assert Task.objects.get(customer=customer).assignee_id == rep_north.pk
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.consent_email is True
    assert fresh.owner_id == rep_north.pk


def test_send_webhook_queues_one_signed_delivery_per_run(admin_user, make_rule, run_after_commit, monkeypatch):
    from valuecrm.webhooks import tasks as integration_tasks
    from valuecrm.webhooks.models import WebhookDelivery
    from valuecrm.webhooks.webhooks import endpoint_create

    monkeypatch.setattr(integration_tasks, "webhook_deliver_task", lambda pk: None)
    endpoint = endpoint_create(actor=admin_user, data={"name": "hook", "url": "http://127.0.0.1:9/",
                                                       "event_types": ["customer.created"]})
    rule = make_rule(trigger={"event": "customer.tagged"},
                     actions=[{"type": "send_webhook", "endpoint_id": str(endpoint.pk)}])
    customer = customer_create(actor=admin_user, data={"name": "Hooked"})
    run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=[customer.pk], tag_names=["x"])
    delivery = WebhookDelivery.objects.get(event="automation.rule")
    assert f'"customer_id":{customer.pk}' in delivery.body
    assert Run.objects.get(rule=rule).status == RunStatus.SUCCEEDED


def test_bad_action_settings_are_errors_by_field(make_rule):
    with pytest.raises(ValidationFailed) as exc:
        make_rule(trigger={"event": "customer.created"},
                  actions=[{"type": "create_task", "title": "x", "assignee": "user"},
                           {"type": "update_field", "field": "name", "value": "y"},
                           {"type": "nope"}])
    assert set(exc.value.errors) == {"actions.0.user_id", "actions.1.field", "actions.2.type"}


def test_an_action_without_plan_or_apply_cannot_be_registered():
    from valuecrm.common.actions import Action, register_action

    class Incomplete(Action):
        type = "test_incomplete"

        def apply(self, ctx):
            return None

    with pytest.raises(TypeError, match="plan"):
        register_action(Incomplete)

    class NoApply(Action):
        type = "test_no_apply"

        def plan(self, ctx):
            return None

    with pytest.raises(TypeError, match="apply"):
        register_action(NoApply)
