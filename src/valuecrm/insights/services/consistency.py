"""Do the signals agree? A scoring run's check that stage, churn risk, tier, RFM and the
value-customer flag tell one story per customer.

Each check looks at one pair of signals and counts the customers for whom they
disagree (e.g. RFM "Champions" but lifecycle "At risk"). A disagreement is
*explained* when a documented rule accounts for it — the RFM grid ranks recency
against all customers while the stage judges each customer by their own rhythm,
so a customer who usually buys every 5 days can be a Champion and 12 days quiet —
and *unexplained* otherwise. Unexplained disagreements are defects of the rules or
of the code; the model report shows the counts, and a test asserts there are none
on the demo data. The rules are listed in docs/metrics.md ("Do the signals agree?").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from valuecrm.insights.models import LifecycleRules, Segment, Stage, Tier

ACTIVE = (Stage.NEW.value, Stage.GROWING.value, Stage.LOYAL.value, Stage.REACTIVATED.value)
# RFM segments that say "bought recently" (R 3-5) and "has gone quiet" (R 1-2).
RECENT_SEGMENTS = (Segment.CHAMPIONS.value, Segment.LOYAL.value, Segment.POTENTIAL_LOYALISTS.value,
                   Segment.NEW.value, Segment.PROMISING.value)
LAPSED_SEGMENTS = (Segment.AT_RISK.value, Segment.CANT_LOSE.value, Segment.HIBERNATING.value)
MAX_EXAMPLES = 20


def _pair(code: str, disagree: np.ndarray, rules: list[tuple[str, np.ndarray]], ids: np.ndarray) -> dict:
    """Count a pair: each disagreeing customer is explained by the first rule that holds for them."""
    left = disagree.copy()
    counts: dict[str, int] = {}
    for name, holds in rules:
        hit = left & holds
        if hit.any():
            counts[name] = int(hit.sum())
        left &= ~hit
    n = int(disagree.sum())
    return {"code": code, "disagree": n, "explained": n - int(left.sum()), "unexplained": int(left.sum()),
            "rules": counts, "examples": [int(i) for i in ids[left][:MAX_EXAMPLES]]}


def signal_consistency(buyers: pd.DataFrame, signals: pd.DataFrame, rules: LifecycleRules,
                       new: np.ndarray, value_customer: np.ndarray) -> dict:
    """The consistency report of one run.

    ``buyers``: stage, risk (churn risk), segment, tier, p_alive per buyer;
    ``signals``: stages.stage_signals() of the same buyers; ``new``: too little history;
    ``value_customer``: the value-customer flag.
    """
    ids = buyers.index.to_numpy()
    stage = buyers["stage"].to_numpy(object)
    risk = buyers["risk"].to_numpy(float)
    segment = buyers["segment"].fillna("").to_numpy(object)
    tier = buyers["tier"].to_numpy(object)
    s = {c: signals[c].to_numpy() for c in signals.columns}
    at_risk_signal = s["gap_risk"] | s["p_risk"] | s["spend_risk"] | s["no_second"]
    low_risk = risk < rules.at_risk_min_churn_risk
    active = np.isin(stage, ACTIVE)
    inactive = np.isin(stage, (Stage.AT_RISK.value, Stage.CHURNED.value))
    reactivated = stage == Stage.REACTIVATED.value
    never = np.zeros(len(ids), bool)

    pairs = [
        # The stage says "at risk" or "churned", the churn model says a purchase is likely.
        _pair("stage_vs_churn_risk", inactive & low_risk, [
            ("churned_long_gap", (stage == Stage.CHURNED.value) & s["churn_gap"]),
            ("churned_p_alive", (stage == Stage.CHURNED.value) & s["churn_p"]),
        ], ids),
        # The stage says active, the churn model says they are likely to stop.
        _pair("active_vs_churn_risk", active & ~low_risk, [
            ("no_signal_yet", ~at_risk_signal),
            ("reactivated_window", reactivated),
        ], ids),
        # RFM says recent, the stage says at risk / churned.
        _pair("rfm_recent_vs_stage", np.isin(segment, RECENT_SEGMENTS) & inactive, [
            ("own_rhythm", s["gap_risk"] | s["churn_gap"]),
            ("spend_down", s["spend_risk"]),
            ("p_alive", s["p_risk"] | s["churn_p"]),
            ("no_second_order", s["no_second"]),
        ], ids),
        # RFM says gone quiet, the stage says active.
        _pair("rfm_lapsed_vs_stage", np.isin(segment, LAPSED_SEGMENTS) & active, [
            ("slow_rhythm", ~s["gap_risk"] & ~s["no_second"]),
            ("slowing_model_expects_purchase", at_risk_signal & low_risk),
            ("reactivated_window", reactivated),
        ], ids),
        # A value customer (what they did) who has churned (what they do now).
        _pair("value_customer_vs_churned", value_customer & (stage == Stage.CHURNED.value), [
            ("value_is_history_win_back", np.ones(len(ids), bool)),
        ], ids),
        # Top tier by predicted CLV, but churned.
        _pair("tier_a_vs_churned", (tier == Tier.A.value) & (stage == Stage.CHURNED.value), [
            ("churned_long_gap_model_disagrees", s["churn_gap"] & ~low_risk & ~s["churn_p"]),
        ], ids),
        # Ranked on too little history, or left unranked with enough of it.
        _pair("tier_vs_history", (new & (tier != Tier.N.value)) | (~new & (tier == Tier.N.value)),
              [("never", never)], ids),
    ]
    total = {k: sum(p[k] for p in pairs) for k in ("disagree", "explained", "unexplained")}
    return {"pairs": pairs, "total": total, "customers": len(ids)}
