"""Value dashboard and model report on a scored demo shop, in both languages and themes.

The shop is the demo generator's (800 customers, fixed seed: enough buyers for the
churn classifier's evaluation) scored twice, 30 days apart, so the charts that compare
runs (equity over time, stage flow) have data too.
"""

import datetime as dt

import pytest
from django.db.models import Count, Q
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import chart_containers_rendered, open_page

LOOKS = [("en", "light"), ("zh-hans", "light"), ("zh-hans", "dark"), ("en", "dark")]

DASHBOARD_CHARTS = {"vc-data-equity", "vc-data-tiers", "vc-data-clv_histogram", "vc-data-funnel",
                    "vc-data-stage_flow", "vc-data-rfm", "vc-data-cohorts", "vc-data-cac"}
REPORT_CHARTS = {"vc-data-tracking", "vc-data-comparison", "vc-data-calibration"}


@pytest.fixture
def scored_demo_shop(transactional_db):
    from valuecrm.demo.generate import demo_generate
    from valuecrm.insights.models import RunStatus
    from valuecrm.insights.services import score_now

    demo_generate(customers=800, seed=42)
    today = timezone.localdate()
    for as_of in (today - dt.timedelta(days=30), today):
        run = score_now(as_of=as_of)
        assert run.status == RunStatus.SUCCEEDED, run.error


def wait_for_charts(pg):
    """Until charts.js has handled every container: drawn it, or shown its empty message."""
    pg.wait_for_function("[...document.querySelectorAll('[data-vc-chart]')].every("
                         "el => el.querySelector('canvas, svg') || el.classList.contains('vc-chart-empty'))")


def stage_colours(pg):
    """{stage label: colour} as drawn by the lifecycle funnel and by the stage-flow Sankey."""
    return pg.evaluate("""() => {
      const option = key => echarts.getInstanceByDom(document.querySelector(`[data-vc-chart="${key}"]`)).getOption();
      const funnel = option("funnel");
      const labels = funnel.yAxis[0].data;
      const bars = Object.fromEntries(funnel.series[0].data.map((d, i) => [labels[i], d.itemStyle.color]));
      const nodes = {};
      for (const n of option("stage_flow").series[0].data) nodes[n.name.replace("\u200b", "")] = n.itemStyle.color;
      return {funnel: bars, flow: nodes};
    }""")


def set_look(user, language, theme):
    from valuecrm.accounts.services import user_preferences_update

    user_preferences_update(user=user, language=language, theme=theme)


def short(language):
    return "zh" if language.startswith("zh") else "en"


def test_value_pages_draw_every_chart_in_both_languages_and_themes(page, live_server, login, shoot,
                                                                   admin_user, scored_demo_shop):
    from valuecrm.customers.models import Customer

    base = live_server.url
    # The richest person record: most orders, then the lowest id.
    star = (Customer.objects.filter(kind="person").annotate(n=Count("orders", filter=Q(orders__status="paid")))
            .order_by("-n", "pk").first())
    login(page, "root")

    for language, theme in LOOKS:
        set_look(admin_user, language, theme)
        suffix = f"{short(language)}-{theme}"

        open_page(page, f"{base}/value/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        expect(page.locator("h1.vc-page-title")).to_have_text("Customer value" if language == "en" else "客户价值")
        wait_for_charts(page)
        assert chart_containers_rendered(page) == dict.fromkeys(DASHBOARD_CHARTS, True)
        colours = stage_colours(page)
        assert len(set(colours["funnel"].values())) == len(colours["funnel"])  # one colour per stage
        shared = colours["funnel"].keys() & colours["flow"].keys()
        assert shared, colours
        # A stage is the same colour in the funnel and in the flow next to it.
        assert {k: colours["flow"][k] for k in shared} == {k: colours["funnel"][k] for k in shared}
        shoot(page, f"value-dashboard-{suffix}")

        open_page(page, f"{base}/value/model/")
        wait_for_charts(page)
        assert chart_containers_rendered(page) == dict.fromkeys(REPORT_CHARTS, True)
        shoot(page, f"model-report-{suffix}")

        # The same shop through the customer pages: a full list and a record with its value card.
        open_page(page, f"{base}/customers/")
        expect(page.locator("#vc-results tbody tr")).to_have_count(50)
        shoot(page, f"customer-list-demo-{suffix}")
        if suffix == "en-light":  # the README's picture: what fits on one screen
            shoot(page, "customer-list-en", full_page=False)
        open_page(page, f"{base}/customers/{star.pk}/")
        expect(page.locator("h1.vc-page-title")).to_contain_text(star.name)
        shoot(page, f"customer-detail-demo-{suffix}")
        if suffix == "zh-light":
            shoot(page, "customer-detail-zh", full_page=False)
