"""The uplift model on simulated hold-out data (no database): where the effect depends
on one feature, the T-learner ranks that group first and its Qini coefficient on an
independent later sample is clearly positive; with no effect at all it is about zero."""

import numpy as np
import pytest

from valuecrm.marketing import uplift

N = 4000
K = len(uplift.FEATURES)


def _campaign(rng, effect: float, holdout: float = 0.3):
    x = rng.normal(size=(N, K))
    responsive = x[:, 0] > 0.5  # about 31 % of customers respond; the rest not at all
    treated = rng.random(N) >= holdout
    base = 40 + 10 * x[:, 1] + rng.gamma(2.0, 20.0, size=N)
    y = base + np.where(treated & responsive, effect, 0.0)
    return x, treated, y, responsive


@pytest.fixture(scope="module")
def effect_run():
    rng = np.random.default_rng(20261207)
    train = _campaign(rng, effect=60.0)
    later = _campaign(rng, effect=60.0)
    model = uplift.fit(train[0], train[1], train[2])
    scores = model.predict(later[0])
    return model, later, scores, uplift.qini(scores, later[1], later[2])


def test_qini_clearly_positive_when_uplift_depends_on_one_feature(effect_run):
    _model, later, _scores, q = effect_run
    x, treated, y, responsive = later
    # What a perfect ranking of the true groups earns over random, for scale.
    ideal = uplift.qini(responsive.astype(float), treated, y)
    assert q.coefficient > 0.6 * ideal.coefficient
    assert q.coefficient > 3.0  # ¥ per customer between the curve and the random line
    assert q.curve[0] == 0.0 and q.fractions[0] == 0.0 and q.fractions[-1] == 1.0
    assert q.random[-1] == q.curve[-1]


def test_ranking_puts_the_responsive_group_first(effect_run):
    model, later, scores, _q = effect_run
    x, _treated, _y, responsive = later
    top = uplift.rank(scores, np.arange(N))[: int(responsive.sum())]
    assert responsive[top].mean() > 0.85
    # The model learned the right feature: its uplift coefficient dominates.
    diff = np.abs(model.coef_t - model.coef_c)
    assert int(np.argmax(diff)) == 0


def test_zero_effect_gives_a_qini_near_zero(effect_run):
    rng = np.random.default_rng(7)
    train, later = _campaign(rng, effect=0.0), _campaign(rng, effect=0.0)
    model = uplift.fit(train[0], train[1], train[2])
    q = uplift.qini(model.predict(later[0]), later[1], later[2])
    assert abs(q.coefficient) < 0.15 * effect_run[3].coefficient


def test_model_round_trips_through_json(effect_run):
    model, later, scores, _q = effect_run
    again = uplift.TwoModel.from_json(model.to_json())
    assert np.allclose(again.predict(later[0]), scores)


def test_rank_is_stable_on_ties():
    order = uplift.rank(np.array([1.0, 2.0, 2.0, 1.0]), np.array([40, 30, 10, 20]))
    assert order.tolist() == [2, 1, 3, 0]


def test_enough_needs_both_groups():
    assert not uplift.enough(np.array([True] * 100 + [False] * 29))
    assert uplift.enough(np.array([True] * 30 + [False] * 30))
