"""Scoring runs end to end on constructed customers: stages, alerts, idempotence, failures, events."""

import datetime as dt

import pytest

from valuecrm.insights.models import (
    CustomerScore,
    CustomerValue,
    RunStatus,
    ScoreRun,
    StageChange,
    ValueAlert,
    WarningPolicy,
)
from valuecrm.insights.services import score_now

AS_OF = dt.date(2025, 6, 30)


def every(days_apart, first_ago, last_ago, as_of=AS_OF):
    """Order days every `days_apart` days from `first_ago` down to `last_ago` days before as_of."""
    return [as_of - dt.timedelta(days=d) for d in range(first_ago, last_ago - 1, -days_apart)]


@pytest.fixture
def shop(make_customer, add_orders, rep_north):
    """40 background buyers with varied rhythms, plus named customers for exact checks."""
    for i in range(40):
        c = make_customer(f"bg{i}")
        add_orders(c, every(9 + 3 * i, 420 - 5 * i, (i * 13) % 120), amount=50 + 10 * i, cost=20 + 4 * i)
    named = {
        "prospect": make_customer("Prospect"),
        "cancelled": make_customer("Only cancelled"),
        "newbie": make_customer("Newbie"),
        "steady": make_customer("Steady", owner=rep_north),
    }
    add_orders(named["cancelled"], [AS_OF - dt.timedelta(days=10)], status="cancelled")
    add_orders(named["newbie"], [AS_OF - dt.timedelta(days=20)])
    # every 21 days for 294 days; the last order 94 days ago
    add_orders(named["steady"], every(21, 388, 94), amount=900, cost=300)
    return named


def test_run_scores_every_customer_with_stages(shop):
    run = score_now(as_of=AS_OF)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.n_customers == 44
    assert run.n_buyers == 42
    assert CustomerValue.objects.count() == 44
    assert CustomerScore.objects.filter(run=run).count() == 44
    values = {v.customer_id: v for v in CustomerValue.objects.all()}
    prospect = values[shop["prospect"].pk]
    assert (prospect.stage, prospect.p_alive, prospect.clv, prospect.next_best_action) == (
        "prospect", None, 0, "first_purchase_offer")
    assert values[shop["cancelled"].pk].stage == "prospect"
    newbie = values[shop["newbie"].pk]
    assert (newbie.stage, newbie.n_orders, newbie.next_best_action) == ("new", 1, "second_purchase_nudge")
    steady = values[shop["steady"].pk]
    assert steady.n_orders == 15
    assert steady.interval_days == 21.0
    # Quiet for 4.5 × their rhythm, but this small shop's model still expects a purchase:
    # the stage stays and the reason says "slowing down" (at risk needs the model to agree).
    assert steady.churn_risk < 0.5
    assert steady.stage == "loyal"
    assert (steady.nba_reason["code"], steady.nba_reason["signal"], steady.nba_reason["gap_days"],
            steady.nba_reason["interval_days"]) == ("slowing_expected", "gap", 94, 21)
    assert steady.nba_reason["p_purchase"] == pytest.approx(1 - steady.churn_risk, abs=0.001)
    assert run.consistency["total"]["unexplained"] == 0
    assert steady.historical_revenue == 13500
    assert steady.historical_margin == 9000  # own costs known: 2/3 margin
    assert float(steady.value_at_risk) == pytest.approx(float(steady.clv) * steady.churn_risk, abs=0.01)
    assert run.transaction_model in ("bgnbd", "paretonbd")
    assert set(run.model_params) >= {"r", "alpha"}
    assert run.clv_basis == "margin"
    assert float(run.customer_equity) == pytest.approx(sum(float(v.clv) for v in values.values()), abs=0.05)
    assert StageChange.objects.filter(run=run, from_stage="").count() == 44


def test_at_risk_when_the_model_agrees(shop):
    from valuecrm.insights.models import LifecycleRules

    rules = LifecycleRules.current()
    rules.at_risk_min_churn_risk = 0.0  # any model risk agrees
    rules.save()
    run = score_now(as_of=AS_OF)
    steady = CustomerValue.objects.get(customer=shop["steady"])
    assert (steady.stage, steady.nba_reason["code"]) == ("at_risk", "gap")
    assert run.consistency["total"]["unexplained"] == 0


