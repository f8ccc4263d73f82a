"""Pareto/NBD robustness: the inputs that break lifetimes, BTYD and CLVTools.

Each case cites the public report it comes from. The claim under test: no NaN or
inf anywhere — likelihood, gradient, P(alive), expectations — for frequencies in
the hundreds, recency = T, T up to 1e5 and parameters anywhere in 1e-6..1e6, and
values that agree with an independent quadrature where one can be computed.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from valuecrm.engine.hypergeometric import log_hyp2f1_1b
from valuecrm.engine.models.base import collapse_rows
from valuecrm.engine.models.paretonbd import ParetoNBD, simulate_paretonbd

CDNOW = Path("/work/shared/datasets/cdnow/cdnow_customers_summary.csv")
CDNOW_PARAMS = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6562}
EXTREMES = (1e-6, 1e-2, 1.0, 1e2, 1e6)
# The reference quadrature, not the model, warns about its hardest integrands.
pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
HARD_ROWS = pd.DataFrame(
    {
        "frequency": [0, 0, 1, 300, 500, 900, 250, 221, 161, 204, 3],
        "recency": [0.0, 0.0, 1e5, 1e5, 10.0, 1e5, 52.0, 103.42857, 94.71429, 98.57143, 1e-9],
        "T": [1e-6, 1e5, 1e5, 1e5, 1e5, 1e5, 52.0, 103.57143, 98.0, 99.42857, 1e5],
    }
)


def _reference_log_likelihood(r, alpha, s, beta, x, t_x, T):
    """Integral form by adaptive quadrature, scaled at t_x so nothing overflows."""
    log_c = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_scale = (r + x) * np.log(alpha + t_x) + s * np.log(beta + t_x)
    alive = np.exp(log_scale - (r + x) * np.log(alpha + T) - s * np.log(beta + T))

    def integrand(u):
        return s * np.exp(log_scale - (r + x) * np.log(alpha + u) - (s + 1) * np.log(beta + u))

    # Geometric panels from t_x: the integrand can live within 1e-12 of t_x.
    span = T - t_x
    edges = t_x + span * np.concatenate([[0.0], np.logspace(-16, 0, 33)])
    died = sum(
        integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        if hi > lo
    )
    return log_c - log_scale + np.log(alive + died)


# lifetimes#25 (https://github.com/CamDavidsonPilon/lifetimes/issues/25): "When we have
# customers with frequency > 300 _A_0 function returns 0 ... conditional_probability_alive
# ... overflows to Inf * 0 and returns NaN".
@pytest.mark.parametrize("x", [300, 350, 600, 1000])
def test_large_frequency_likelihood_and_p_alive_are_finite_and_right(x) -> None:
    model = ParetoNBD.from_params(**CDNOW_PARAMS)
    t_x, T = 30.0, 38.86
    ll = model.log_likelihood([x], [t_x], [T])[0]
    assert ll == pytest.approx(
        _reference_log_likelihood(*CDNOW_PARAMS.values(), x, t_x, T), abs=1e-8
    )
    alive = model.p_alive([x], [t_x], [T])[0]
    assert 0.0 <= alive <= 1.0
    assert alive < 1e-10  # 300+ purchases then 9 silent weeks: surely gone
    expected = model.expected_purchases(39, [x], [t_x], [T])[0]
    assert np.isfinite(expected) and expected >= 0


# CLVTools#100 (https://github.com/bachmannpatrick/CLVTools/issues/100): "the prediction
# routine might produce NaNs for customers with a very high number of transactions ...
# caused by PAlive producing NaNs", with these (x, t.x, T.cal) rows (weeks).
@pytest.mark.parametrize(
    ("x", "t_x", "T"),
    [(221, 103.42857, 103.57143), (161, 94.71429, 98.0), (204, 98.57143, 99.42857)],
)
@pytest.mark.parametrize(
    "params", [CDNOW_PARAMS, {"r": 2.0, "alpha": 1.0, "s": 0.1, "beta": 300.0}]
)
def test_clvtools_100_rows_have_finite_p_alive(x, t_x, T, params) -> None:
    model = ParetoNBD.from_params(**params)
    alive = model.p_alive([x], [t_x], [T])[0]
    assert 0.0 <= alive <= 1.0
    ll = model.log_likelihood([x], [t_x], [T])[0]
    assert ll == pytest.approx(_reference_log_likelihood(*params.values(), x, t_x, T), abs=1e-8)
    assert np.isfinite(model.expected_purchases(52, [x], [t_x], [T])[0])


# CLVTools#132 (https://github.com/bachmannpatrick/CLVTools/issues/132): "the
# log-likelihood function for pnbd requires the notorious hypergeometric 2F1 function
# which depending on the data and parameters will yield NaNs or Infs", so L-BFGS-B
# stops. Sweep every parameter over 1e-6..1e6 on the hardest rows.
def test_likelihood_and_gradient_finite_over_the_whole_parameter_box() -> None:
    model = ParetoNBD()
    columns, weights = collapse_rows(
        [HARD_ROWS[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    )
    data = model._prepare(columns, weights)
    for params in itertools.product(EXTREMES, repeat=4):
        value, gradient = model._negative_log_likelihood_and_gradient(np.log(params), data, weights)
        assert np.isfinite(value), params
        assert np.all(np.isfinite(gradient)), params


def test_predictions_finite_over_the_whole_parameter_box() -> None:
    x, t_x, T = (HARD_ROWS[c].to_numpy() for c in ("frequency", "recency", "T"))
    for r, alpha, s, beta in itertools.product(EXTREMES, repeat=4):
        model = ParetoNBD.from_params(r=r, alpha=alpha, s=s, beta=beta)
        alive = model.p_alive(x, t_x, T)
        assert np.all((alive >= 0) & (alive <= 1)), (r, alpha, s, beta)
        expected = model.expected_purchases(52.0, x, t_x, T)
        assert np.all(np.isfinite(expected) & (expected >= 0)), (r, alpha, s, beta)
        assert np.all(np.isfinite(model.expected_purchases_new([1e-3, 52.0, 1e5])))


@pytest.mark.parametrize(
    "params",
    [
        (1e-6, 1e6, 1e-6, 1e-6),
        (1e6, 1e-6, 1e6, 1e6),
        (0.5, 1e6, 0.5, 1e-6),  # z = 1 - 1e-12 in the died term
        (1e2, 1e-2, 1e-2, 1e2),
        (1.0, 1.0, 1.0, 1.0),
    ],
)
@pytest.mark.parametrize(
    ("x", "t_x", "T"), [(0, 0.0, 1e5), (500, 10.0, 1e5), (3, 1e5, 1e5), (250, 52.0, 52.0)]
)
def test_extreme_likelihoods_agree_with_quadrature(params, x, t_x, T) -> None:
    model = ParetoNBD.from_params(**dict(zip(("r", "alpha", "s", "beta"), params, strict=True)))
    ours = model.log_likelihood([x], [t_x], [T])[0]
    reference = _reference_log_likelihood(*params, x, t_x, T)
    assert np.isfinite(ours)
    assert ours == pytest.approx(reference, rel=1e-9, abs=1e-7)


def test_scipy_hyp2f1_nan_region_is_covered() -> None:
    # scipy.special.hyp2f1(1, 504.168, 504.168, 0.99999) is NaN (the 1 - z connection
    # formula cancels); the Pareto/NBD died term needs exactly this shape.
    value, d_b, d_c, d_z = log_hyp2f1_1b(504.16805116, 504.16805475, 0.99999073)
    assert value == pytest.approx(11.588709886565622, rel=1e-12)  # mpmath, 50 digits
    assert np.all(np.isfinite([d_b, d_c, d_z]))


# BTYDplus#51 (https://github.com/mplatzer/BTYDplus/issues/51): daily data with
# several purchases a day -> "L-BFGS-B needs finite values of 'fn'"; lifetimes#445
# (https://github.com/CamDavidsonPilon/lifetimes/issues/445): "invalid value
# encountered in logaddexp" while fitting. Heavy buyers over a short window.
def test_fit_converges_on_high_frequency_daily_data() -> None:
    data = simulate_paretonbd(r=3.0, alpha=0.5, s=0.4, beta=20.0, T=30.0, size=5_000, seed=8)
    assert data["frequency"].max() > 300
    model = ParetoNBD().fit(data["frequency"], data["recency"], data["T"])
    assert model.converged_
    assert all(np.isfinite(v) for v in model.params_.values())
    assert all(np.isfinite(v) for v in model.standard_errors_.values())
    assert model.params_["r"] == pytest.approx(3.0, rel=0.2)


def test_fit_converges_with_heavy_buyers_added_to_cdnow() -> None:
    cdnow = pd.read_csv(CDNOW)
    heavy = pd.DataFrame(
        {"frequency": [400, 650, 900], "recency": [38.84, 38.85, 38.86], "T": [38.86] * 3}
    )
    data = pd.concat([cdnow[["frequency", "recency", "T"]], heavy], ignore_index=True)
    model = ParetoNBD().fit(data["frequency"], data["recency"], data["T"])
    assert model.converged_
    assert np.isfinite(model.log_likelihood_)
    # 10-25 purchases a week, the last within a day of the end: alive.
    alive = model.p_alive(heavy["frequency"], heavy["recency"], heavy["T"])
    assert np.all(alive > 0.5)
    assert alive[-1] == pytest.approx(1.0, abs=1e-12)


def test_zero_length_observation_and_recency_equal_T() -> None:
    model = ParetoNBD.from_params(**CDNOW_PARAMS)
    assert model.p_alive([0], [0.0], [0.0])[0] == pytest.approx(1.0, abs=1e-12)
    assert model.p_alive([12], [1e5], [1e5])[0] == pytest.approx(1.0, abs=1e-12)
    assert model.expected_purchases(0.0, [5], [3.0], [4.0])[0] == 0.0
