"""Value dashboard, CSV exports, run-scoring button and model report pages."""

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone

from valuecrm.insights.dashboard import dashboard, tier_breakdown
from valuecrm.insights.models import RunStatus, ScoreRun
from valuecrm.insights.services import score_now
from valuecrm.insights.services.kpis import kpis

TODAY = timezone.localdate()


def days_ago(*days):
    return [TODAY - dt.timedelta(days=d) for d in days]


@pytest.fixture
def scored_shop(make_customer, add_orders, rep_north, rep_south):
    """36 buyers with varied rhythms (12 owned by rep_north, 24 by rep_south), 2 prospects, scored today."""
    customers = []
    for i in range(36):
        owner = rep_north if i % 3 == 0 else rep_south
        c = make_customer(f"buyer{i}", owner=owner, acquisition_channel="wechat" if i % 2 else "store",
                          acquisition_cost=20 + i)
        step = 9 + 4 * i
        add_orders(c, [TODAY - dt.timedelta(days=d) for d in range(400 - 6 * i, (i * 11) % 150 - 1, -step)],
                   amount=60 + 15 * i, cost=25 + 5 * i)
        customers.append(c)
    make_customer("prospect-n", owner=rep_north)
    make_customer("prospect-s", owner=rep_south)
    run = score_now(as_of=TODAY)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return customers


def _zh(client):
    client.cookies["django_language"] = "zh-hans"
    return client


def test_dashboard_renders_in_english(client, admin_user, scored_shop):
    client.force_login(admin_user)
    response = client.get("/value/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Customer value", "Customer equity over time", "Lifecycle funnel", "RFM map",
                 "Cohort retention", "CAC and LTV:CAC by acquisition channel", "Run scoring now",
                 "Last 90 days", "Repeat purchase rate"):
        assert text in html, text
    assert 'data-run-status="succeeded"' in html


def test_dashboard_renders_in_chinese(client, admin_user, scored_shop):
    admin_user.language = "zh-hans"
    admin_user.save(update_fields=["language"])
    client.force_login(admin_user)
    html = client.get("/value/").content.decode()
    for text in ("客户价值", "客户资产趋势", "生命周期漏斗", "RFM 分布", "同期群留存", "立即运行评分", "最近 90 天", "复购率"):
        assert text in html, text
    assert "Customer equity over time" not in html


def test_report_renders_in_both_languages(client, admin_user, scored_shop):
    client.force_login(admin_user)
    html = client.get("/value/model/").content.decode()
    run = ScoreRun.objects.get()
    assert "Fitted parameters" in html
    assert "BG/NBD vs Pareto/NBD on the holdout" in html
    assert "Churn-risk calibration" in html
    assert f'<a href="?run={run.pk}">{run.pk}</a>' in html
    for name in run.model_params:
        assert f"<code>{name}</code>" in html
    admin_user.language = "zh-hans"
    admin_user.save(update_fields=["language"])
    html = client.get("/value/model/").content.decode()
    assert "模型报告" in html
    assert "拟合参数" in html
    assert "流失风险校准" in html


