"""MBG/NBD (Batislam, Denizel & Filiztekin 2007) against BTYDplus' CDNOW estimates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine.models import BetaGeo, ModifiedBetaGeo

# BTYDplus (mplatzer) mbgnbd on the CDNOW summary, as asserted in lifetimes' test suite.
BTYDPLUS = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


@pytest.fixture(scope="module")
def cdnow_mbgnbd(cdnow_summary):
    s = cdnow_summary
    return ModifiedBetaGeo().fit(s["frequency"], s["recency"], s["T"])


def test_cdnow_fit_matches_btydplus(cdnow_mbgnbd):
    for name, value in BTYDPLUS.items():
        assert round(cdnow_mbgnbd.params_[name], 3) == value
    assert cdnow_mbgnbd.log_likelihood_ == pytest.approx(-9582.13, abs=0.01)
    assert cdnow_mbgnbd.converged_


def test_collapsing_rows_gives_identical_fit(cdnow_summary, cdnow_mbgnbd):
    s = cdnow_summary
    plain = ModifiedBetaGeo(collapse=False).fit(s["frequency"], s["recency"], s["T"])
    for name in BTYDPLUS:
        assert plain.params_[name] == pytest.approx(cdnow_mbgnbd.params_[name], rel=1e-5)


def test_close_to_bgnbd_on_hardie_examples(cdnow_mbgnbd):
    # lifetimes checks the MBG/NBD against the BG/NBD Excel values within 5 %.
    assert cdnow_mbgnbd.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=0.05)
    times = np.array([0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    np.testing.assert_allclose(cdnow_mbgnbd.expected_purchases_new(times), expected, rtol=0.05)


def test_no_repeat_customer_may_be_dead(cdnow_mbgnbd):
    # Unlike BG/NBD, a customer can drop out right after the first purchase.
    alive = cdnow_mbgnbd.p_alive(0, 0, 38.86)[0]
    p = cdnow_mbgnbd.params_
    expected = 1 / (1 + p["a"] / p["b"] * ((p["alpha"] + 38.86) / p["alpha"]) ** p["r"])
    assert alive == pytest.approx(expected, rel=1e-12)
    assert alive < 1


def test_likelihood_matches_closed_form_for_one_customer():
    from scipy.special import betaln, gammaln

    r, alpha, a, b = 0.5, 6.0, 0.9, 1.6
    x, t_x, T = 3.0, 20.0, 38.0
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    expected = head + np.log(
        np.exp(betaln(a, b + x + 1) - (r + x) * np.log(alpha + T))
        + np.exp(betaln(a + 1, b + x) - (r + x) * np.log(alpha + t_x))
    )
    model = ModifiedBetaGeo()
    data = model._prepare((np.array([x]), np.array([t_x]), np.array([T])), np.ones(1))
    nll, _ = model._negative_log_likelihood_and_gradient(np.log([r, alpha, a, b]), data, np.ones(1))
    assert -nll == pytest.approx(expected, rel=1e-12)


def test_p_n_purchases_is_a_distribution():
    model = ModifiedBetaGeo.from_params(**BTYDPLUS)
    probabilities = model.p_n_purchases(np.arange(0, 3000), 39)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    # E[X(t)] from the pmf equals the closed form.
    mean = (np.arange(0, 3000) * probabilities).sum()
    assert mean == pytest.approx(model.expected_purchases_new(39)[0], rel=1e-6)


def test_bgnbd_pmf_mean_equals_closed_form():
    model = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    probabilities = model.p_n_purchases(np.arange(0, 5000), 39)
    mean = (np.arange(0, 5000) * probabilities).sum()
    assert mean == pytest.approx(model.expected_purchases_new(39)[0], rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    r=st.floats(0.01, 20), alpha=st.floats(0.01, 200), a=st.floats(0.01, 20), b=st.floats(0.01, 20),
    x=st.integers(0, 300), share=st.floats(0, 1), T=st.floats(0.01, 1e5),
)  # fmt: skip
def test_p_alive_in_unit_interval_and_expectation_finite(r, alpha, a, b, x, share, T):
    model = ModifiedBetaGeo.from_params(r=r, alpha=alpha, a=a, b=b)
    t_x = share * T if x > 0 else 0.0
    alive = model.p_alive(x, t_x, T)[0]
    assert 0 <= alive <= 1
    values = model.expected_purchases(np.array([1.0, 10.0, 100.0]), x, t_x, T)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert np.all(np.diff(values) >= -1e-4 * np.maximum(values[1:], 1e-3))
