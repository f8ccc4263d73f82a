"""Dry run changes no row; schedules fire in the site time zone; the API contract."""

import datetime as dt
import json

import pytest
from django.apps import apps
from django.utils import timezone

from valuecrm.automation import schedules, services
from valuecrm.automation.models import Run, RunStatus
from valuecrm.common.actions import WriteAttempted, no_writes
from valuecrm.customers.models import Customer, Task
from valuecrm.customers.services import customer_create, customer_update

pytestmark = pytest.mark.django_db


def _row_counts():
    return {m._meta.db_table: m.objects.count() for m in apps.get_models() if m._meta.managed}


def test_dry_run_changes_no_row_in_any_table(admin_user, rep_north, make_rule, run_after_commit):
    rule = make_rule(enabled=False, trigger={"event": "customer.tagged"},
                     actions=[{"type": "create_task", "title": "Call {customer}"}, {"type": "add_tag", "tag": "挽回"},
                              {"type": "add_note", "body": "n"}, {"type": "change_owner", "user_id": rep_north.pk},
                              {"type": "update_field", "field": "city", "value": "上海"}])
    customer = customer_create(actor=admin_user, data={"name": "Wang"})
    run_after_commit(customer_update, actor=admin_user, customer=customer, data={"tags": ["vip"]})
    before = _row_counts()
    result = services.rule_dry_run(actor=admin_user, rule=rule, mode="events")
    assert _row_counts() == before
    assert result["matched"] == 1
    (item,) = result["items"]
    assert [a["type"] for a in item["actions"]] == ["create_task", "add_tag", "add_note", "change_owner",
                                                    "update_field"]
    assert item["actions"][0]["summary"].startswith("Create task “Call Wang”")
    audience = services.rule_dry_run(actor=admin_user, rule=rule, mode="audience")
    assert _row_counts() == before
    assert audience["evaluated"] == Customer.objects.count()


def test_the_dry_run_guard_refuses_writes():
    with pytest.raises(WriteAttempted), no_writes():
        Customer.objects.create(name="sneaky")


def test_dry_run_needs_automation_manage(rep_north, make_rule):
    from valuecrm.common.errors import PermissionDenied

    rule = make_rule(trigger={"event": "customer.created"}, actions=[{"type": "add_tag", "tag": "x"}])
    with pytest.raises(PermissionDenied):
        services.rule_dry_run(actor=rep_north, rule=rule)
    with pytest.raises(PermissionDenied):
        services.rule_update(actor=rep_north, rule=rule, data={"enabled": False})


