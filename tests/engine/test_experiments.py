"""Hold-out statistics: interval coverage on simulations with a known effect, CUPED
narrowing, SRM detection, stable and balanced hash assignment."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine import experiments as ex


def _simulate(rng, n, effect, holdout=0.1, rho=0.0):
    """Zero-inflated revenue with a pre-period correlated by rho; effect added to treated buyers."""
    pre = rng.gamma(2.0, 50.0, size=n) * (rng.random(n) < 0.6)
    noise = rng.gamma(2.0, 50.0, size=n)
    y = rho * pre + (1 - rho) * noise
    control = rng.random(n) < holdout
    y = np.where(control, y, y + effect)
    return y[~control], pre[~control], y[control], pre[control]


@pytest.mark.parametrize("effect", [0.0, 12.0])
def test_welch_interval_covers_the_truth_in_at_least_93_percent_of_500_simulations(effect):
    rng = np.random.default_rng(12)
    covered = 0
    for _ in range(500):
        yt, _xt, yc, _xc = _simulate(rng, 2000, effect)
        iv = ex.welch_interval(yt, yc)
        covered += iv.low <= effect <= iv.high
    assert covered / 500 >= 0.93


def test_cuped_interval_also_covers_and_is_narrower_with_pre_period_correlation():
    rng = np.random.default_rng(7)
    covered, reductions = 0, []
    for _ in range(500):
        yt, xt, yc, xc = _simulate(rng, 2000, 10.0, rho=0.8)
        res = ex.cuped(yt, xt, yc, xc)
        covered += res.adjusted.low <= 10.0 <= res.adjusted.high
        reductions.append(res.width_reduction)
        assert res.adjusted.width < res.plain.width
    assert covered / 500 >= 0.93
    assert np.mean(reductions) > 0.3


def test_cuped_changes_nothing_without_pre_period_variation():
    y, x = np.arange(100.0), np.zeros(100)
    adjusted, theta = ex.cuped_adjust(y, x)
    assert theta == 0.0
    assert np.array_equal(adjusted, y)


def test_srm_detects_a_broken_split_and_passes_a_fair_one():
    assert ex.srm_p_value(9000, 1000, 10) > 0.5
    assert ex.srm_p_value(9300, 700, 10) < 0.001
    assert ex.srm_p_value(0, 0, 10) == 1.0


def test_hash_assignment_is_stable_and_balanced():
    groups = [ex.assign_group("campaign-1", i, 10) for i in range(20000)]
    again = [ex.assign_group("campaign-1", i, 10) for i in range(20000)]
    assert groups == again
    share = groups.count("control") / len(groups)
    assert 0.09 < share < 0.11
    # Another campaign reshuffles: the same customers are not always the control.
    other = [ex.assign_group("campaign-2", i, 10) for i in range(20000)]
    both = sum(a == b == "control" for a, b in zip(groups, other, strict=True))
    assert both < 0.02 * 20000
    assert ex.srm_p_value(groups.count("treatment"), groups.count("control"), 10) > 0.001


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=20), st.integers(1, 10**9), st.floats(0, 100))
def test_assignment_is_a_pure_function_of_its_inputs(key, cid, pct):
    assert ex.assign_group(key, cid, pct) == ex.assign_group(key, cid, pct)
    assert ex.assign_group(key, cid, 0) == "treatment"
    assert ex.assign_group(key, cid, 100) == "control"


def test_analyse_guards_small_samples_and_scales_to_totals():
    rng = np.random.default_rng(3)
    small = ex.analyse(rng.random(20), rng.random(5), holdout_percent=10)
    assert small.enough_data is False
    assert small.incremental_revenue is None and small.ci_low is None
    yt, xt, yc, xc = _simulate(rng, 5000, 20.0, rho=0.7)
    res = ex.analyse(yt, yc, x_treatment=xt, x_control=xc, holdout_percent=10, cost=1000.0)
    assert res.enough_data is True
    per = yt.mean() - yc.mean()
    assert res.incremental_revenue == pytest.approx(per * yt.size)
    assert res.ci_low < res.incremental_revenue < res.ci_high
    assert res.cuped_ci_high - res.cuped_ci_low < res.ci_high - res.ci_low
    assert res.incremental_roas == pytest.approx(res.incremental_revenue / 1000.0)
    assert res.srm_alarm is False
