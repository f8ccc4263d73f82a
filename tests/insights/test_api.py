"""API: customer value, history, KPIs and scoring runs, with visibility and roles."""

import datetime as dt
import json

import pytest

from valuecrm.insights.models import RunStatus, ScoreRun
from valuecrm.insights.services import score_now

from .test_scoring import AS_OF, every

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def scored(make_customer, add_orders, rep_north, rep_south):
    for i in range(30):
        c = make_customer(f"bg{i}", owner=rep_south)
        add_orders(c, every(10 + 3 * i, 400 - 5 * i, (i * 11) % 90), amount=60 + 5 * i)
    mine = make_customer("Mine", owner=rep_north)
    add_orders(mine, every(30, 360, 12), amount=250)
    prospect = make_customer("No orders", owner=rep_north)
    run = score_now(as_of=AS_OF)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return {"mine": mine, "prospect": prospect, "theirs": c, "run": run}


def test_value_of_a_visible_customer(scored, rep_north, api_client_for):
    response = api_client_for(rep_north).get(f"/api/v1/customers/{scored['mine'].pk}/value")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"clv", "p_alive", "expected_purchases_90d", "churn_risk", "rfm", "tier", "stage",
                         "next_best_action", "value_at_risk", "as_of"}
    assert body["as_of"] == AS_OF.isoformat()
    assert body["stage"] == "growing"
    assert set(body["rfm"]) == {"r", "f", "m", "segment"}
    assert 0 < body["p_alive"] <= 1
    assert body["next_best_action"]["code"] == "cross_sell"
    assert body["next_best_action"]["text"] == "Recommend related products and invite to the loyalty programme"
    assert body["next_best_action"]["reason"] == "12 orders; usually orders every 30 days"


def test_value_of_an_invisible_customer_is_404(scored, rep_north, api_client_for):
    response = api_client_for(rep_north).get(f"/api/v1/customers/{scored['theirs'].pk}/value")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    history = api_client_for(rep_north).get(f"/api/v1/customers/{scored['theirs'].pk}/value/history")
    assert history.status_code == 404


def test_prospect_value_and_history(scored, rep_north, api_client_for):
    client = api_client_for(rep_north)
    body = client.get(f"/api/v1/customers/{scored['prospect'].pk}/value").json()
    assert (body["stage"], body["p_alive"], body["clv"], body["next_best_action"]["code"]) == (
        "prospect", None, "0.00", "first_purchase_offer")
    score_now(as_of=AS_OF + dt.timedelta(days=7))
    history = client.get(f"/api/v1/customers/{scored['mine'].pk}/value/history").json()
    assert [p["as_of"] for p in history["points"]] == [AS_OF.isoformat(), (AS_OF + dt.timedelta(days=7)).isoformat()]
    assert history["stage_path"][0] == {"from_stage": "", "to_stage": "growing", "changed_on": AS_OF.isoformat()}


def test_unscored_customer_is_404(make_customer, rep_north, api_client_for):
    c = make_customer("Fresh", owner=rep_north)
    assert api_client_for(rep_north).get(f"/api/v1/customers/{c.pk}/value").status_code == 404


def test_kpis(scored, admin_user, api_client_for):
    client = api_client_for(admin_user)
    response = client.get("/api/v1/kpis", {"start": "2025-06-01", "end": "2025-06-30"})
    assert response.status_code == 200
    body = response.json()
    assert body["period"]["days"] == 30
    assert body["previous_period"] == {"start": "2025-05-02", "end": "2025-05-31"}
    assert body["metrics"]["active_customers"]["value"] == 31
    assert {row["stage"]: row["count"] for row in body["lifecycle_funnel"]}["prospect"] == 1
    assert body["equity"]["current"] == pytest.approx(float(scored["run"].customer_equity), abs=0.01)
    bad = client.get("/api/v1/kpis", {"start": "2025-07-01", "end": "2025-06-01"})
    assert bad.status_code == 422
    assert list(bad.json()["errors"]) == ["start"]


def test_kpis_respect_visibility(scored, rep_north, api_client_for):
    body = api_client_for(rep_north).get("/api/v1/kpis", {"start": "2025-06-01", "end": "2025-06-30"}).json()
    assert body["metrics"]["active_customers"]["value"] == 1
    assert sum(row["count"] for row in body["lifecycle_funnel"]) == 2


def test_only_admins_and_analysts_start_runs(db, rep_north, analyst, api_client_for):
    denied = api_client_for(rep_north).post("/api/v1/score-runs", json.dumps({}), content_type="application/json")
    assert denied.status_code == 403
    assert ScoreRun.objects.count() == 0
    future = api_client_for(analyst).post("/api/v1/score-runs", json.dumps({"as_of": "2999-01-01"}),
                                          content_type="application/json")
    assert future.status_code == 422
    assert list(future.json()["errors"]) == ["as_of"]
    bad_unit = api_client_for(analyst).post("/api/v1/score-runs", json.dumps({"unit": "Y"}),
                                            content_type="application/json")
    assert bad_unit.status_code == 422
    assert ScoreRun.objects.count() == 0


def test_analyst_queues_a_run_and_lists_runs(scored, analyst, api_client_for, huey_immediate,
                                            django_capture_on_commit_callbacks):
    client = api_client_for(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/score-runs", json.dumps({"as_of": AS_OF.isoformat()}),
                               content_type="application/json")
    assert response.status_code == 202
    run_id = response.json()["id"]
    # the worker runs inline here (huey_immediate)
    assert ScoreRun.objects.get(pk=run_id).status == RunStatus.SUCCEEDED
    runs = client.get("/api/v1/score-runs").json()
    assert runs[0]["id"] == run_id
    assert runs[0]["transaction_model"] in ("bgnbd", "paretonbd")