def test_birthday_rule_fires_on_the_day_in_asia_shanghai(admin_user, rep_north, make_rule, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    timezone.activate("Asia/Shanghai")
    try:
        rule = make_rule(trigger={"schedule": {"date_field": "birthday", "offset_days": 0, "at": "00:00"}},
                         actions=[{"type": "create_task", "title": "Happy birthday {customer}"}])
        born = customer_create(actor=admin_user, data={"name": "Han Meimei", "owner_id": rep_north.pk,
                                                       "birthday": "1990-12-08"})
        customer_create(actor=admin_user, data={"name": "Other", "birthday": "1990-12-07"})
        utc = dt.UTC
        # 15:59 UTC on 7 Dec is 23:59 in Shanghai: not yet the 8th.
        schedules.fire_due(now=dt.datetime(2026, 12, 7, 15, 59, 30, tzinfo=utc))
        assert not Task.objects.exists()
        # 16:00 UTC is midnight of the 8th in Shanghai: within the minute, once.
        schedules.fire_due(now=dt.datetime(2026, 12, 7, 16, 0, 40, tzinfo=utc))
        task = Task.objects.get()
        assert task.customer_id == born.pk
        assert task.title == "Happy birthday Han Meimei"
        assert task.assignee_id == rep_north.pk
        # The tick runs again for an overlapping window: no second task.
        rule.refresh_from_db()
        rule.last_fired_at = dt.datetime(2026, 12, 7, 15, 59, tzinfo=utc)
        rule.save()
        schedules.fire_due(now=dt.datetime(2026, 12, 7, 16, 0, 50, tzinfo=utc))
        assert Task.objects.count() == 1
        assert Run.objects.filter(rule=rule, status=RunStatus.SUCCEEDED).count() == 1
    finally:
        timezone.deactivate()


def test_cron_rule_fires_at_its_minute(admin_user, make_rule):
    timezone.activate("Asia/Shanghai")
    try:
        make_rule(trigger={"schedule": {"cron": "30 9 * * *"}},
                  conditions=[{"filter": "tag", "value": "weekly"}], actions=[{"type": "add_note", "body": "check"}])
        c = customer_create(actor=admin_user, data={"name": "Tagged", "tags": ["weekly"]})
        customer_create(actor=admin_user, data={"name": "Untagged"})
        utc = dt.UTC
        schedules.fire_due(now=dt.datetime(2026, 12, 8, 1, 30, 5, tzinfo=utc))  # 09:30 Shanghai
        assert list(c.notes.values_list("body", flat=True)) == ["check"]
        assert Run.objects.count() == 1
    finally:
        timezone.deactivate()


# ---------------------------------------------------------------- API

def test_api_contract_create_list_runs_and_problem_errors(api_client_for, admin_user, rep_north,
                                                        django_capture_on_commit_callbacks):
    client = api_client_for(admin_user)
    body = {"name": "VIP follow-up", "enabled": True, "trigger": {"event": "customer.updated"},
            "conditions": [{"field": "changed_fields", "op": "contains", "value": "owner_id"}],
            "actions": [{"type": "add_tag", "tag": "reassigned"},
                        {"type": "create_task", "title": "Welcome {customer}", "assignee": "owner"}]}
    r = client.post("/api/v1/automation/rules", json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.content
    rule_id = r.json()["id"]
    customer = customer_create(actor=admin_user, data={"name": "Moved"})
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(actor=admin_user, customer=customer, data={"owner_id": rep_north.pk})
    runs = client.get(f"/api/v1/automation/runs?rule_id={rule_id}").json()
    statuses = [item["status"] for item in runs["items"]]
    assert "succeeded" in statuses
    assert all(len(item["event_id"]) == 32 for item in runs["items"])
    dry = client.post(f"/api/v1/automation/rules/{rule_id}/dry-run", json.dumps({"mode": "audience"}),
                      content_type="application/json")
    assert dry.status_code == 200
    bad = client.post("/api/v1/automation/rules", json.dumps({**body, "actions": [{"type": "create_task"}],
                                                              "trigger": {"event": "no.such"}}),
                      content_type="application/json")
    assert bad.status_code == 422
    assert bad["Content-Type"].startswith("application/problem+json")
    assert set(bad.json()["errors"]) == {"trigger.event", "actions.0.title"}
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/automation/rules" in spec["paths"]
    assert "/api/v1/automation/runs" in spec["paths"]
    assert "/api/v1/automation/rules/{rule_id}/dry-run" in spec["paths"]


def test_api_refuses_those_who_may_not_manage_automation(api_client_for, rep_north):
    r = api_client_for(rep_north).get("/api/v1/automation/rules")
    assert r.status_code == 403
    r = api_client_for(rep_north).get("/api/v1/automation/runs")
    assert r.status_code == 403


def test_pages_render_and_save_a_rule_from_the_form(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/automation/").status_code == 200
    assert client.get("/automation/rules/new?template=birthday").status_code == 200
    r = client.post("/automation/rules/new", {
        "name": "At risk A", "enabled": "on", "trigger_kind": "event", "trigger_event": "customer.stage_changed",
        "f0_key": "tier", "f0_value": "A", "c0_field": "to_stage", "c0_op": "eq", "c0_value": "at_risk",
        "a0_type": "create_task", "a0_create_task_title": "Call {customer}", "a0_create_task_due_in_days": "2",
        "a0_create_task_assignee": "owner", "a1_type": "add_tag", "a1_add_tag_tag": "挽回",
        "max_runs_per_hour": "1000"})
    assert r.status_code == 302, r.content.decode()[:2000]
    from valuecrm.automation.models import Rule

    rule = Rule.objects.get(name="At risk A")
    assert rule.conditions == [{"filter": "tier", "value": "A"},
                               {"field": "to_stage", "op": "eq", "value": "at_risk"}]
    assert rule.actions == [{"type": "create_task", "title": "Call {customer}", "due_in_days": 2,
                             "assignee": "owner"}, {"type": "add_tag", "tag": "挽回"}]
    assert client.get(f"/automation/rules/{rule.pk}/").status_code == 200
    assert client.get("/automation/runs/?status=failed").status_code == 200
    bad = client.post("/automation/rules/new", {"name": "", "trigger_kind": "cron", "schedule_cron": "nope"})
    assert bad.status_code == 422
    assert b"trigger.schedule.cron" in bad.content


def test_pages_are_forbidden_without_the_capability(client, rep_north):
    client.force_login(rep_north)
    assert client.get("/automation/").status_code == 403
    assert client.get("/automation/runs/").status_code == 403


def test_an_action_that_writes_in_plan_stops_the_dry_run_with_a_conflict(admin_user, make_rule):
    from valuecrm.common.actions import Action, Plan, register_action
    from valuecrm.common.errors import Conflict

    class Sneaky(Action):
        type = "test_sneaky"

        def plan(self, ctx):
            Customer.objects.create(name="written in plan")
            return Plan("never")

        def apply(self, ctx):
            raise AssertionError("a dry run never applies")

    register_action(Sneaky)
    try:
        rule = make_rule(enabled=False, trigger={"event": "customer.created"}, actions=[{"type": "test_sneaky"}])
        customer_create(actor=admin_user, data={"name": "Target"})
        before = _row_counts()
        with pytest.raises(Conflict):
            services.rule_dry_run(actor=admin_user, rule=rule, mode="audience")
        assert _row_counts() == before
    finally:
        from valuecrm.common.actions import ACTION_TYPES

        ACTION_TYPES.pop("test_sneaky", None)
