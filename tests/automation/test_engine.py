"""The engine: events → conditions → actions, exactly once, with loop protection."""

import datetime as dt

import pytest
from django.utils import timezone

from valuecrm.automation.models import Run, RunStatus
from valuecrm.common.models import OutboxEvent
from valuecrm.customers.models import Customer, Task
from valuecrm.customers.services import customer_create, customer_update, customers_bulk_tag

pytestmark = pytest.mark.django_db


def _tags(customer):
    return set(Customer.objects.get(pk=customer.pk).tags.values_list("name", flat=True))


def test_a_tag_rule_creates_a_task_for_the_owner_and_logs_the_run(admin_user, rep_north, make_rule,
                                                                run_after_commit):
    rule = make_rule(trigger={"event": "customer.tagged"},
                     conditions=[{"field": "tags", "op": "contains", "value": "vip"}],
                     actions=[{"type": "create_task", "title": "Call {customer}", "due_in_days": 2,
                               "assignee": "owner"}, {"type": "add_tag", "tag": "挽回"}])
    customer = customer_create(actor=admin_user, data={"name": "Li Lei", "owner_id": rep_north.pk})
    run_after_commit(customer_update, actor=admin_user, customer=customer, data={"tags": ["vip"]})
    task = Task.objects.get(customer=customer)
    assert task.title == "Call Li Lei"
    assert task.assignee_id == rep_north.pk
    assert task.created_by.username == "automation"
    assert dt.timedelta(days=1, hours=23) < task.due_at - timezone.now() <= dt.timedelta(days=2)
    assert _tags(customer) == {"vip", "挽回"}
    run = Run.objects.get(rule=rule, status=RunStatus.SUCCEEDED)
    assert run.customer_id == customer.pk
    # Its own tag is a new event: the rule sees it, it fails the event test, nothing is logged.
    assert not Run.objects.filter(rule=rule, depth=1).exists()
    assert [o["type"] for o in run.outcomes] == ["create_task", "add_tag"]
    assert run.event_id == OutboxEvent.objects.get(name="customer.tagged", depth=0).event_id
    # The events the actions emitted name the automation and their cause.
    caused = OutboxEvent.objects.filter(causation_id=run.event_id)
    assert {e.name for e in caused} >= {"task.created", "customer.tagged"}
    assert {e.actor_kind for e in caused} == {"automation"}


def test_an_event_test_miss_acts_not_and_an_audience_miss_is_logged(admin_user, make_rule, run_after_commit):
    rule = make_rule(trigger={"event": "customer.tagged"},
                     conditions=[{"field": "tags", "op": "contains", "value": "vip"},
                                 {"filter": "city", "value": "上海"}],
                     actions=[{"type": "add_tag", "tag": "seen"}])
    other = run_after_commit(customer_create, actor=admin_user, data={"name": "A", "tags": ["other"]})
    beijing = run_after_commit(customer_create, actor=admin_user, data={"name": "B", "city": "北京",
                                                                        "tags": ["vip"]})
    assert _tags(other) == {"other"}
    assert _tags(beijing) == {"vip"}
    run = Run.objects.get(rule=rule)
    assert run.customer_id == beijing.pk
    assert run.status == RunStatus.SKIPPED
    assert [c["ok"] for c in run.conditions_result] == [True, False]


def test_list_filters_select_the_audience(admin_user, rep_north, rep_south, make_rule, run_after_commit):
    rule = make_rule(trigger={"event": "customer.created"},
                     conditions=[{"filter": "owner", "value": str(rep_north.pk)}],
                     actions=[{"type": "add_tag", "tag": "north"}])
    north = run_after_commit(customer_create, actor=admin_user, data={"name": "N", "owner_id": rep_north.pk})
    south = run_after_commit(customer_create, actor=admin_user, data={"name": "S", "owner_id": rep_south.pk})
    assert _tags(north) == {"north"}
    assert _tags(south) == set()
    statuses = dict(Run.objects.filter(rule=rule).values_list("customer_id", "status"))
    assert statuses == {north.pk: RunStatus.SUCCEEDED, south.pk: RunStatus.SKIPPED}


