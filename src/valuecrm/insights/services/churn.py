"""Churn risk for a scoring run: the engine's classifier when history allows, else BG/NBD's
probability of no purchase in the next 90 days.

The classifier needs labelled history: it is trained on features as of
``as_of − h`` with labels from ``(as_of − h, as_of]`` and then scores everyone as
of ``as_of``. With two full windows of history it is first evaluated out of time
(trained at ``as_of − 2h``, tested at ``as_of − h``) next to the BG/NBD baseline,
P(no purchase in the next h days); the one with the lower Brier score on that test
period scores everyone, and the model report shows both. The baseline is also the
fallback: unlike ``1 − P(alive)``, which BG/NBD
sets to 0 for every one-time buyer (a customer can only drop out after a repeat
purchase), it ranks them by how long they have been quiet (CDNOW: ROC-AUC 0.788
against 0.333 for ``1 − P(alive)``; tests/engine/test_churn.py).

Training uses a fixed-seed sample of at most ``MAX_TRAIN`` customers: a
15-leaf boosted model gains nothing from more, and it keeps a 100k-customer run
fast. Scoring always covers every customer.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from valuecrm.engine.churn import (
    ChurnModel,
    build_churn_features,
    calibration_table,
    churn_labels,
    churn_metrics,
    p_no_purchase,
)
from valuecrm.engine.models import BetaGeo

HORIZON_DAYS = 90
MIN_CUSTOMERS = 200
MAX_TRAIN = 20_000
SEED = 0


def _features(days: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return build_churn_features(days[days["date"] <= cutoff], cutoff, customer_id_col="customer_id",
                                datetime_col="date", monetary_value_col="amount")


def _labels(days: pd.DataFrame, cutoff: pd.Timestamp, index: pd.Index) -> pd.Series:
    return churn_labels(days, cutoff, HORIZON_DAYS, index, customer_id_col="customer_id", datetime_col="date")


def _sample(x: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    if len(x) <= MAX_TRAIN:
        return x, y
    rows = np.sort(np.random.default_rng(SEED).choice(len(x), MAX_TRAIN, replace=False))
    return x.iloc[rows], y.iloc[rows]


def _usable(labels: pd.Series) -> bool:
    return len(labels) >= MIN_CUSTOMERS and 0 < int(labels.sum()) < len(labels)


def churn_risk(
    days: pd.DataFrame, as_of: dt.date, index: pd.Index, p_alive: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Churn risk per customer of ``index`` and the metrics for the model report."""
    as_of_ts = pd.Timestamp(as_of)
    cut1 = as_of_ts - pd.Timedelta(days=2 * HORIZON_DAYS)
    cut2 = as_of_ts - pd.Timedelta(days=HORIZON_DAYS)
    days = days[days["date"] <= as_of_ts]
    if days.empty or days["date"].min() > cut1:
        return _fallback(days, as_of_ts, index, p_alive,
                         "history shorter than two 90-day windows")
    x1 = _features(days, cut1)
    y1 = _labels(days, cut1, x1.index)
    x2 = _features(days, cut2)
    y2 = _labels(days, cut2, x2.index)
    if not (_usable(y1) and _usable(y2)):
        return _fallback(days, as_of_ts, index, p_alive,
                         f"fewer than {MIN_CUSTOMERS} labelled customers")

    # One OpenMP thread: on a busy server (web + worker) the boosted trees' thread
    # barriers make multi-threaded fits 10-20× slower, not faster.
    with threadpool_limits(limits=1, user_api="openmp"):
        evaluation = ChurnModel().fit(*_sample(x1, y1))
        p_test = evaluation.predict_proba(x2)[:, 1]
        p_base = _no_purchase_risk(_sample(x1, y1)[0], x2)
        y_test = y2.to_numpy()
        metrics, baseline_metrics = churn_metrics(y_test, p_test), churn_metrics(y_test, p_base)
        # Whichever predicted the later period better (Brier score: the risk is used as a
        # probability, in value at risk) scores everyone now, as for BG/NBD vs Pareto/NBD.
        classifier_wins = metrics["brier"] <= baseline_metrics["brier"]
        now = _features(days, as_of_ts)
        if classifier_wins:
            risk = ChurnModel().fit(*_sample(x2, y2)).predict_churn_risk(now).reindex(index)
        else:
            risk = pd.Series(_no_purchase_risk(now, now), index=now.index).reindex(index)
    values = np.where(risk.isna().to_numpy(), 1.0 - p_alive, risk.fillna(0.0).to_numpy(dtype=float))
    return np.clip(values, 0.0, 1.0), {
        "method": "classifier" if classifier_wins else "p_no_purchase",
        "reason": "" if classifier_wins else "lower Brier score than the classifier on the test period",
        "baseline": "p_no_purchase",  # runs before 2026-11-27 compared with 1 − P(alive)
        "horizon_days": HORIZON_DAYS,
        "train_cutoff": cut1.date().isoformat(),
        "test_cutoff": cut2.date().isoformat(),
        "train_customers": int(min(len(x1), MAX_TRAIN)),
        "metrics": _floats(metrics),
        "baseline_metrics": _floats(baseline_metrics),
        "calibration": _table(calibration_table(y_test, p_test)),
        "baseline_calibration": _table(calibration_table(y_test, p_base)),
    }


def _fallback(days: pd.DataFrame, as_of: pd.Timestamp, index: pd.Index, p_alive: np.ndarray,
              reason: str) -> tuple[np.ndarray, dict]:
    """Without enough history for the classifier: BG/NBD's P(no purchase in 90 days),
    or 1 − P(alive) of the run's own model if even BG/NBD cannot be fitted."""
    if not days.empty:
        features = _features(days, as_of)
        try:
            risk = pd.Series(_no_purchase_risk(features, features), index=features.index)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            pass  # e.g. a handful of customers, all bought once: nothing to fit
        else:
            risk = risk.reindex(index)
            if np.isfinite(risk.to_numpy(dtype=float)).any():
                values = np.where(risk.isna().to_numpy(), 1.0 - p_alive, risk.to_numpy(dtype=float))
                return np.clip(values, 0.0, 1.0), {"method": "p_no_purchase", "reason": reason,
                                                   "horizon_days": HORIZON_DAYS}
    return 1.0 - p_alive, {"method": "p_alive", "reason": reason}


def _no_purchase_risk(train: pd.DataFrame, score: pd.DataFrame) -> np.ndarray:
    """P(no purchase in the next 90 days) of a BG/NBD fitted (in weeks) on ``train``,
    for the customers of ``score``."""
    def weeks(frame):
        return (frame["frequency"].to_numpy(float), frame["recency"].to_numpy(float) / 7.0,
                frame["T"].to_numpy(float) / 7.0)

    model = BetaGeo().fit(*weeks(train))
    return np.asarray(p_no_purchase(model, *weeks(score), HORIZON_DAYS / 7.0), dtype=float)


def _floats(mapping) -> dict:
    return {str(k): float(v) for k, v in mapping.items()}


def _table(calibration: pd.DataFrame) -> list[dict]:
    return [
        {"bin": int(b), "n": int(r["n"]), "mean_predicted": float(r["mean_predicted"]),
         "observed": float(r["observed"])}
        for b, r in calibration.iterrows()
    ]
