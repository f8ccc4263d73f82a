"""The coherence rules: at risk needs the model to agree; too little history is tier N."""

import datetime as dt

import numpy as np
import pandas as pd

from valuecrm.insights.models import LifecycleRules, TierPolicy
from valuecrm.insights.services import stages, tiers

AS_OF = dt.date(2025, 6, 30)


def _buyer(risk):
    return pd.DataFrame({
        "frequency": [10.0], "n_orders": [11.0],
        "first_purchase": [pd.Timestamp("2025-04-01")], "last_purchase": [pd.Timestamp("2025-06-18")],
        "interval_days": [5.0], "p_alive": [0.9], "spend_last": [100.0], "spend_prev": [100.0],
        "prev_stage": [""], "prev_since": [None], "risk": [risk],
    }, index=[1])


def test_gap_with_low_churn_risk_is_slowing_not_at_risk():
    rules = LifecycleRules()  # defaults: gap factor 2, at_risk_min_churn_risk 0.5
    out = stages.assign_stages(_buyer(0.14), AS_OF, rules)
    assert out.loc[1, "stage"] == "growing"
    assert out.loc[1, "reason"] == {"code": "slowing_expected", "signal": "gap", "stage_code": "repeat",
                                    "gap_days": 12, "interval_days": 5, "p_purchase": 0.86}


def test_gap_with_high_churn_risk_is_at_risk():
    out = stages.assign_stages(_buyer(0.5), AS_OF, LifecycleRules())
    assert (out.loc[1, "stage"], out.loc[1, "reason"]["code"]) == ("at_risk", "gap")


def test_too_little_history_is_tier_n_and_never_ranked():
    frequency = np.array([0, 0, 3, 3, 5, 8])
    tenure = np.array([1, 400, 20, 200, 300, 365])
    new = tiers.too_little_history(frequency, tenure, usual_interval_days=30)
    assert new.tolist() == [True, True, True, False, False, False]
    clv = np.array([5000.0, 4000.0, 3000.0, 10.0, 20.0, 30.0])
    out = tiers.assign_tiers_with_new(clv, np.arange(6), TierPolicy(share_a=0.34, share_b=0.33), new)
    assert out.tolist() == ["N", "N", "N", "C", "B", "A"]


def test_card_story_for_slowing_and_new():
    from django.utils import translation

    from valuecrm.insights.models import CustomerValue
    from valuecrm.insights.selectors import value_story

    slowing = CustomerValue(stage="growing", tier="B", churn_risk=0.14, segment="loyal", is_value_customer=True,
                            nba_reason={"code": "slowing_expected", "p_purchase": 0.86})
    with translation.override("en"):
        assert value_story(slowing) == (
            "Slowing down but not at risk: the gap is longer than usual, yet the churn model still expects a "
            "purchase (86%), so the stage stays Growing; a value customer by their history, tier B by "
            "predicted CLV, RFM Loyal.")
    new = CustomerValue(stage="new", tier="N", churn_risk=0.3, n_orders=1, segment="new")
    with translation.override("zh-hans"):
        assert value_story(new).startswith("现在分层还为时过早（1 笔订单）")