def test_redelivery_never_acts_twice(admin_user, make_rule, django_capture_on_commit_callbacks):
    from valuecrm.automation import engine
    from valuecrm.common import events

    rule = make_rule(trigger={"event": "customer.created"}, actions=[{"type": "create_task", "title": "Hi"}])
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(actor=admin_user, data={"name": "Once"})
    row = OutboxEvent.objects.get(name="customer.created", customer_id=customer.pk)
    envelope = events.outbox._envelope(row)
    # Delivered again straight to the engine (a receipt lost, a second worker): no second task.
    with django_capture_on_commit_callbacks(execute=True):
        engine.handle([envelope])
    assert Task.objects.filter(customer=customer).count() == 1
    assert Run.objects.filter(rule=rule).count() == 1


def test_ping_pong_on_one_customer_stops_once_per_chain(admin_user, make_rule, run_after_commit):
    a = make_rule(name="A", trigger={"event": "customer.tagged"},
                  conditions=[{"field": "tags", "op": "contains", "value": "ping"}],
                  actions=[{"type": "remove_tag", "tag": "ping"}, {"type": "add_tag", "tag": "pong"}])
    b = make_rule(name="B", trigger={"event": "customer.tagged"},
                  conditions=[{"field": "tags", "op": "contains", "value": "pong"}],
                  actions=[{"type": "remove_tag", "tag": "pong"}, {"type": "add_tag", "tag": "ping"}])
    customer = run_after_commit(customer_create, actor=admin_user, data={"name": "Loop", "tags": ["ping"]})
    acted = Run.objects.filter(status=RunStatus.SUCCEEDED).order_by("pk").values_list("rule_id", flat=True)
    assert list(acted) == [a.pk, b.pk]
    blocked = Run.objects.get(rule=a, status=RunStatus.BLOCKED)
    assert "already acted on this customer in this chain" in blocked.reason
    assert _tags(customer) == {"ping"}


def test_a_rule_loop_stops_at_the_depth_limit_with_the_reason_logged(admin_user, make_rule, run_after_commit):
    # Six rules in a ring t0 → t1 → … → t5 → t0: each acts once per chain, so only the
    # depth limit can stop the ring.
    rules = [make_rule(name=f"R{i}", trigger={"event": "customer.tagged"},
                       conditions=[{"field": "tags", "op": "contains", "value": f"t{i}"}],
                       actions=[{"type": "add_tag", "tag": f"t{(i + 1) % 6}"}]) for i in range(6)]
    customer = run_after_commit(customer_create, actor=admin_user, data={"name": "Ring", "tags": ["t0"]})
    acted = list(Run.objects.filter(status=RunStatus.SUCCEEDED).order_by("depth").values_list("rule_id", "depth"))
    assert acted == [(rules[i].pk, i) for i in range(5)]
    blocked = Run.objects.get(status=RunStatus.BLOCKED)
    assert blocked.rule_id == rules[5].pk
    assert blocked.depth == 5
    assert "causation depth limit (5)" in blocked.reason
    assert _tags(customer) == {"t0", "t1", "t2", "t3", "t4", "t5"}


def test_a_rule_that_runs_too_often_is_paused_with_the_reason(admin_user, make_rule, run_after_commit):
    rule = make_rule(trigger={"event": "customer.tagged"}, max_runs_per_hour=3,
                     actions=[{"type": "add_note", "body": "tagged"}])
    ids = [customer_create(actor=admin_user, data={"name": f"C{i}"}).pk for i in range(5)]
    run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=ids, tag_names=["x"])
    rule.refresh_from_db()
    assert rule.paused
    assert "too many runs" in rule.paused_reason
    assert Run.objects.filter(rule=rule, status=RunStatus.SUCCEEDED).count() == 3
    assert Run.objects.filter(rule=rule, status=RunStatus.BLOCKED).count() == 2
    # Paused rules do not run; switching it on again resumes it.
    from valuecrm.automation.services import rule_set_enabled

    rule = rule_set_enabled(actor=admin_user, rule=rule, enabled=True)
    assert not rule.paused


