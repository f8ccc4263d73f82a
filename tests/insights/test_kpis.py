"""KPI definitions on a constructed customer base, with exact expectations."""

import datetime as dt

import pytest

from valuecrm.insights.services.kpis import kpis

D = dt.date


@pytest.fixture
def base(make_customer, add_orders):
    c1, c2, c3 = make_customer("c1"), make_customer("c2"), make_customer("c3")
    make_customer("prospect")
    add_orders(c1, [D(2025, 1, 10), D(2025, 6, 5)], amount=100, cost=60)
    add_orders(c2, [D(2024, 6, 20)], amount=50)
    add_orders(c3, [D(2025, 6, 10)], amount=300, cost=100)
    add_orders(c3, [D(2025, 6, 11)], amount=999, status="refunded")
    return c1, c2, c3


def test_period_metrics(base, admin_user):
    result = kpis(admin_user, "2025-06-01", "2025-06-30")
    m = {k: v["value"] for k, v in result["metrics"].items()}
    assert m["revenue"] == 400
    assert m["active_customers"] == 2          # c1, c3
    assert m["new_customers"] == 1             # c3
    assert m["churned_customers"] == 1         # c2: active before June, not at its end
    assert m["churn_rate"] == 0.5              # 1 of {c1, c2}
    assert m["retention_rate"] == 0.5
    assert m["repeat_purchase_rate"] == pytest.approx(1 / 3)
    assert m["arpu"] == 200
    assert m["average_lifetime_days"] == 60    # 1 / 0.5 periods of 30 days
    assert m["clv"] == 400                     # ARPU × lifetime
    assert m["gross_margin"] == pytest.approx(1 - 160 / 400)
    # A year-long range with the same single churn: 1 / 0.5 = 2 years, capped at 12 months.
    year = {k: v["value"] for k, v in kpis(admin_user, "2024-07-01", "2025-06-30")["metrics"].items()}
    assert year["churn_rate"] > 0
    assert year["average_lifetime_days"] == 365
    assert result["previous_period"] == {"start": D(2025, 5, 2), "end": D(2025, 5, 31)}
    assert result["metrics"]["revenue"]["previous"] == 0
    assert result["cohort_retention"] == {"cohorts": ["2025-06"], "offsets": [0], "sizes": [1], "matrix": [[1.0]]}


def test_visibility_limits_kpis(base, rep_north):
    base[0].owner = rep_north
    base[0].save()
    m = {k: v["value"] for k, v in kpis(rep_north, "2025-06-01", "2025-06-30")["metrics"].items()}
    assert (m["revenue"], m["active_customers"], m["new_customers"]) == (100, 1, 0)
