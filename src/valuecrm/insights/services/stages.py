"""Lifecycle stages from the rules in DESIGN.md, each customer judged by their own rhythm.

Pure and vectorised: a frame of buyers in, a stage, the date it started and a
reason (code + numbers, rendered in the reader's language later) out.

Order of precedence: churned → reactivated → at risk → loyal → growing → new.
A one-time buyer has no rhythm of their own; the store's median interval stands in,
and a one-time buyer who did not come back within the "new" window is at risk.

"At risk" needs the churn model to agree: a signal (long gap, low P(alive), spend
down, no second order) only makes a customer at risk when their churn risk is at
least ``rules.at_risk_min_churn_risk``. Otherwise they keep their active stage and
the reason says "slowing down — the model still expects a purchase (NN %)", so
the stage and the churn risk shown next to it never tell two stories
(docs/metrics.md, "One story per customer").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from valuecrm.insights.models import LifecycleRules, Stage

INACTIVE = (Stage.AT_RISK.value, Stage.CHURNED.value)


def store_interval(interval_days: np.ndarray) -> float:
    """Median days between orders of repeat buyers (the rhythm of the typical customer)."""
    known = interval_days[np.isfinite(interval_days) & (interval_days > 0)]
    return float(np.median(known)) if known.size else 90.0


def stage_signals(buyers: pd.DataFrame, as_of: dt.date, rules: LifecycleRules) -> pd.DataFrame:
    """The rule signals behind the stages, one boolean (or number) column each.

    Shared by :func:`assign_stages` and the consistency check, so both read the rules
    the same way: gap, tenure and rhythm in days; churn_gap, churn_p; gap_risk, p_risk,
    spend_risk, no_second; model_agrees (churn risk at least the at-risk minimum).
    """
    as_of_ts = pd.Timestamp(as_of)
    first = pd.to_datetime(buyers["first_purchase"])
    last = pd.to_datetime(buyers["last_purchase"])
    gap = ((as_of_ts - last) / pd.Timedelta(days=1)).to_numpy(float)
    tenure = ((as_of_ts - first) / pd.Timedelta(days=1)).to_numpy(float)
    frequency = buyers["frequency"].to_numpy(float)
    interval = buyers["interval_days"].to_numpy(float)
    rhythm = np.where(np.isfinite(interval) & (interval > 0), interval, store_interval(interval))
    p_alive = buyers["p_alive"].to_numpy(float)
    spend_last = buyers["spend_last"].to_numpy(float)
    spend_prev = buyers["spend_prev"].to_numpy(float)
    risk = buyers["risk"].to_numpy(float) if "risk" in buyers else np.ones(len(buyers))
    repeat = frequency >= 1
    return pd.DataFrame({
        "gap": gap, "tenure": tenure, "rhythm": rhythm,
        "churn_gap": gap > np.maximum(rules.churned_min_gap_days, rules.churned_gap_factor * rhythm),
        "churn_p": p_alive < rules.churned_p_alive,
        "gap_risk": repeat & (gap > rules.at_risk_gap_factor * rhythm),
        "p_risk": p_alive < rules.at_risk_p_alive,
        "spend_risk": (spend_prev > 0) & (spend_last < (1.0 - rules.at_risk_spend_drop) * spend_prev),
        "no_second": ~repeat & (tenure > rules.new_days),
        "model_agrees": ~(risk < rules.at_risk_min_churn_risk),  # NaN risk: no model to disagree
    }, index=buyers.index)


def assign_stages(buyers: pd.DataFrame, as_of: dt.date, rules: LifecycleRules) -> pd.DataFrame:
    """Stages for buyers.

    ``buyers`` columns: frequency, n_orders, first_purchase, last_purchase (dates),
    interval_days (NaN for one-time buyers), p_alive, spend_last, spend_prev,
    prev_stage ('' when never scored), prev_since (date or None), and optionally
    risk (churn risk in [0, 1]; without it the model is taken to agree).

    Returns a frame (same index) with stage, stage_since, reason (dict).
    """
    n = len(buyers)
    as_of_ts = pd.Timestamp(as_of)
    last = pd.to_datetime(buyers["last_purchase"])
    signals = stage_signals(buyers, as_of, rules)
    gap, tenure, rhythm = (signals[c].to_numpy(float) for c in ("gap", "tenure", "rhythm"))
    frequency = buyers["frequency"].to_numpy(float)
    n_orders = buyers["n_orders"].to_numpy(float)
    interval = buyers["interval_days"].to_numpy(float)
    p_alive = buyers["p_alive"].to_numpy(float)
    spend_last = buyers["spend_last"].to_numpy(float)
    spend_prev = buyers["spend_prev"].to_numpy(float)
    risk = buyers["risk"].to_numpy(float) if "risk" in buyers else np.ones(n)
    prev_stage = buyers["prev_stage"].fillna("").to_numpy(object)
    prev_since = pd.to_datetime(buyers["prev_since"])
    repeat = frequency >= 1

    churn_gap, churn_p = signals["churn_gap"].to_numpy(), signals["churn_p"].to_numpy()
    churned = churn_gap | churn_p

    came_back = np.isin(prev_stage, INACTIVE) & (last > prev_since).to_numpy()
    still_reactivated = (prev_stage == Stage.REACTIVATED) & (
        ((as_of_ts - prev_since) / pd.Timedelta(days=1)).to_numpy(float) <= rules.reactivated_days
    )
    reactivated = ~churned & (came_back | still_reactivated)

    gap_risk, p_risk, spend_risk, no_second, model_agrees = (
        signals[c].to_numpy() for c in ("gap_risk", "p_risk", "spend_risk", "no_second", "model_agrees"))
    signal = ~churned & ~reactivated & (gap_risk | p_risk | spend_risk | no_second)
    at_risk = signal & model_agrees
    slowing = signal & ~model_agrees

    active = ~(churned | reactivated | at_risk)
    loyal = active & (n_orders >= rules.loyal_min_orders) & (tenure >= rules.loyal_min_tenure_days)
    growing = active & ~loyal & repeat
    # Tenure <= new_days here, unless a one-time buyer is "slowing" (the model still
    # expects their second order): they stay new until it agrees they are at risk.
    new = active & ~repeat

    stage = np.select(
        [churned, reactivated, at_risk, loyal, growing, new],
        [Stage.CHURNED.value, Stage.REACTIVATED.value, Stage.AT_RISK.value, Stage.LOYAL.value,
         Stage.GROWING.value, Stage.NEW.value],
        default=Stage.NEW.value,
    ).astype(object)

    since = np.empty(n, dtype=object)
    reasons = np.empty(n, dtype=object)
    prev_since_dates = [None if pd.isna(v) else v.date() for v in prev_since]
    for i in range(n):
        since[i] = prev_since_dates[i] if stage[i] == prev_stage[i] and prev_since_dates[i] else as_of
        reasons[i] = _reason(
            stage[i], gap[i], rhythm[i], bool(np.isfinite(interval[i]) and interval[i] > 0),
            p_alive[i], spend_last[i], spend_prev[i], n_orders[i], tenure[i],
            bool(churn_gap[i]), bool(gap_risk[i]), bool(p_risk[i]), bool(spend_risk[i]),
        )
        if slowing[i]:
            reasons[i] = _slowing_reason(reasons[i], risk[i], gap[i], rhythm[i], bool(gap_risk[i]),
                                         bool(p_risk[i]), bool(spend_risk[i]), p_alive[i],
                                         spend_last[i], spend_prev[i])
    return pd.DataFrame({"stage": stage, "stage_since": since, "reason": reasons}, index=buyers.index)


def _slowing_reason(base: dict, risk, gap, rhythm, gap_risk, p_risk, spend_risk, p_alive,
                    spend_last, spend_prev) -> dict:
    """An at-risk signal the churn model does not confirm: the stage stays, the reason says so."""
    if gap_risk:
        signal = "gap"
    elif spend_risk:
        signal = "spend_down"
    elif p_risk:
        signal = "p_alive"
    else:
        signal = "no_second_order"
    reason = {"code": "slowing_expected", "signal": signal, "stage_code": base.get("code", ""),
              "gap_days": int(round(gap)), "interval_days": int(round(rhythm)),
              "p_purchase": round(1.0 - float(risk), 3)}
    if signal == "spend_down":
        reason["drop_pct"] = int(round(100.0 * (1.0 - spend_last / spend_prev)))
    if signal == "p_alive":
        reason["p_alive"] = round(float(p_alive), 3)
    return reason


def _reason(stage, gap, rhythm, own_rhythm, p_alive, spend_last, spend_prev, n_orders, tenure,
            churn_gap, gap_risk, p_risk, spend_risk) -> dict:
    days = int(round(gap))
    usual = int(round(rhythm))
    if stage == Stage.CHURNED:
        if churn_gap:
            return {"code": "long_gap", "gap_days": days, "interval_days": usual}
        return {"code": "p_alive_low", "p_alive": round(float(p_alive), 3), "gap_days": days}
    if stage == Stage.REACTIVATED:
        return {"code": "came_back", "gap_days": days}
    if stage == Stage.AT_RISK:
        if gap_risk:
            return {"code": "gap", "gap_days": days, "interval_days": usual}
        if spend_risk:
            drop = 100.0 * (1.0 - spend_last / spend_prev)
            return {"code": "spend_down", "drop_pct": int(round(drop))}
        if p_risk:
            return {"code": "p_alive", "p_alive": round(float(p_alive), 3), "gap_days": days}
        return {"code": "no_second_order", "gap_days": days}
    if stage == Stage.LOYAL:
        return {"code": "loyal", "orders": int(n_orders), "months": int(tenure // 30)}
    if stage == Stage.GROWING:
        return {"code": "repeat", "orders": int(n_orders), "gap_days": days, "interval_days": usual}
    return {"code": "first_order", "gap_days": days, "interval_days": usual}
