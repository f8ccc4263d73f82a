"""sBG: the published retention fits, projections, DEL/DERL, recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from valuecrm.engine.models import MODELS
from valuecrm.engine.models.sbg import ShiftedBetaGeometric, simulate_sbg, survival_to_lifetimes

# Fader & Hardie (2007), "How to project customer retention", J. Interactive Marketing
# 21(1): Berry & Linoff's two segments, survivors of 1000 at the start of years 0-12;
# the model is fitted on years 0-7 and the paper projects years 8-12.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


@pytest.mark.parametrize(
    ("survivors", "alpha", "beta", "log_likelihood"),
    [(REGULAR, 0.704, 1.182, -1680.27), (HIGH_END, 0.668, 3.806, -1611.16)],
)
def test_fit_matches_the_published_estimates(survivors, alpha, beta, log_likelihood) -> None:
    model = ShiftedBetaGeometric().fit(survivors[:8])
    assert model.converged_
    assert model.params_["alpha"] == pytest.approx(alpha, abs=0.0005)
    assert model.params_["beta"] == pytest.approx(beta, abs=0.0005)
    # LL = sum churners * log P(T=t) + 241 (or 491) * log S(7), at the estimates.
    assert model.log_likelihood_ == pytest.approx(log_likelihood, abs=0.01)
    assert model.n_ == 1000


@pytest.mark.parametrize("survivors", [REGULAR, HIGH_END])
def test_projection_of_years_8_to_12_tracks_the_holdout(survivors) -> None:
    model = ShiftedBetaGeometric().fit(survivors[:8])
    projected = model.project_survivors(1000, np.arange(8, 13))
    np.testing.assert_allclose(projected, survivors[8:], rtol=0.05)


def test_registered_in_models() -> None:
    assert MODELS["sbg"] is ShiftedBetaGeometric


def test_frame_and_counts_give_the_same_fit() -> None:
    counts = ShiftedBetaGeometric().fit(REGULAR[:8])
    frame = ShiftedBetaGeometric().fit(pd.DataFrame({"period": range(8), "alive": REGULAR[:8]}))
    assert frame.params_ == pytest.approx(counts.params_, rel=1e-10)


def test_several_cohorts_pool_their_rows() -> None:
    frame = pd.DataFrame(
        {
            "cohort": ["2019"] * 8 + ["2020"] * 5,
            "period": list(range(8)) + list(range(5)),
            "alive": REGULAR[:8] + HIGH_END[:5],
        }
    )
    pooled = ShiftedBetaGeometric().fit(frame)
    rows = pd.concat(
        [survival_to_lifetimes(REGULAR[:8]), survival_to_lifetimes(HIGH_END[:5])], ignore_index=True
    )
    direct = ShiftedBetaGeometric().fit_lifetimes(
        rows["lifetime"], ~rows["censored"], weights=rows["weight"]
    )
    assert pooled.params_ == pytest.approx(direct.params_, rel=1e-8)
    assert pooled.n_ == 2000


def test_predictions_follow_the_formulas() -> None:
    a, b = 0.704, 1.182
    model = ShiftedBetaGeometric.from_params(alpha=a, beta=b)
    t = np.arange(1, 13)
    survival = np.exp(special.betaln(a, b + t) - special.betaln(a, b))
    np.testing.assert_allclose(model.survival(t), survival, rtol=1e-13)
    np.testing.assert_allclose(model.retention_rate(t), (b + t - 1) / (a + b + t - 1), rtol=1e-13)
    np.testing.assert_allclose(
        model.churn_probability(t), np.concatenate([[1.0], survival[:-1]]) - survival, rtol=1e-10
    )
    assert np.all(np.diff(model.retention_rate(t)) > 0)  # heterogeneity: retention rises
    assert model.survival([0])[0] == 1.0
    assert model.expected_lifetime() == np.inf  # alpha < 1: heavy tail


def test_expected_lifetime_for_alpha_above_one() -> None:
    model = ShiftedBetaGeometric.from_params(alpha=3.0, beta=2.0)
    t = np.arange(0, 20_000)
    assert model.expected_lifetime() == pytest.approx(model.survival(t).sum(), rel=1e-6)


@pytest.mark.parametrize("d", [0.1, 0.01])
def test_del_and_derl_are_the_discounted_sums(d) -> None:
    a, b = 0.704, 1.182
    model = ShiftedBetaGeometric.from_params(alpha=a, beta=b)
    t = np.arange(0, 200_000, dtype=float)
    log_survival = special.betaln(a, b + t) - special.betaln(a, b)
    discount = -t * np.log1p(d)
    assert model.discounted_expected_lifetime(d) == pytest.approx(
        np.exp(log_survival + discount).sum(), rel=1e-6
    )
    for n in (1, 5, 12):
        residual = np.exp(log_survival[n:] - log_survival[n - 1] + discount[: t.size - n]).sum()
        derl = model.discounted_expected_residual_lifetime(d, [n - 1])[0]
        assert derl == pytest.approx(residual, rel=1e-6)


def test_derl_grows_with_tenure() -> None:
    model = ShiftedBetaGeometric.from_params(alpha=0.704, beta=1.182)
    derl = model.discounted_expected_residual_lifetime(0.1, np.arange(0, 10))
    assert np.all(np.diff(derl) > 0)


def test_recovers_parameters_from_simulated_cohort() -> None:
    counts = simulate_sbg(0.9, 2.5, n_periods=12, size=200_000, seed=3)
    model = ShiftedBetaGeometric().fit(counts)
    assert model.params_["alpha"] == pytest.approx(0.9, rel=0.05)
    assert model.params_["beta"] == pytest.approx(2.5, rel=0.05)
    assert abs(model.params_["alpha"] - 0.9) < 4 * model.standard_errors_["alpha"]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="must not increase"):
        ShiftedBetaGeometric().fit([1000, 600, 700])
    with pytest.raises(ValueError, match="without gaps"):
        ShiftedBetaGeometric().fit(pd.DataFrame({"period": [0, 2], "alive": [10, 5]}))
    with pytest.raises(ValueError, match="'alive'"):
        ShiftedBetaGeometric().fit(pd.DataFrame({"period": [0, 1], "survivors": [10, 5]}))
    with pytest.raises(ValueError, match="at least one later period"):
        ShiftedBetaGeometric().fit([1000])
    with pytest.raises(ValueError, match="discount_rate must be positive"):
        ShiftedBetaGeometric.from_params(alpha=1.0, beta=1.0).discounted_expected_lifetime(0)