def test_a_failing_action_is_logged_and_the_others_still_act(admin_user, rep_north, make_rule,
                                                           run_after_commit):
    rule = make_rule(trigger={"event": "customer.tagged"},
                     actions=[{"type": "update_field", "field": "region", "value": "华东"},
                              {"type": "add_tag", "tag": "done"}])
    good = customer_create(actor=admin_user, data={"name": "Good"})
    bad = customer_create(actor=admin_user, data={"name": "Bad"})
    from valuecrm.customers.automation_actions import UpdateField

    original = UpdateField.apply

    def flaky(self, ctx):
        if ctx.customer_id == bad.pk:
            raise ValueError("boom")
        return original(self, ctx)

    UpdateField.apply = flaky
    try:
        run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=[good.pk, bad.pk], tag_names=["go"])
    finally:
        UpdateField.apply = original
    runs = {r.customer_id: r for r in Run.objects.filter(rule=rule)}
    assert runs[good.pk].status == RunStatus.SUCCEEDED
    assert runs[bad.pk].status == RunStatus.FAILED
    assert "boom" in runs[bad.pk].error
    assert Customer.objects.get(pk=good.pk).region == "华东"
    assert _tags(good) == {"go", "done"}
    assert _tags(bad) == {"go"}


def test_bulk_tag_with_a_rule_runs_in_constant_queries(admin_user, make_rule, run_after_commit,
                                                       django_assert_max_num_queries):
    make_rule(trigger={"event": "customer.tagged"},
              actions=[{"type": "create_task", "title": "Follow up {customer}"}, {"type": "add_tag", "tag": "b"}])
    ids = [customer_create(actor=admin_user, data={"name": f"C{i}"}).pk for i in range(60)]
    with django_assert_max_num_queries(120):
        run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=ids, tag_names=["a"])
    assert Task.objects.filter(customer_id__in=ids).count() == 60


def test_the_batch_path_gives_the_same_runs_tasks_and_tags_as_one_by_one(admin_user, rep_north, make_rule,
                                                                         run_after_commit):
    # The bench's 3 rules, on two identical groups of customers: one tagged in one bulk
    # call (one batch through the engine), the other one customer per call.
    follow = make_rule(name="follow", trigger={"event": "customer.tagged"},
                       conditions=[{"field": "tags", "op": "contains", "value": "campaign"}],
                       actions=[{"type": "create_task", "title": "Follow up {customer}"},
                                {"type": "add_tag", "tag": "followed"}])
    shanghai = make_rule(name="shanghai", trigger={"event": "customer.tagged"},
                         conditions=[{"filter": "city", "value": "上海"},
                                     {"field": "tags", "op": "contains", "value": "campaign"}],
                         actions=[{"type": "add_tag", "tag": "上海活动"}])
    never = make_rule(name="never", trigger={"event": "customer.tagged"},
                      conditions=[{"field": "tags", "op": "contains", "value": "never"}],
                      actions=[{"type": "add_tag", "tag": "x"}])
    cities = ["上海", "北京", "上海", "深圳", ""]

    def group(prefix):
        return [customer_create(actor=admin_user, data={"name": f"{prefix}{i}", "city": city,
                                                        "owner_id": rep_north.pk if i % 2 else admin_user.pk}).pk
                for i, city in enumerate(cities)]

    batch, single = group("B"), group("S")
    run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=batch, tag_names=["campaign"])
    for pk in single:
        run_after_commit(customers_bulk_tag, actor=admin_user, customer_ids=[pk], tag_names=["campaign"])

    def outcome(ids):
        out = []
        for pk in ids:
            runs = sorted(Run.objects.filter(customer_id=pk).values_list("rule__name", "status", "reason_code",
                                                                        "depth"))
            tasks = sorted(Task.objects.filter(customer_id=pk).values_list("title", "assignee_id", "created_by__username"))
            out.append((sorted(_tags(Customer(pk=pk))), runs, [(t[0][-1], *t[1:]) for t in tasks]))
        return out

    assert outcome(batch) == outcome(single)
    # And what that is, for the first two customers (上海, 北京):
    assert outcome(batch)[:2] == [
        (["campaign", "followed", "上海活动"],
         [("follow", "succeeded", "", 0), ("shanghai", "succeeded", "", 0)],
         [("0", admin_user.pk, "automation")]),
        (["campaign", "followed"],
         [("follow", "succeeded", "", 0), ("shanghai", "skipped", "audience", 0)],
         [("1", rep_north.pk, "automation")]),
    ]
    assert not Run.objects.filter(rule=never).exists()
    assert Run.objects.filter(rule__in=[follow, shanghai]).count() == 20
    assert Task.objects.count() == 10