def test_stage_changed_events_are_delivered_after_commit(shop, add_orders, event_recorder,
                                                         django_capture_on_commit_callbacks):
    from valuecrm.common.models import OutboxEvent

    seen = event_recorder("customer.stage_changed")
    finished = event_recorder("score_run.finished")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = score_now(as_of=AS_OF)
    assert seen == finished == []  # nothing delivered before commit
    for callback in callbacks:
        callback()
    # first classification: no per-customer transition events, only the run's end
    assert seen == []
    assert [(e.event.run_id, e.event.n_customers) for e in finished] == [(run.pk, 44)]
    assert OutboxEvent.objects.filter(name="customer.stage_changed").count() == 0

    # the newbie buys again: a real transition, announced once, with its tier and risk
    add_orders(shop["newbie"], [AS_OF + dt.timedelta(days=3)])
    later = AS_OF + dt.timedelta(days=5)
    with django_capture_on_commit_callbacks(execute=True):
        score_now(as_of=later)
    transitions = [(e.event.customer_id, e.event.from_stage, e.event.to_stage, e.event.changed_on)
                   for e in seen]
    assert (shop["newbie"].pk, "new", "growing", later.isoformat()) in transitions
    newbie = next(e.event for e in seen if e.event.customer_id == shop["newbie"].pk)
    # two orders 8 days apart, first 25 days ago: too little history to rank
    assert newbie.tier == "N" and 0 <= newbie.churn_risk <= 1
    # rescoring the same day replaces the snapshot but does not announce again
    count = len(seen)
    with django_capture_on_commit_callbacks(execute=True):
        score_now(as_of=later)
    assert len(seen) == count
    assert len(finished) == 3


def test_same_as_of_twice_gives_the_same_scores_and_replaces_the_snapshot(shop):
    first = score_now(as_of=AS_OF)
    fields = ["customer_id", "clv", "p_alive", "churn_risk", "tier", "stage", "segment", "r_score",
              "f_score", "m_score", "next_best_action", "value_reasons"]
    before = list(CustomerScore.objects.filter(run=first).order_by("customer_id").values_list(*fields))
    second = score_now(as_of=AS_OF)
    first.refresh_from_db()
    assert first.status == RunStatus.SUPERSEDED
    assert CustomerScore.objects.filter(run=first).count() == 0
    after = list(CustomerScore.objects.filter(run=second).order_by("customer_id").values_list(*fields))
    assert after == before
    assert CustomerValue.objects.filter(run=second).count() == 44
    assert StageChange.objects.count() == 44  # the first run's changes went with its snapshot


def test_a_failed_run_leaves_the_previous_scores(shop, monkeypatch):
    good = score_now(as_of=AS_OF)
    current = list(CustomerValue.objects.order_by("customer_id").values_list("customer_id", "clv", "run_id"))

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    # fail during the final write, after snapshots would have been inserted
    monkeypatch.setattr("valuecrm.insights.services.warnings.apply", boom)
    bad = score_now(as_of=AS_OF + dt.timedelta(days=7))
    assert bad.status == RunStatus.FAILED
    assert bad.error == "RuntimeError: disk on fire"
    assert CustomerScore.objects.filter(run=bad).count() == 0
    assert StageChange.objects.filter(run=bad).count() == 0
    assert list(CustomerValue.objects.order_by("customer_id").values_list("customer_id", "clv", "run_id")) == current
    assert all(row[2] == good.pk for row in current)

    # resuming the failed run once the problem is gone completes it
    monkeypatch.undo()
    from valuecrm.insights.services import score_run_execute

    resumed = score_run_execute(bad.pk)
    assert resumed.status == RunStatus.SUCCEEDED
    assert CustomerValue.objects.filter(run=bad).count() == 44


def test_model_failure_is_recorded(shop, monkeypatch):
    def not_converging(*args, **kwargs):
        raise ValueError("BetaGeo did not converge")

    monkeypatch.setattr("valuecrm.insights.services.fitting.fit_purchase_model", not_converging)
    run = score_now(as_of=AS_OF)
    assert (run.status, run.error) == (RunStatus.FAILED, "ValueError: BetaGeo did not converge")
    assert CustomerValue.objects.count() == 0


def test_slowing_alert_once_per_episode_with_a_task_for_the_owner(shop, add_orders, rep_north,
                                                                 django_capture_on_commit_callbacks):
    # The owner's task comes from the default automation rule, after the run commits.
    from valuecrm.automation.defaults import ensure_default_rules

    ensure_default_rules()
    policy = WarningPolicy.current()
    policy.tiers = "ABC"
    policy.p_alive_threshold = 0.0  # only the rhythm rule, for an exact reason text
    policy.spend_drop = 1.0
    policy.task_due_days = 3
    policy.save()
    with django_capture_on_commit_callbacks(execute=True):
        score_now(as_of=AS_OF)
    alerts = ValueAlert.objects.filter(customer=shop["steady"])
    assert alerts.count() == 1
    alert = alerts.get()
    assert alert.kind == "slowing"
    assert alert.reason == "last order 94 days ago; usually orders every 21 days"
    assert alert.episode_key == f"silence:{AS_OF - dt.timedelta(days=94)}"
    assert alert.task.assignee == rep_north
    assert alert.task.description == alert.reason
    assert alert.task.customer_id == shop["steady"].pk
    assert not alert.task.done
    assert alert.task.title.startswith("Value alert: ")
    assert dt.timedelta(days=2, hours=23) < alert.task.due_at - alert.created_at <= dt.timedelta(days=3, hours=1)

    # a week later, still silent: the same episode, no second alert or task
    with django_capture_on_commit_callbacks(execute=True):
        score_now(as_of=AS_OF + dt.timedelta(days=7))
    assert ValueAlert.objects.filter(customer=shop["steady"]).count() == 1
    assert shop["steady"].tasks.count() == 1

    # an order ends the episode: the alert is resolved
    add_orders(shop["steady"], [AS_OF + dt.timedelta(days=10)], amount=900)
    score_now(as_of=AS_OF + dt.timedelta(days=14))
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert ValueAlert.objects.filter(customer=shop["steady"]).count() == 1


