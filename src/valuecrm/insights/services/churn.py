"""Churn risk for a scoring run: the engine's classifier when history allows, else 1 − P(alive).

The classifier needs labelled history: train on features as of ``as_of − h`` with
labels from ``(as_of − h, as_of]``. With two full windows of history it is also
evaluated out of time (train at ``as_of − 2h``, test at ``as_of − h``) so the
model report can show its metrics and calibration next to the P(alive) baseline.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from valuecrm.engine.churn import ChurnModel, build_churn_features, churn_labels, evaluate_churn

HORIZON_DAYS = 90
MIN_CUSTOMERS = 200


def _frame_kwargs():
    return {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}


def _labelled(days: pd.DataFrame, cutoff: pd.Timestamp):
    features = build_churn_features(days[days["date"] <= cutoff + pd.Timedelta(days=HORIZON_DAYS)],
                                    cutoff, **_frame_kwargs())
    labels = churn_labels(days, cutoff, HORIZON_DAYS, features.index,
                          customer_id_col="customer_id", datetime_col="date")
    return features, labels


def _usable(labels: pd.Series) -> bool:
    return len(labels) >= MIN_CUSTOMERS and 0 < int(labels.sum()) < len(labels)


def churn_risk(
    days: pd.DataFrame, as_of: dt.date, index: pd.Index, p_alive: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Churn risk per customer of ``index`` and the metrics for the model report."""
    fallback = 1.0 - p_alive
    as_of_ts = pd.Timestamp(as_of)
    cut1 = as_of_ts - pd.Timedelta(days=2 * HORIZON_DAYS)
    cut2 = as_of_ts - pd.Timedelta(days=HORIZON_DAYS)
    if days.empty or days["date"].min() > cut1:
        return fallback, {"method": "p_alive", "reason": "history shorter than two 90-day windows"}
    days = days[days["date"] <= as_of_ts]
    x1, y1 = _labelled(days, cut1)
    x2, y2 = _labelled(days, cut2)
    if not (_usable(y1) and _usable(y2)):
        return fallback, {"method": "p_alive", "reason": f"fewer than {MIN_CUSTOMERS} labelled customers"}

    report = _evaluate(days, cut1, cut2, x1, y1, x2, y2)
    final = ChurnModel().fit(x2, y2)
    current = build_churn_features(days, as_of_ts, **_frame_kwargs())
    risk = final.predict_churn_risk(current).reindex(index)
    # A buyer without features (cannot happen with the same orders) keeps the baseline.
    values = np.where(risk.isna().to_numpy(), fallback, risk.to_numpy(dtype=float, na_value=0.0))
    return values, {
        "method": "classifier",
        "horizon_days": HORIZON_DAYS,
        "train_cutoff": cut1.date().isoformat(),
        "test_cutoff": cut2.date().isoformat(),
        **report,
    }


def _evaluate(days, cut1, cut2, x1, y1, x2, y2) -> dict:
    """Out-of-time metrics and calibration, with the BG/NBD 1 − P(alive) baseline if possible."""
    try:
        ev = evaluate_churn(days, cut1, cut2, HORIZON_DAYS, **_frame_kwargs())
    except ValueError:
        # e.g. the last order is more than a week before as_of: evaluate the classifier alone.
        result = ChurnModel().fit(x1, y1).evaluate(x2, y2)
        return {"metrics": _floats(result["metrics"]), "calibration": _table(result["calibration"])}
    return {
        "metrics": _floats(ev.metrics.loc["churn_model"].to_dict()),
        "baseline_metrics": _floats(ev.metrics.loc["bgnbd_p_alive"].to_dict()),
        "calibration": _table(ev.calibration["churn_model"]),
        "baseline_calibration": _table(ev.calibration["bgnbd_p_alive"]),
    }


def _floats(mapping) -> dict:
    return {str(k): float(v) for k, v in mapping.items()}


def _table(calibration: pd.DataFrame) -> list[dict]:
    return [
        {"bin": int(b), "n": int(r["n"]), "mean_predicted": float(r["mean_predicted"]),
         "observed": float(r["observed"])}
        for b, r in calibration.iterrows()
    ]
