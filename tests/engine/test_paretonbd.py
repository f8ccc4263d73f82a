"""Pareto/NBD: published CDNOW fit, the stable 2F1, predictions, recovery, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from valuecrm.engine.hypergeometric import log_hyp2f1_1b
from valuecrm.engine.models import MODELS
from valuecrm.engine.models.base import collapse_rows
from valuecrm.engine.models.paretonbd import ParetoNBD, simulate_paretonbd

# Fader, Hardie & Lee (2005), "A note on implementing the Pareto/NBD model in MATLAB",
# http://brucehardie.com/notes/008/ : CDNOW sample, weeks, calibration to 1997-09-30.
PUBLISHED = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6562}
PUBLISHED_LL = -9594.98


@pytest.fixture(scope="module")
def cdnow(cdnow_published_summary) -> pd.DataFrame:
    return cdnow_published_summary


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _reference_log_likelihood(r, alpha, s, beta, x, t_x, T):
    """Independent check: the likelihood's integral form by adaptive quadrature.

    L = C [ (alpha+T)^-(r+x) (beta+T)^-s + s * int_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du ]
    """
    log_c = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    scale = (alpha + t_x) ** (r + x) * (beta + t_x) ** s  # keep the integrand near 1
    alive = scale / ((alpha + T) ** (r + x) * (beta + T) ** s)

    def integrand(u):
        return s * scale / ((alpha + u) ** (r + x) * (beta + u) ** (s + 1))

    died = integrate.quad(integrand, t_x, T, epsabs=0, epsrel=1e-12, limit=200)[0]
    return log_c - np.log(scale) + np.log(alive + died)


# --------------------------------------------------------------------------- published


def test_cdnow_fit_matches_the_published_estimates(fitted: ParetoNBD) -> None:
    assert fitted.converged_
    assert fitted.params_["r"] == pytest.approx(PUBLISHED["r"], abs=0.001)
    assert fitted.params_["alpha"] == pytest.approx(PUBLISHED["alpha"], abs=0.01)
    assert fitted.params_["s"] == pytest.approx(PUBLISHED["s"], abs=0.001)
    # beta is weakly identified (s.e. ~ 6): the optimum is flat along it.
    assert fitted.params_["beta"] == pytest.approx(PUBLISHED["beta"], abs=0.05)
    assert fitted.log_likelihood_ == pytest.approx(PUBLISHED_LL, abs=0.01)


def test_log_likelihood_at_published_params_is_the_papers(cdnow: pd.DataFrame) -> None:
    model = ParetoNBD.from_params(**PUBLISHED)
    ll = model.log_likelihood(cdnow["frequency"], cdnow["recency"], cdnow["T"]).sum()
    assert ll == pytest.approx(PUBLISHED_LL, abs=0.01)


def test_standard_errors_are_finite_and_summary_lists_params(fitted: ParetoNBD) -> None:
    table = fitted.summary()
    assert list(table["param"]) == ["r", "alpha", "s", "beta"]
    assert np.all(np.isfinite(table["se"])) and np.all(table["se"] > 0)
    assert fitted.standard_errors_["r"] == pytest.approx(0.0476, abs=0.002)


def test_registered_in_models() -> None:
    assert MODELS["paretonbd"] is ParetoNBD


# --------------------------------------------------------------------------- likelihood


@pytest.mark.parametrize(
    "params",
    [
        (0.5534, 10.5802, 0.6061, 11.6562),  # alpha < beta branch
        (2.0, 30.0, 0.3, 1.5),  # alpha > beta branch
        (0.2, 5.0, 4.0, 5.0),  # alpha == beta: z = 0
    ],
)
@pytest.mark.parametrize(
    "row",
    [(0, 0.0, 38.86), (2, 30.43, 38.86), (26, 30.86, 31.0), (40, 10.0, 52.0), (5, 52.0, 52.0)],
)
def test_log_likelihood_matches_direct_quadrature(params, row) -> None:
    model = ParetoNBD.from_params(**dict(zip(("r", "alpha", "s", "beta"), params, strict=True)))
    ours = model.log_likelihood([row[0]], [row[1]], [row[2]])[0]
    assert ours == pytest.approx(_reference_log_likelihood(*params, *row), abs=1e-9)


@pytest.mark.parametrize(
    "params", [(0.55, 10.6, 0.6, 11.7), (2.0, 1.0, 0.3, 50.0), (0.1, 100.0, 3.0, 0.5)]
)
def test_analytic_gradient_matches_finite_differences(cdnow: pd.DataFrame, params) -> None:
    model = ParetoNBD()
    columns, weights = collapse_rows(
        [cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    )
    data = model._prepare(columns, weights)
    log_params = np.log(params)
    _, gradient = model._negative_log_likelihood_and_gradient(log_params, data, weights)
    step = 1e-6
    numeric = np.array(
        [
            (
                model._negative_log_likelihood_and_gradient(log_params + e, data, weights)[0]
                - model._negative_log_likelihood_and_gradient(log_params - e, data, weights)[0]
            )
            / (2 * step)
            for e in np.eye(4) * step
        ]
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-4)


# Values from mpmath at 50 digits (mp.log(mp.hyp2f1(1, b, c, z))). The second and
# third are cases where scipy.special.hyp2f1 returns NaN.
@pytest.mark.parametrize(
    ("b", "c", "z", "expected"),
    [
        (0.5, 1.7, 0.3, 0.10147108133570298),
        (504.16805116, 504.16805475, 0.99999073, 11.588709886565622),
        (1205.31232, 1214.88912, 0.999999666, 4.952470618801502),
        (2.0, 3.5, 0.9, 0.9656148247325496),
        (2.0, 3.5, 0.9000001, 0.9656151045910643),
        (1e-06, 1.000001, 1 - 1e-12, 2.763065986276249e-05),
        (3000.0, 3000.5, 0.95, 2.9925908032459163),
        (0.01, 1.02, 0.5, 0.006770793994402638),
    ],
)
def test_log_hyp2f1_matches_mpmath(b, c, z, expected) -> None:
    value = log_hyp2f1_1b(b, c, z)[0]
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-13)  # F itself to ~1e-13


def test_log_hyp2f1_derivatives_match_finite_differences() -> None:
    b = np.array([0.7, 40.0, 3.0, 800.0, 1e-4])
    c = np.array([2.1, 41.5, 3.2, 800.3, 1.001])
    z = np.array([0.4, 0.85, 0.95, 0.999, 0.9999])
    _, d_b, d_c, d_z = log_hyp2f1_1b(b, c, z)
    for analytic, bump in ((d_b, (1, 0, 0)), (d_c, (0, 1, 0)), (d_z, (0, 0, 1))):
        # steps large enough that rounding (~1e-16 / h) stays below the tolerance
        h = 1e-5 * np.maximum(np.array([b, c, 1 - z])[np.argmax(bump)], 1e-3)
        up = log_hyp2f1_1b(b + bump[0] * h, c + bump[1] * h, z + bump[2] * h)[0]
        down = log_hyp2f1_1b(b - bump[0] * h, c - bump[1] * h, z - bump[2] * h)[0]
        np.testing.assert_allclose(analytic, (up - down) / (2 * h), rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------- predictions


def test_p_alive_matches_its_definition() -> None:
    params = (0.5534, 10.5802, 0.6061, 11.6562)
    model = ParetoNBD.from_params(**dict(zip(("r", "alpha", "s", "beta"), params, strict=True)))
    r, alpha, s, beta = params
    for x, t_x, T in [(0, 0.0, 38.86), (2, 30.43, 38.86), (10, 5.0, 38.86)]:
        log_alive = (
            special.gammaln(r + x)
            - special.gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            - (r + x) * np.log(alpha + T)
            - s * np.log(beta + T)
        )
        expected = np.exp(log_alive - _reference_log_likelihood(*params, x, t_x, T))
        assert model.p_alive([x], [t_x], [T])[0] == pytest.approx(expected, rel=1e-9)


def test_p_alive_is_one_for_a_purchase_at_the_end() -> None:
    model = ParetoNBD.from_params(**PUBLISHED)
    assert model.p_alive([7], [38.86], [38.86])[0] == pytest.approx(1.0, abs=1e-12)


def test_expected_purchases_new_is_the_closed_form_and_the_pmf_mean() -> None:
    model = ParetoNBD.from_params(**PUBLISHED)
    r, alpha, s, beta = PUBLISHED.values()
    t = 39.0
    closed = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    assert model.expected_purchases_new([t])[0] == pytest.approx(closed, rel=1e-12)
    n = np.arange(0, 2000)
    pmf = model.p_n_purchases(n, t)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * pmf).sum() == pytest.approx(closed, rel=1e-6)


def test_expected_purchases_s_equal_one_is_the_log_limit() -> None:
    model = ParetoNBD.from_params(r=0.5, alpha=10.0, s=1.0, beta=12.0)
    t = 52.0
    assert model.expected_purchases_new([t])[0] == pytest.approx(
        0.5 / 10.0 * 12.0 * np.log1p(t / 12.0), rel=1e-12
    )


def test_p_n_purchases_matches_direct_quadrature() -> None:
    r, alpha, s, beta = 0.1, 100.0, 3.0, 0.5
    model = ParetoNBD.from_params(r=r, alpha=alpha, s=s, beta=beta)
    t = 500.0
    for n in (0, 1, 5, 30):
        integral = integrate.quad(
            lambda u, n=n: u**n * (alpha + u) ** (-(r + n)) * (beta + u) ** (-(s + 1)),
            0,
            t,
            limit=200,
            epsabs=0,
            epsrel=1e-12,
        )[0]
        expected = (
            stats.nbinom.pmf(n, r, alpha / (alpha + t)) * (beta / (beta + t)) ** s
            + np.exp(
                special.gammaln(r + n)
                - special.gammaln(r)
                - special.gammaln(n + 1)
                + r * np.log(alpha)
                + np.log(s)
                + s * np.log(beta)
            )
            * integral
        )
        assert model.p_n_purchases([n], [t])[0] == pytest.approx(expected, rel=1e-9)


def test_conditional_expectation_of_a_heavy_buyer(fitted: ParetoNBD) -> None:
    # The paper's customer 1516 (x = 26, t_x = 30.86, T = 31): nearly surely alive,
    # so E[Y(39)] is close to (r + x)/(alpha + T) * 39-week survival-weighted time.
    expected = fitted.expected_purchases(39, [26], [30.86], [31.0])[0]
    r, alpha, s, beta = fitted.params_.values()
    alive = fitted.p_alive([26], [30.86], [31.0])[0]
    closed = (
        alive
        * (r + 26)
        * (beta + 31)
        / ((alpha + 31) * (s - 1))
        * (1 - ((beta + 31) / (beta + 31 + 39)) ** (s - 1))
    )
    assert alive > 0.99
    assert expected == pytest.approx(closed, rel=1e-12)
    assert 20.0 < expected < 30.0


# --------------------------------------------------------------------------- recovery


def test_recovers_parameters_from_simulated_data() -> None:
    truth = {"r": 0.8, "alpha": 6.0, "s": 0.5, "beta": 9.0}
    rng = np.random.default_rng(11)
    T = rng.uniform(30, 60, 40_000)
    data = simulate_paretonbd(**truth, T=T, seed=12)
    model = ParetoNBD().fit(data["frequency"], data["recency"], data["T"])
    for name, value in truth.items():
        # within 4 standard errors and 25 % (beta and s are the least precise)
        assert abs(model.params_[name] - value) < 4 * model.standard_errors_[name], name
        assert model.params_[name] == pytest.approx(value, rel=0.25), name


def test_weights_equal_repeated_rows(cdnow: pd.DataFrame) -> None:
    head = cdnow.iloc[:300]
    weights = np.arange(300) % 3 + 1
    repeated = head.loc[head.index.repeat(weights)]
    a = ParetoNBD().fit(head["frequency"], head["recency"], head["T"], weights=weights)
    b = ParetoNBD(collapse=False).fit(repeated["frequency"], repeated["recency"], repeated["T"])
    for name in a.params_:
        assert a.params_[name] == pytest.approx(b.params_[name], rel=1e-5)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-10)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="recency must not exceed T"):
        ParetoNBD().fit([1, 2], [5.0, 3.0], [4.0, 4.0])
    with pytest.raises(ValueError, match="frequency must hold whole numbers"):
        ParetoNBD().fit([1.5], [1.0], [2.0])
    with pytest.raises(ValueError, match="has no parameters yet"):
        ParetoNBD().p_alive([1], [1.0], [2.0])


# --------------------------------------------------------------------------- invariants

positive = st.floats(min_value=1e-3, max_value=1e3)


@settings(max_examples=60, deadline=None)
@given(
    r=positive,
    alpha=positive,
    s=positive,
    beta=positive,
    x=st.integers(0, 500),
    frac=st.floats(0, 1),
    T=st.floats(1e-2, 1e4),
)
def test_p_alive_in_unit_interval_and_expectation_monotone(r, alpha, s, beta, x, frac, T) -> None:
    model = ParetoNBD.from_params(r=r, alpha=alpha, s=s, beta=beta)
    t_x = 0.0 if x == 0 else frac * T
    alive = model.p_alive([x], [t_x], [T])[0]
    assert 0.0 <= alive <= 1.0
    horizons = np.array([0.0, 1.0, 10.0, 100.0, 1000.0])
    expected = model.expected_purchases(horizons, x, t_x, T)
    assert np.all(np.isfinite(expected))
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) >= -1e-12 * expected[-1])