def test_report_without_runs_explains_itself(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/value/model/")
    assert response.status_code == 200
    assert "No successful scoring run yet." in response.content.decode()
    assert client.get("/value/model/?run=abc").status_code == 400
    assert client.get("/value/model/?run=999").status_code == 404


def test_click_through_urls_carry_the_filter(admin_user, scored_shop):
    data = dashboard(admin_user)
    charts = data["charts"]
    assert [t["url"] for t in charts["tiers"]["items"]] == [
        "/customers/?tier=A", "/customers/?tier=B", "/customers/?tier=C", "/customers/?tier=N"]
    funnel = {s["stage"]: s["url"] for s in charts["funnel"]["items"]}
    assert funnel["at_risk"] == "/customers/?stage=at_risk"
    # Each RFM cell opens exactly its own customers (not its whole segment).
    from valuecrm.customers.models import Customer
    from valuecrm.insights.selectors import apply_value_filters

    assert charts["rfm"]["cells"]
    for cell in charts["rfm"]["cells"]:
        assert cell["url"] == f"/customers/?r_score={cell['r']}&f_score={cell['f']}"
        listed = apply_value_filters(Customer.objects.all(), {"r_score": str(cell["r"]), "f_score": str(cell["f"])})
        assert listed.count() == cell["count"]
    first_bin = charts["clv_histogram"]["bins"][0]
    assert first_bin["url"] == f"/customers/?clv_min={first_bin['from']}&clv_max={first_bin['to']}"
    channels = {c["channel"]: c["url"] for c in charts["cac"]["items"]}
    start = data["kpis"]["period"]["start"].isoformat()
    end = data["kpis"]["period"]["end"].isoformat()
    assert channels["wechat"] == f"/customers/?channel=wechat&created_from={start}&created_to={end}"


def test_dashboard_page_embeds_the_click_through_urls(client, admin_user, scored_shop):
    client.force_login(admin_user)
    html = client.get("/value/").content.decode()
    start = html.index('id="vc-data-tiers"')
    payload = json.loads(html[html.index(">", start) + 1: html.index("</script>", start)])
    assert payload["items"][0]["url"] == "/customers/?tier=A"


def _csv(response):
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_kpi_csv_matches_the_kpi_selector(client, admin_user, scored_shop):
    client.force_login(admin_user)
    start, end = TODAY - dt.timedelta(days=89), TODAY
    response = client.get(f"/value/export/kpis.csv?start={start}&end={end}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv(response)
    assert rows[0] == ["Metric", "Key", "Period", "Previous period", "Change"]
    by_key = {row[1]: row for row in rows[1:]}
    expected = kpis(admin_user, start, end)
    assert by_key["period"][2] == f"{start}..{end}"
    assert int(by_key["active_customers"][2]) == expected["metrics"]["active_customers"]["value"]
    assert int(by_key["new_customers"][2]) == expected["metrics"]["new_customers"]["value"]
    assert int(by_key["churned_customers"][2]) == expected["metrics"]["churned_customers"]["value"]
    assert float(by_key["arpu"][2]) == pytest.approx(expected["metrics"]["arpu"]["value"], abs=0.005)
    assert float(by_key["repeat_purchase_rate"][2]) == pytest.approx(
        expected["metrics"]["repeat_purchase_rate"]["value"], rel=1e-5)


def test_tier_csv_matches_the_tier_breakdown(client, admin_user, scored_shop):
    client.force_login(admin_user)
    rows = _csv(client.get("/value/export/tiers.csv"))
    assert rows[0] == ["Tier", "Name", "Customers", "Predicted CLV"]
    expected = tier_breakdown(admin_user)
    assert [(r[0], int(r[2])) for r in rows[1:]] == [(t["tier"], t["count"]) for t in expected]
    assert sum(int(r[2]) for r in rows[1:]) == 38


def test_csv_rejects_a_bad_range_naming_the_field(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/value/export/kpis.csv?start=2025-13-01")
    assert response.status_code == 400
    assert response.content.decode().startswith("start: ")
    assert client.get("/value/export/nope.csv").status_code == 404


def test_dashboard_with_a_bad_range_falls_back_and_says_so(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/value/?start=2025-02-30&end=2025-03-01")
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-range-errors" in html
    assert "<code>start</code>" in html


def test_rep_dashboard_counts_only_their_customers(client, rep_north, admin_user, scored_shop):
    assert sum(t["count"] for t in tier_breakdown(admin_user)) == 38
    assert sum(t["count"] for t in tier_breakdown(rep_north)) == 13  # 12 buyers + 1 prospect
    mine = kpis(rep_north, TODAY - dt.timedelta(days=364), TODAY)["metrics"]["active_customers"]["value"]
    everyone = kpis(admin_user, TODAY - dt.timedelta(days=364), TODAY)["metrics"]["active_customers"]["value"]
    assert 0 < mine <= 12 < everyone
    client.force_login(rep_north)
    html = client.get("/value/").content.decode()
    assert "These numbers count only the customers you can see." in html
    assert 'data-action="run-scoring"' not in html
    rows = _csv(client.get(f"/value/export/kpis.csv?start={TODAY - dt.timedelta(days=364)}&end={TODAY}"))
    assert int({r[1]: r for r in rows}["active_customers"][2]) == mine
    tiers = _csv(client.get("/value/export/tiers.csv"))
    assert sum(int(r[2]) for r in tiers[1:]) == 13


def test_rep_cannot_run_scoring(client, rep_north, scored_shop):
    client.force_login(rep_north)
    before = ScoreRun.objects.count()
    response = client.post("/value/score/")
    assert response.status_code == 403
    assert ScoreRun.objects.count() == before


def test_analyst_runs_scoring_from_the_dashboard(client, analyst, scored_shop, huey_immediate,
                                                 django_capture_on_commit_callbacks):
    client.force_login(analyst)
    html = client.get("/value/").content.decode()
    assert 'data-action="run-scoring"' in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/value/score/", {"next": "/value/?range=90"})
    assert response.status_code == 302
    assert response["Location"] == "/value/?range=90"
    newest = ScoreRun.objects.order_by("-id").first()
    assert newest.requested_by == analyst
    # Huey runs inline in tests, so the task enqueued after commit has executed the run.
    assert newest.status == RunStatus.SUCCEEDED, newest.error


def test_run_scoring_refuses_while_a_run_is_running(client, admin_user):
    from django.utils import timezone

    from valuecrm.common import heartbeat

    # A live worker (this process) works on it; a dead worker's run would not block.
    ScoreRun.objects.create(as_of=TODAY, status=RunStatus.RUNNING, worker=heartbeat.worker_name(),
                            heartbeat_at=timezone.now())
    client.force_login(admin_user)
    response = client.post("/value/score/", follow=True)
    assert response.status_code == 200
    assert "A scoring run is already running." in response.content.decode()
    assert ScoreRun.objects.count() == 1


def test_run_status_partial_polls_while_running(client, admin_user):
    from django.utils import timezone

    from valuecrm.common import heartbeat

    ScoreRun.objects.create(as_of=TODAY, status=RunStatus.RUNNING, progress=40, current_step="churn",
                            worker=heartbeat.worker_name(), heartbeat_at=timezone.now())
    client.force_login(admin_user)
    html = client.get("/value/status/").content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert "40%" in html


def test_pages_need_login(client):
    for url in ("/value/", "/value/model/", "/value/export/kpis.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


# ----------------------------------------------------------------------------- customer list
def test_list_filters_by_value_fields(client, admin_user, scored_shop):
    from valuecrm.insights.models import CustomerValue

    client.force_login(admin_user)
    tier_a = set(CustomerValue.objects.filter(tier="A").values_list("customer__name", flat=True))
    html = client.get("/customers/?tier=A").content.decode()
    shown = {c.name for c in scored_shop if f">{c.name}</a>" in html}
    assert shown == tier_a
    assert '<span class="vc-chip-label">Value tier:</span> <span>A</span>' in html


def test_list_reports_a_bad_value_filter_by_name(client, admin_user, scored_shop):
    client.force_login(admin_user)
    response = client.get("/customers/?tier=Z&churn_risk_min=2")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<code>tier</code>: Unknown value(s): Z." in html
    assert "<code>churn_risk_min</code>: Enter a number between 0 and 1." in html


def test_list_sorts_by_clv_across_keyset_pages(admin_user, scored_shop):
    from valuecrm.customers.selectors import customer_list
    from valuecrm.insights.models import CustomerValue

    expected = list(CustomerValue.objects.order_by("-clv", "-customer_id").values_list("customer_id", flat=True))
    seen, after = [], None
    while True:
        rows, after = customer_list(user=admin_user, sort="-clv", after=after, limit=7)
        seen.extend(r.pk for r in rows)
        if after is None:
            break
    assert seen == expected


def test_list_sorts_by_churn_risk_with_unscored_last(admin_user, scored_shop, make_customer):
    from valuecrm.customers.selectors import customer_list

    late = make_customer("not scored")
    rows, _ = customer_list(user=admin_user, sort="-churn_risk", limit=100)
    risks = [getattr(getattr(r, "value", None), "churn_risk", None) if r.pk != late.pk else None for r in rows]
    known = [r for r in risks if r is not None]
    assert len(known) == 36
    # scored buyers first, highest risk first; then prospects and the unscored customer
    assert risks[:36] == sorted(known, reverse=True)
    assert {r.name for r in rows[36:]} == {"not scored", "prospect-n", "prospect-s"}


def test_list_offers_value_presets_columns_and_sorts(client, admin_user, scored_shop):
    from valuecrm.insights.models import CustomerValue

    client.force_login(admin_user)
    html = client.get("/customers/").content.decode()
    assert 'href="/customers/?preset=high_value_at_risk&amp;sort=-value_at_risk"' in html
    assert 'data-preset="champions"' in html
    assert 'value="clv" id="col-clv"' in html
    assert '<option value="-clv">CLV (highest)</option>' in html
    client.post("/customers/columns/", {"columns": ["name", "clv", "tier"]})
    html = client.get("/customers/?preset=win_back_candidates&sort=-clv").content.decode()
    expected = CustomerValue.objects.filter(stage="churned", is_value_customer=True).count()
    assert html.count('data-vc-select-row') == expected
    assert "Win-back candidates" in html


def test_list_export_carries_value_columns(client, admin_user, scored_shop):
    from valuecrm.insights.models import CustomerValue

    client.force_login(admin_user)
    response = client.get("/customers/export.csv?tier=A&sort=-clv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    clv_at = header.index("CLV")
    tier_at = header.index("Value tier")
    expected = list(CustomerValue.objects.filter(tier="A").order_by("-clv", "-customer_id")
                    .values_list("customer_id", "clv"))
    assert [(int(r[0]), r[clv_at], r[tier_at]) for r in rows[1:]] == [
        (pk, f"{clv:.2f}", "A") for pk, clv in expected]
