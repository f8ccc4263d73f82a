import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from valuecrm.engine import deals_model


def _frame(n=400, seed=1):
    rng = np.random.default_rng(seed)
    source = rng.choice(["referral", "outbound"], size=n)
    won = (rng.random(n) < np.where(source == "referral", 0.8, 0.2)).astype(int)
    return pd.DataFrame({
        "won": won, "closed_at": pd.date_range("2025-01-01", periods=n, freq="D", tz="UTC"),
        "stage_default": 0.5, "stage": "Proposal", "source": source, "owner": "1", "tier": "B",
        "amount": 1000.0, "age_days": 10.0, "days_in_stage": 3.0, "owner_win_rate": 0.5, "activities_14d": 1.0,
        "clv": 100.0, "p_alive": 0.8, "past_orders": 0.0,
    })


def test_naive_bayes_matches_odoo_smoothing_by_hand():
    frame = deals_model.prepare(pd.DataFrame({
        "stage": ["a", "a", "b", "b"], "source": ["x", "x", "x", "y"], "owner": "1", "tier": "B",
        "amount": 100.0, "age_days": 1.0, "days_in_stage": 1.0, "owner_win_rate": 0.5, "activities_14d": 0.0,
        "clv": 0.0, "p_alive": 0.5, "past_orders": 0.0}))
    y = [1, 1, 0, 0]
    model = deals_model.NaiveBayesWinModel(fields=("stage", "source")).fit(frame, y)
    p = model.predict_proba(frame.iloc[[0]])[0]
    # stage a: won 2/2, lost 0/2; source x: won 2/2, lost 1/2; (count + 0.1) / (total + 0.2)
    won = 0.5 * (2.1 / 2.2) * (2.1 / 2.2)
    lost = 0.5 * (0.1 / 2.2) * (1.1 / 2.2)
    assert p == pytest.approx(won / (won + lost), rel=1e-9)


def test_time_split_keeps_the_latest_quarter_for_testing():
    train, test, split_at = deals_model.time_split(_frame(100))
    assert (len(train), len(test)) == (75, 25)
    assert train["closed_at"].max() < test["closed_at"].min() == split_at


def test_evaluate_learns_the_signal_and_beats_the_stage_default():
    result = deals_model.evaluate(_frame())
    assert result["n_train"] == 300 and result["n_test"] == 100
    assert result["chosen"] in ("naive_bayes", "logistic")
    assert result["brier_model"] == min(result["brier_naive_bayes"], result["brier_logistic"])
    assert result["brier_model"] <= 0.9 * result["brier_stage_default"]
    assert result["roc_auc"] > 0.7
    probs, factors = deals_model.predict(result["model"], _frame(2, seed=5))
    assert all(0 < p < 1 for p in probs) and all(isinstance(f, list) for f in factors)


def test_too_few_closed_deals_falls_back_to_the_stage_default():
    result = deals_model.evaluate(_frame(8))
    assert result["chosen"] == "stage_default" and result["model"] is None


def test_brier_is_the_mean_squared_error():
    assert deals_model.brier([1, 0], [0.5, 0.25]) == pytest.approx((0.25 + 0.0625) / 2)
    assert math.isnan(deals_model.brier([], []))


def test_retrain_predicts_open_deals_and_never_touches_manual(rep_north, north_customer, make_deal, stages,
                                                               pipeline):
    from valuecrm.deals import services
    from valuecrm.deals.models import Deal, DealStageLog, LostReason, WinModel
    from valuecrm.deals.win_model import retrain

    reason = LostReason.objects.first()
    start = timezone.now() - timedelta(days=300)
    for i in range(40):
        won = i % 3 != 0
        d = make_deal(rep_north, north_customer, name=f"h{i}", amount=str(1000 + i),
                      source="referral" if won else "outbound")
        Deal.objects.filter(pk=d.pk).update(opened_at=start + timedelta(days=i * 5))
        DealStageLog.objects.filter(deal=d).update(changed_at=start + timedelta(days=i * 5))
        services.deal_move_stage(actor=rep_north, deal=d, stage_id=stages["Won" if won else "Lost"].pk,
                                 lost_reason_id=reason.pk, when=start + timedelta(days=i * 5 + 4))
    manual = make_deal(rep_north, north_customer, name="manual", probability=0.33, source="outbound")
    auto = make_deal(rep_north, north_customer, name="auto", source="referral")
    row = retrain(pipeline)
    assert WinModel.objects.count() == 1 and (row.n_train, row.n_test) == (30, 10)
    manual.refresh_from_db()
    auto.refresh_from_db()
    assert manual.probability == 0.33 and manual.predicted_probability is not None
    assert auto.probability is None and auto.predicted_probability > manual.predicted_probability
    assert auto.prediction_factors and {"feature", "value", "effect"} == set(auto.prediction_factors[0])
