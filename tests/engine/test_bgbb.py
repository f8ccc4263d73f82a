"""BG/BB: the published donations fit, predictions against their definitions, recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from valuecrm.engine.models import MODELS
from valuecrm.engine.models.base import collapse_rows
from valuecrm.engine.models.bgbb import BetaGeoBetaBinom, simulate_bgbb

# Fader, Hardie & Shang (2010), Marketing Science 29(6): 1995 cohort of a non-profit's
# donors, 11,104 people, 6 annual opportunities (1996-2001). The recency/frequency
# table is lifetimes' datasets/donations.csv.
DONATIONS = Path(__file__).parent / "data" / "donations.csv"
PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
PUBLISHED_LL = -33225.6


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return pd.read_csv(DONATIONS)


@pytest.fixture(scope="module")
def fitted(donations: pd.DataFrame) -> BetaGeoBetaBinom:
    d = donations
    return BetaGeoBetaBinom().fit(d["frequency"], d["recency"], d["n"], weights=d["n_custs"])


def _beta_ratio(a, b, a0, b0):
    return np.exp(special.betaln(a, b) - special.betaln(a0, b0))


def test_donations_table_is_the_papers(donations: pd.DataFrame) -> None:
    assert len(donations) == 22
    assert donations["n_custs"].sum() == 11_104


def test_donations_fit_matches_the_published_estimates(fitted: BetaGeoBetaBinom) -> None:
    assert fitted.converged_
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, abs=0.001), name
    assert fitted.log_likelihood_ == pytest.approx(PUBLISHED_LL, abs=0.05)
    assert fitted.n_ == 11_104


def test_registered_in_models() -> None:
    assert MODELS["bgbb"] is BetaGeoBetaBinom


def test_analytic_gradient_matches_finite_differences(donations: pd.DataFrame) -> None:
    model = BetaGeoBetaBinom()
    columns, weights = collapse_rows(
        [donations[c].to_numpy(float) for c in ("frequency", "recency", "n")],
        donations["n_custs"].to_numpy(float),
    )
    data = model._prepare(columns, weights)
    for params in ([1.2, 0.75, 0.66, 2.8], [0.1, 5.0, 3.0, 0.2], [30.0, 0.05, 1.0, 1.0]):
        log_params = np.log(params)
        _, gradient = model._negative_log_likelihood_and_gradient(log_params, data, weights)
        step = 1e-6
        numeric = [
            (
                model._negative_log_likelihood_and_gradient(log_params + e, data, weights)[0]
                - model._negative_log_likelihood_and_gradient(log_params - e, data, weights)[0]
            )
            / (2 * step)
            for e in np.eye(4) * step
        ]
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-3)


def test_likelihood_is_the_papers_sum_term_by_term() -> None:
    a, b, g, d = PUBLISHED.values()
    model = BetaGeoBetaBinom.from_params(**PUBLISHED)
    for x, t_x, n in [(0, 0, 6), (1, 2, 6), (3, 5, 6), (6, 6, 6), (2, 3, 11)]:
        likelihood = _beta_ratio(a + x, b + n - x, a, b) * _beta_ratio(g, d + n, g, d) + sum(
            _beta_ratio(a + x, b + t_x - x + i, a, b) * _beta_ratio(g + 1, d + t_x + i, g, d)
            for i in range(n - t_x)
        )
        assert model.log_likelihood([x], [t_x], [n])[0] == pytest.approx(
            np.log(likelihood), rel=1e-12
        )


def test_p_alive_and_conditional_expectation_match_their_sums(fitted: BetaGeoBetaBinom) -> None:
    a, b, g, d = fitted.params_.values()
    for x, t_x, n in [(0, 0, 6), (1, 1, 6), (4, 6, 6), (6, 6, 6)]:
        likelihood = np.exp(fitted.log_likelihood([x], [t_x], [n])[0])
        alive = _beta_ratio(a + x, b + n - x, a, b) * _beta_ratio(g, d + n + 1, g, d) / likelihood
        assert fitted.p_alive([x], [t_x], [n])[0] == pytest.approx(alive, rel=1e-10)
        expected = (
            sum(
                _beta_ratio(a + x + 1, b + n - x, a, b) * _beta_ratio(g, d + t, g, d)
                for t in range(n + 1, n + 6)
            )
            / likelihood
        )
        assert fitted.expected_purchases(5, [x], [t_x], [n])[0] == pytest.approx(expected, rel=1e-9)


def test_six_for_six_donors(fitted: BetaGeoBetaBinom) -> None:
    # Donors who gave in all six years: almost surely alive, ~3.75 gifts in 2002-06.
    assert fitted.p_alive([6], [6], [6])[0] == pytest.approx(0.930, abs=0.001)
    assert fitted.expected_purchases(5, [6], [6], [6])[0] == pytest.approx(3.75, abs=0.01)


def test_expected_purchases_new_is_the_sum_of_alive_probabilities(fitted: BetaGeoBetaBinom) -> None:
    a, b, g, d = fitted.params_.values()
    for n in (1, 6, 11, 40):
        expected = a / (a + b) * sum(_beta_ratio(g, d + t, g, d) for t in range(1, n + 1))
        assert fitted.expected_purchases_new([n])[0] == pytest.approx(expected, rel=1e-10)


def test_gamma_one_is_the_continuous_limit() -> None:
    values = [
        BetaGeoBetaBinom.from_params(
            alpha=1.2, beta=0.75, gamma=g, delta=2.8
        ).expected_purchases_new([10])[0]
        for g in (1.0 - 1e-5, 1.0, 1.0 + 1e-5)
    ]
    assert values[1] == pytest.approx(values[0], rel=1e-4)
    assert values[1] == pytest.approx(values[2], rel=1e-4)


def test_recovers_parameters_from_simulated_data() -> None:
    truth = {"alpha": 1.5, "beta": 0.8, "gamma": 0.6, "delta": 3.0}
    data = simulate_bgbb(**truth, n_periods=8, size=60_000, seed=5)
    model = BetaGeoBetaBinom().fit(data["frequency"], data["recency"], data["n_periods"])
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 4 * model.standard_errors_[name], name
        assert model.params_[name] == pytest.approx(value, rel=0.15), name


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="recency must not exceed n_periods"):
        BetaGeoBetaBinom().fit([1], [7], [6])
    with pytest.raises(ValueError, match="frequency must not exceed recency"):
        BetaGeoBetaBinom().fit([3], [2], [6])
    with pytest.raises(ValueError, match="recency must be 0 when frequency is 0"):
        BetaGeoBetaBinom().fit([0], [2], [6])
    with pytest.raises(ValueError, match="n_periods must hold whole numbers"):
        BetaGeoBetaBinom().fit([1], [1], [6.5])


unit = st.floats(min_value=1e-3, max_value=1e3)


@settings(max_examples=60, deadline=None)
@given(a=unit, b=unit, g=unit, d=unit, n=st.integers(1, 60), data=st.data())
def test_p_alive_in_unit_interval_and_expectation_monotone(a, b, g, d, n, data) -> None:
    model = BetaGeoBetaBinom.from_params(alpha=a, beta=b, gamma=g, delta=d)
    t_x = data.draw(st.integers(0, n))
    x = 0 if t_x == 0 else data.draw(st.integers(1, t_x))
    alive = model.p_alive([x], [t_x], [n])[0]
    assert 0.0 <= alive <= 1.0
    horizons = np.array([0, 1, 5, 20, 100])
    expected = model.expected_purchases(horizons, x, t_x, n)
    assert np.all(np.isfinite(expected))
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) >= -1e-12 * max(expected[-1], 1e-300))
