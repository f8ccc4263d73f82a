"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013 note) on CDNOW."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine.models import GammaGamma

# "The Gamma-Gamma model of monetary value" (Fader & Hardie 2013): 946 repeat
# customers, mean repeat-transaction value in weeks 1-39 -> p=6.25, q=3.74, gamma=15.44.
PAPER = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def repeaters(cdnow_summary):
    return cdnow_summary[cdnow_summary["frequency"] > 0]


@pytest.fixture(scope="module")
def cdnow_gg(repeaters):
    return GammaGamma().fit(repeaters["frequency"], repeaters["monetary_value"])


def test_cdnow_fit_matches_note(repeaters, cdnow_gg):
    assert len(repeaters) == 946
    for name, value in PAPER.items():
        assert round(cdnow_gg.params_[name], 2) == value
    assert cdnow_gg.n_ == 946
    assert cdnow_gg.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)


def test_expected_spend_is_the_weighted_average(cdnow_gg):
    p, q, gamma = (cdnow_gg.params_[k] for k in ("p", "q", "gamma"))
    population = p * gamma / (q - 1)
    assert cdnow_gg.mean_spend() == pytest.approx(population)
    x, m = np.array([1.0, 5.0, 50.0]), np.array([20.0, 40.0, 100.0])
    weight = p * x / (p * x + q - 1)
    expected = (1 - weight) * population + weight * m
    np.testing.assert_allclose(cdnow_gg.expected_spend(x, m), expected, rtol=1e-12)
    # No history: the population mean.
    assert cdnow_gg.expected_spend(0, 0)[0] == pytest.approx(population)


def test_collapse_and_weights(repeaters, cdnow_gg):
    plain = GammaGamma(collapse=False).fit(repeaters["frequency"], repeaters["monetary_value"])
    doubled = GammaGamma().fit(
        repeaters["frequency"], repeaters["monetary_value"], weights=np.full(len(repeaters), 2.0)
    )
    for name in PAPER:
        assert plain.params_[name] == pytest.approx(cdnow_gg.params_[name], rel=1e-6)
        assert doubled.params_[name] == pytest.approx(cdnow_gg.params_[name], rel=1e-5)
    assert doubled.log_likelihood_ == pytest.approx(2 * cdnow_gg.log_likelihood_, rel=1e-9)


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([0, 1], [0.0, 10.0], "frequency must be > 0"),
        ([1, 2], [0.0, 10.0], "monetary_value must be > 0"),
        ([1, 2], [-5.0, 10.0], "monetary_value must be non-negative"),
        ([1, 2], [np.nan, 10.0], "monetary_value contains NaN"),
        ([1.5, 2], [5.0, 10.0], "whole numbers"),
        ([1], [5.0, 10.0], "same length"),
        ([], [], "empty input"),
    ],
)
def test_bad_input_is_a_clear_error(frequency, monetary, message):
    with pytest.raises(ValueError, match=message):
        GammaGamma().fit(frequency, monetary)


def test_infinite_mean_spend_is_an_error():
    model = GammaGamma.from_params(p=1.0, q=0.5, gamma=10.0)
    with pytest.raises(ValueError, match="infinite"):
        model.expected_spend(0, 0)
    assert model.mean_spend() == float("inf")


def test_recovers_simulated_parameters():
    rng = np.random.default_rng(3)
    p, q, gamma, n = 6.0, 4.0, 15.0, 20_000
    x = rng.integers(1, 15, n)
    nu = rng.gamma(q, 1 / gamma, n)
    spend = np.array([rng.gamma(p, 1 / v, k).mean() for v, k in zip(nu, x, strict=True)])
    model = GammaGamma().fit(x, spend)
    for name, value in {"p": p, "q": q, "gamma": gamma}.items():
        assert abs(model.params_[name] - value) < max(
            4 * model.standard_errors_[name], 0.05 * value
        )


@settings(max_examples=100, deadline=None)
@given(
    p=st.floats(1e-3, 1e3), q=st.floats(1.01, 1e3), gamma=st.floats(1e-3, 1e4),
    x=st.integers(0, 500), m=st.floats(0, 1e6),
)  # fmt: skip
def test_expected_spend_between_prior_and_observed_mean(p, q, gamma, x, m):
    model = GammaGamma.from_params(p=p, q=q, gamma=gamma)
    value = model.expected_spend(x, m)[0]
    prior = p * gamma / (q - 1)
    assert np.isfinite(value)
    assert (
        min(prior, m if x else prior) * (1 - 1e-9)
        <= value
        <= max(prior, m if x else prior) * (1 + 1e-9)
    )
