"""BG/NBD (Fader, Hardie & Lee 2005) against the paper, lifetimes/BTYD values and invariants."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine.models import BetaGeo, NotFittedError
from valuecrm.engine.simulate import simulate_bgnbd_summary

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_summary):
    s = cdnow_summary
    return BetaGeo().fit(s["frequency"], s["recency"], s["T"])


def test_cdnow_fit_matches_paper(cdnow_bgnbd):
    for name, value in PAPER.items():
        assert cdnow_bgnbd.params_[name] == pytest.approx(value, rel=1e-2, abs=1e-3)
        assert round(cdnow_bgnbd.params_[name], 3) == value
    assert cdnow_bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_bgnbd.converged_ is True
    assert cdnow_bgnbd.n_ == 2357
    assert cdnow_bgnbd.fit_seconds_ > 0


def test_cdnow_standard_errors_and_summary(cdnow_bgnbd):
    # Observed-information standard errors, as reported by lifetimes for CDNOW.
    se = cdnow_bgnbd.standard_errors_
    assert se["r"] == pytest.approx(0.0125, abs=2e-4)
    assert se["alpha"] == pytest.approx(0.378, abs=2e-3)
    assert se["a"] == pytest.approx(0.186, abs=2e-3)
    assert se["b"] == pytest.approx(0.705, abs=3e-3)
    table = cdnow_bgnbd.summary()
    assert table.columns.tolist() == ["param", "estimate", "se", "lower95", "upper95"]
    assert table["param"].tolist() == ["r", "alpha", "a", "b"]
    assert (table["lower95"] < table["estimate"]).all() and (
        table["estimate"] < table["upper95"]
    ).all()


def test_collapsing_rows_gives_identical_fit(cdnow_summary, cdnow_bgnbd):
    s = cdnow_summary
    plain = BetaGeo(collapse=False).fit(s["frequency"], s["recency"], s["T"])
    for name in PAPER:
        assert plain.params_[name] == pytest.approx(cdnow_bgnbd.params_[name], rel=1e-6)
    assert plain.log_likelihood_ == pytest.approx(cdnow_bgnbd.log_likelihood_, abs=1e-6)


def test_weights_equal_repeated_rows(cdnow_summary, cdnow_bgnbd):
    grouped = (
        cdnow_summary.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    )
    assert grouped["weight"].max() > 1
    weighted = BetaGeo(collapse=False).fit(
        grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["weight"]
    )
    assert weighted.n_ == 2357
    for name in PAPER:
        assert weighted.params_[name] == pytest.approx(cdnow_bgnbd.params_[name], rel=1e-5)
    assert weighted.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_hardie_excel_conditional_expectation(cdnow_bgnbd):
    # FHL (2005) worked example / lifetimes test: x=2, t_x=30.43, T=38.86, t=39 -> 1.226
    value = cdnow_bgnbd.expected_purchases(39, 2, 30.43, 38.86)
    assert value[0] == pytest.approx(1.226, abs=1e-3)


def test_hardie_excel_unconditional_expectation(cdnow_bgnbd):
    times = np.array([0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    np.testing.assert_allclose(cdnow_bgnbd.expected_purchases_new(times), expected, atol=5e-4)


def test_p_n_purchases_matches_r_btyd():
    # Values from R's BTYD documentation (bgnbd.pmf), also used by lifetimes' tests.
    model = BetaGeo.from_params(**PAPER)
    assert model.p_n_purchases(10, 2)[0] == pytest.approx(1.07869e-07, rel=1e-4)
    assert model.p_n_purchases(0, 39)[0] == pytest.approx(0.5737864, abs=1e-6)
    expected = [0.0019995214, 0.0015170236, 0.0011633150, 0.0009003148, 0.0007023638,
                0.0005517902, 0.0004361913, 0.0003467171, 0.0002769613, 0.0002222260]  # fmt: skip
    np.testing.assert_allclose(model.p_n_purchases(np.arange(11, 21), 30), expected, rtol=1e-5)
    total = model.p_n_purchases(np.arange(0, 2000), 52).sum()
    assert total == pytest.approx(1.0, abs=1e-9)


def test_p_alive_values(cdnow_bgnbd):
    alive = cdnow_bgnbd.p_alive([0, 2, 2], [0, 30.43, 5.0], [38.86, 38.86, 38.86])
    assert alive[0] == 1.0  # BG/NBD: no repeat purchase, cannot have dropped out yet
    assert alive[1] == pytest.approx(0.7266, abs=1e-4)
    assert alive[2] < alive[1]


def test_expected_purchases_path_equals_pointwise(cdnow_summary, cdnow_bgnbd):
    s = cdnow_summary
    times = np.array([4.3, 13.0, 26.0, 52.0])
    path = cdnow_bgnbd.expected_purchases_path(times, s["frequency"], s["recency"], s["T"])
    assert path.shape == (2357, 4)
    for j, t in enumerate(times):
        pointwise = cdnow_bgnbd.expected_purchases(t, s["frequency"], s["recency"], s["T"])
        np.testing.assert_allclose(path[:, j], pointwise, rtol=1e-12)


def test_penalizer_shrinks_parameters(cdnow_summary, cdnow_bgnbd):
    s = cdnow_summary
    shrunk = BetaGeo(penalizer_coef=0.1).fit(s["frequency"], s["recency"], s["T"])
    assert sum(shrunk.params_.values()) < sum(cdnow_bgnbd.params_.values())
    assert shrunk.log_likelihood_ < cdnow_bgnbd.log_likelihood_


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, -1], [1, 0], [2, 2], "frequency must be non-negative"),
        ([1, np.nan], [1, 0], [2, 2], "frequency contains NaN"),
        ([1, 1], [3, 1], [2, 2], "recency must not exceed T"),
        ([1.5, 1], [1, 1], [2, 2], "frequency must hold whole numbers"),
        ([], [], [], "empty input"),
        ([1, 2], [1], [2, 2], "same length"),
        ([0], [1], [2], "recency must be 0 when frequency is 0"),
    ],
)
def test_bad_input_raises_clear_errors(frequency, recency, T, message):
    with pytest.raises(ValueError, match=message):
        BetaGeo().fit(frequency, recency, T)


def test_bad_weights_and_initial_params():
    with pytest.raises(ValueError, match="weights has length"):
        BetaGeo().fit([1, 2], [1, 2], [3, 3], weights=[1])
    with pytest.raises(ValueError, match="weights must be non-negative"):
        BetaGeo().fit([1, 2], [1, 2], [3, 3], weights=[1, -1])
    with pytest.raises(ValueError, match="unknown initial parameter"):
        BetaGeo(initial_params={"s": 1.0}).fit([1, 2], [1, 2], [3, 3])


def test_non_convergence_is_a_value_error_naming_the_model(cdnow_summary):
    s = cdnow_summary
    with pytest.raises(ValueError, match="BetaGeo did not converge"):
        BetaGeo(maxiter=2).fit(s["frequency"], s["recency"], s["T"])


def test_predicting_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match="call fit"):
        BetaGeo().p_alive(1, 1, 2)
    with pytest.raises(ValueError, match="needs exactly"):
        BetaGeo.from_params(r=1.0)


def test_recovers_parameters_from_daily_simulation():
    # Low daily rates: with frequent buyers, same-day purchases merge (as in a real
    # order log) and bias alpha upwards by a few per cent, which is not a fit error.
    truth = {"r": 0.5, "alpha": 150.0, "a": 0.8, "b": 2.5}
    sim = simulate_bgnbd_summary(60_000, **truth, observation_days=540, cohort_days=180, seed=7)
    model = BetaGeo().fit(sim["frequency"], sim["recency"], sim["T"])
    for name, value in truth.items():
        # Within ~3 standard errors; same-day collapsing adds a small, known bias.
        tolerance = max(4 * model.standard_errors_[name], 0.05 * value)
        assert abs(model.params_[name] - value) < tolerance, (
            name,
            model.params_,
            model.standard_errors_,
        )


# ---------------------------------------------------------------------- properties

params_strategy = st.fixed_dictionaries(
    {
        "r": st.floats(0.01, 50),
        "alpha": st.floats(0.01, 500),
        "a": st.floats(0.01, 50),
        "b": st.floats(0.01, 50),
    }
)
customer_strategy = st.tuples(st.integers(0, 300), st.floats(0, 1), st.floats(0.01, 2000)).map(
    lambda c: (c[0], 0.0 if c[0] == 0 else c[1] * c[2], c[2])
)


@settings(max_examples=150, deadline=None)
@given(params=params_strategy, customer=customer_strategy)
def test_p_alive_is_a_probability(params, customer):
    model = BetaGeo.from_params(**params)
    value = model.p_alive(*customer)[0]
    assert 0.0 <= value <= 1.0


@settings(max_examples=150, deadline=None)
@given(params=params_strategy, customer=customer_strategy)
def test_expected_purchases_non_decreasing_in_t(params, customer):
    model = BetaGeo.from_params(**params)
    times = np.array([0.0, 0.5, 1.0, 5.0, 20.0, 100.0, 1000.0])
    values = model.expected_purchases(times, *customer)
    assert np.all(np.isfinite(values))
    assert values[0] == 0.0
    # scipy's hyp2f1 is accurate to ~1e-5 relative in corners (large c, z near 1).
    assert np.all(np.diff(values) >= -1e-4 * np.maximum(values[1:], 1e-3))


@settings(max_examples=60, deadline=None)
@given(params=params_strategy, t=st.floats(0.1, 500))
def test_p_n_purchases_sums_to_at_most_one(params, t):
    model = BetaGeo.from_params(**params)
    probabilities = model.p_n_purchases(np.arange(0, 400), t)
    assert np.all(np.isfinite(probabilities))
    assert np.all(probabilities >= 0)
    assert probabilities.sum() <= 1 + 1e-9


def test_fit_accepts_pandas_and_returns_self(cdnow_summary):
    s = cdnow_summary.head(500)
    model = BetaGeo()
    assert model.fit(s["frequency"], s["recency"], s["T"]) is model
    assert isinstance(model.summary(), pd.DataFrame)


# ---------------------------------------------------------------------- robustness

EXTREMES = [1e-6, 1e-2, 1.0, 1e3, 1e6]
EXTREME_CUSTOMERS = (
    np.array([0, 1, 300, 300, 5, 300]),
    np.array([0, 1e5, 1e5, 10, 1e5, 0.5]),
    np.array([1e5, 1e5, 1e5, 1e5, 1e5, 1.0]),
)


@pytest.mark.parametrize("r", EXTREMES)
@pytest.mark.parametrize("alpha", EXTREMES)
@pytest.mark.parametrize("a", [1e-6, 0.5, 1.0, 2.0, 1e6])
def test_no_nan_or_inf_for_extreme_customers_and_parameters(r, alpha, a):
    for b in EXTREMES:
        model = BetaGeo.from_params(r=r, alpha=alpha, a=a, b=b)
        alive = model.p_alive(*EXTREME_CUSTOMERS)
        assert np.all((alive >= 0) & (alive <= 1))
        for t in (1.0, 52.0, 1e5):
            expected = model.expected_purchases(t, *EXTREME_CUSTOMERS)
            assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
        assert np.all(np.isfinite(model.expected_purchases_new([1.0, 52.0, 1e5])))
        probabilities = model.p_n_purchases([0, 1, 300], 52.0)
        assert np.all(np.isfinite(probabilities)) and np.all(probabilities >= 0)


def _reference_expectation(model, t, x, t_x, T):
    # Direct numerical integration of P(alive) * E_p[g(p)], independent of hyp2f1.
    from valuecrm.engine.models.bgnbd import _expected_given_alive_quadrature

    p = model.params_
    mean = _expected_given_alive_quadrature(
        np.array([t], float),
        np.array([p["r"] + x]),
        np.array([p["alpha"] + T]),
        p["a"],
        np.array([p["b"] + x]),
    )
    return model.p_alive(x, t_x, T)[0] * mean[0]


def test_lifetimes_issue_302_negative_c_gives_finite_expectation():
    # lifetimes#302: x=0, T=1, t=30 with a + b < 1 made log(hyp2f1(...)) NaN/None.
    model = BetaGeo.from_params(r=0.11, alpha=2.24, a=0.31, b=0.50)
    value = model.expected_purchases(30, 0, 0, 1)[0]
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(_reference_expectation(model, 30, 0, 0, 1), rel=1e-4)


def test_lifetimes_pr_206_tiny_a_gives_finite_expectation():
    # lifetimes#206: fitted a≈0.001, b≈0.039 made the hypergeometric term negative.
    model = BetaGeo.from_params(r=0.5458741247391189, alpha=13.409316394557274,
                                a=0.0009994943799344323, b=0.03899022143378801)  # fmt: skip
    for x, t_x, T in [(0, 0, 10), (1, 5, 10), (20, 40, 52)]:
        value = model.expected_purchases(10, x, t_x, T)[0]
        assert np.isfinite(value) and value >= 0
        assert value == pytest.approx(_reference_expectation(model, 10, x, t_x, T), rel=1e-3)


def test_frequent_buyer_long_horizon_matches_quadrature():
    # x in the hundreds and z -> 1: the raw 2F1(r+x, b+x; a+b+x-1; z) overflows.
    model = BetaGeo.from_params(**PAPER)
    for t in (52.0, 520.0, 1e5):
        value = model.expected_purchases(t, 300, 70.0, 78.0)[0]
        assert value == pytest.approx(_reference_expectation(model, t, 300, 70.0, 78.0), rel=1e-4)
