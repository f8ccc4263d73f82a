"""CLV: model-based discounted sum, simple ARPU × CLT, customer equity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine.clv import customer_equity, customer_lifetime_value, simple_clv
from valuecrm.engine.models import BetaGeo, GammaGamma


@pytest.fixture(scope="module")
def cdnow_models(cdnow_summary):
    s = cdnow_summary
    bg = BetaGeo().fit(s["frequency"], s["recency"], s["T"])
    repeaters = s[s["frequency"] > 0]
    gg = GammaGamma().fit(repeaters["frequency"], repeaters["monetary_value"])
    return bg, gg


def test_clv_equals_the_discounted_monthly_sum(cdnow_summary, cdnow_models):
    bg, gg = cdnow_models
    s = cdnow_summary.head(50)
    args = (s["frequency"], s["recency"], s["T"])
    clv = customer_lifetime_value(
        bg, gg, *args, s["monetary_value"], horizon_months=6, discount_rate_monthly=0.02,
        margin=0.3, time_unit_days=7,
    )  # fmt: skip
    spend = gg.expected_spend(s["frequency"], s["monetary_value"])
    expected = np.zeros(len(s))
    for month in range(1, 7):
        now = bg.expected_purchases(month * 30 / 7, *args)
        before = bg.expected_purchases((month - 1) * 30 / 7, *args)
        expected += (now - before) * spend * 0.3 / 1.02**month
    np.testing.assert_allclose(clv, expected, rtol=1e-10)


def test_clv_with_given_spend_and_customer_equity(cdnow_summary, cdnow_models):
    bg, _ = cdnow_models
    s = cdnow_summary
    clv = customer_lifetime_value(bg, 35.0, s["frequency"], s["recency"], s["T"])
    assert clv.shape == (2357,)
    assert np.all(clv >= 0)
    assert customer_equity(clv) == pytest.approx(clv.sum())
    # Undiscounted 12-month CLV at a fixed spend = spend × expected purchases in 360 days.
    flat = customer_lifetime_value(
        bg, 35.0, s["frequency"], s["recency"], s["T"], discount_rate_monthly=0.0
    )
    purchases = bg.expected_purchases(360 / 7, s["frequency"], s["recency"], s["T"])
    np.testing.assert_allclose(flat, 35.0 * purchases, rtol=1e-9)


def test_daily_units_match_weekly_units(cdnow_summary, cdnow_models):
    bg, gg = cdnow_models
    s = cdnow_summary.head(100)
    weekly = customer_lifetime_value(
        bg, gg, s["frequency"], s["recency"], s["T"], s["monetary_value"]
    )
    daily_model = BetaGeo.from_params(**{**bg.params_, "alpha": bg.params_["alpha"] * 7})
    daily = customer_lifetime_value(
        daily_model, gg, s["frequency"], s["recency"] * 7, s["T"] * 7, s["monetary_value"],
        time_unit_days=1,
    )  # fmt: skip
    np.testing.assert_allclose(daily, weekly, rtol=1e-6)


def test_model_without_path_method_is_supported(cdnow_summary, cdnow_models):
    bg, _ = cdnow_models

    class PointwiseOnly:
        def expected_purchases(self, t, frequency, recency, T):
            return bg.expected_purchases(t, frequency, recency, T)

    s = cdnow_summary.head(20)
    args = (s["frequency"], s["recency"], s["T"])
    np.testing.assert_allclose(
        customer_lifetime_value(PointwiseOnly(), 10.0, *args),
        customer_lifetime_value(bg, 10.0, *args),
        rtol=1e-12,
    )


def test_clv_bad_inputs(cdnow_models):
    bg, gg = cdnow_models
    with pytest.raises(ValueError, match="monetary_value is required"):
        customer_lifetime_value(bg, gg, [1], [1], [2])
    with pytest.raises(ValueError, match="horizon_months"):
        customer_lifetime_value(bg, 1.0, [1], [1], [2], horizon_months=0)
    with pytest.raises(ValueError, match="discount_rate_monthly"):
        customer_lifetime_value(bg, 1.0, [1], [1], [2], discount_rate_monthly=-1.5)
    with pytest.raises(ValueError, match="margin"):
        customer_lifetime_value(bg, 1.0, [1], [1], [2], margin=-0.1)
    with pytest.raises(ValueError, match="expected_purchases"):
        customer_lifetime_value(object(), 1.0, [1], [1], [2])
    with pytest.raises(ValueError, match="recency must not exceed T"):
        customer_lifetime_value(bg, 1.0, [1], [3], [2])
    with pytest.raises(ValueError, match="expected spend has length"):
        customer_lifetime_value(bg, [1.0, 2.0], [1, 1, 1], [1, 1, 1], [2, 2, 2])


def test_simple_clv():
    assert simple_clv(100.0, 0.05) == pytest.approx(2000.0)  # ARPU × 1/churn
    assert simple_clv(100.0, 0.05, margin=0.4) == pytest.approx(800.0)
    np.testing.assert_allclose(simple_clv([10.0, 20.0], [0.5, 0.25]), [20.0, 80.0])
    with pytest.raises(ValueError, match="churn_rate"):
        simple_clv(100.0, 0.0)
    with pytest.raises(ValueError, match="churn_rate"):
        simple_clv(100.0, 1.5)
    with pytest.raises(ValueError, match="arpu must be non-negative"):
        simple_clv(-1.0, 0.1)
    with pytest.raises(ValueError, match="clv contains NaN"):
        customer_equity([1.0, np.nan])


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(0.01, 20), alpha=st.floats(0.01, 200), a=st.floats(0.01, 20), b=st.floats(0.01, 20),
    x=st.integers(0, 200), share=st.floats(0, 1), T=st.floats(0.1, 500),
    spend=st.floats(0, 1e4), d=st.floats(0, 0.2),
)  # fmt: skip
def test_clv_is_non_negative_and_finite(r, alpha, a, b, x, share, T, spend, d):
    model = BetaGeo.from_params(r=r, alpha=alpha, a=a, b=b)
    t_x = share * T if x > 0 else 0.0
    value = customer_lifetime_value(model, spend, [x], [t_x], [T], discount_rate_monthly=d)[0]
    assert np.isfinite(value) and value >= 0