def test_alerts_only_for_configured_tiers(shop):
    policy = WarningPolicy.current()
    policy.tiers = ""
    policy.save()
    run = score_now(as_of=AS_OF)
    assert run.n_alerts == 0
    assert ValueAlert.objects.count() == 0


def test_reactivated_after_at_risk(shop, add_orders):
    from valuecrm.insights.models import LifecycleRules

    rules = LifecycleRules.current()
    rules.at_risk_min_churn_risk = 0.0  # this small shop's model never agrees otherwise
    rules.save()
    score_now(as_of=AS_OF)
    steady = CustomerValue.objects.get(customer=shop["steady"])
    assert steady.stage in ("at_risk", "churned")
    add_orders(shop["steady"], [AS_OF + dt.timedelta(days=3)], amount=900)
    score_now(as_of=AS_OF + dt.timedelta(days=5))
    steady = CustomerValue.objects.get(customer=shop["steady"])
    assert (steady.stage, steady.stage_since) == ("reactivated", AS_OF + dt.timedelta(days=5))
    change = StageChange.objects.filter(customer=shop["steady"]).order_by("-changed_on").first()
    assert change.to_stage == "reactivated"


def test_future_as_of_is_rejected(db):
    from valuecrm.common.errors import ValidationFailed
    from valuecrm.insights.services import score_run_create

    with pytest.raises(ValidationFailed) as info:
        score_run_create(as_of="2999-01-01")
    assert list(info.value.errors) == ["as_of"]
    with pytest.raises(ValidationFailed) as info:
        score_run_create(as_of="yesterday", unit="Y")
    assert set(info.value.errors) == {"as_of", "unit"}
    assert ScoreRun.objects.count() == 0


def test_a_failing_subscriber_does_not_fail_a_committed_run(shop, event_recorder,
                                                           django_capture_on_commit_callbacks):
    from valuecrm.common.models import OutboxEvent

    event_recorder("score_run.finished", fail=True)
    finished = event_recorder("score_run.finished")
    with django_capture_on_commit_callbacks(execute=True):
        run = score_now(as_of=AS_OF)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert len(finished) == 1  # the healthy subscriber still got it
    row = OutboxEvent.objects.get(name="score_run.finished")
    assert row.dispatched_at is None and "subscriber bug" in row.last_error  # the sweep retries it


def test_customers_deleted_or_merged_mid_run_are_skipped_and_counted(shop, monkeypatch, admin_user):
    """Deleting any customer while scoring ran used to fail the whole run (FK error)."""
    from valuecrm.customers.models import Customer
    from valuecrm.duplicates.merge import customer_merge
    from valuecrm.insights.services import scoring

    real_compute = scoring._compute

    def compute_then_others_change_things(run, tracker, *engine_and_orders):
        result = real_compute(run, tracker, *engine_and_orders)
        shop["prospect"].delete()  # someone deletes a customer while the run computes
        customer_merge(actor=admin_user, survivor=Customer.objects.get(name="bg1"),
                       merged=Customer.objects.get(name="bg0"))
        return result

    monkeypatch.setattr(scoring, "_compute", compute_then_others_change_things)
    run = score_now(as_of=AS_OF)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.n_skipped_gone == 2
    assert CustomerValue.objects.count() == CustomerScore.objects.filter(run=run).count() == 42
    assert not CustomerValue.objects.filter(customer__name__in=["Prospect", "bg0"]).exists()
    assert not StageChange.objects.filter(run=run, customer_id=shop["prospect"].pk).exists()


def test_the_report_shows_how_many_customers_went_away_during_a_run(shop, client, admin_user):
    run = score_now(as_of=AS_OF)
    ScoreRun.objects.filter(pk=run.pk).update(n_skipped_gone=3)
    client.force_login(admin_user)
    page = client.get("/value/model/").content.decode()
    assert "3 gone during the run" in page
    assert "3 customers deleted or merged during the run were skipped" in page
