"""Churn risk for a scoring run: the engine's classifier when history allows, else 1 − P(alive).

The classifier needs labelled history: it is trained on features as of
``as_of − h`` with labels from ``(as_of − h, as_of]`` and then scores everyone as
of ``as_of``. With two full windows of history it is first evaluated out of time
(trained at ``as_of − 2h``, tested at ``as_of − h``) next to the BG/NBD
``1 − P(alive)`` baseline, so the model report can show metrics and calibration.

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
    fallback = 1.0 - p_alive
    as_of_ts = pd.Timestamp(as_of)
    cut1 = as_of_ts - pd.Timedelta(days=2 * HORIZON_DAYS)
    cut2 = as_of_ts - pd.Timedelta(days=HORIZON_DAYS)
    days = days[days["date"] <= as_of_ts]
    if days.empty or days["date"].min() > cut1:
        return fallback, {"method": "p_alive", "reason": "history shorter than two 90-day windows"}
    x1 = _features(days, cut1)
    y1 = _labels(days, cut1, x1.index)
    x2 = _features(days, cut2)
    y2 = _labels(days, cut2, x2.index)
    if not (_usable(y1) and _usable(y2)):
        return fallback, {"method": "p_alive", "reason": f"fewer than {MIN_CUSTOMERS} labelled customers"}

    # One OpenMP thread: on a busy server (web + worker) the boosted trees' thread
    # barriers make multi-threaded fits 10-20× slower, not faster.
    with threadpool_limits(limits=1, user_api="openmp"):
        evaluation = ChurnModel().fit(*_sample(x1, y1))
        p_test = evaluation.predict_proba(x2)[:, 1]
        p_base = _p_alive_baseline(_sample(x1, y1)[0], x2)
        final = ChurnModel().fit(*_sample(x2, y2))
        risk = final.predict_churn_risk(_features(days, as_of_ts)).reindex(index)
    values = np.where(risk.isna().to_numpy(), fallback, risk.fillna(0.0).to_numpy(dtype=float))
    y_test = y2.to_numpy()
    return values, {
        "method": "classifier",
        "horizon_days": HORIZON_DAYS,
        "train_cutoff": cut1.date().isoformat(),
        "test_cutoff": cut2.date().isoformat(),
        "train_customers": int(min(len(x1), MAX_TRAIN)),
        "metrics": _floats(churn_metrics(y_test, p_test)),
        "baseline_metrics": _floats(churn_metrics(y_test, p_base)),
        "calibration": _table(calibration_table(y_test, p_test)),
        "baseline_calibration": _table(calibration_table(y_test, p_base)),
    }


def _p_alive_baseline(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """1 − P(alive) of a BG/NBD fitted (in weeks) on the training customers."""
    def weeks(frame):
        return (frame["frequency"].to_numpy(float), frame["recency"].to_numpy(float) / 7.0,
                frame["T"].to_numpy(float) / 7.0)

    model = BetaGeo().fit(*weeks(train))
    return 1.0 - np.asarray(model.p_alive(*weeks(test)), dtype=float)


def _floats(mapping) -> dict:
    return {str(k): float(v) for k, v in mapping.items()}


def _table(calibration: pd.DataFrame) -> list[dict]:
    return [
        {"bin": int(b), "n": int(r["n"]), "mean_predicted": float(r["mean_predicted"]),
         "observed": float(r["observed"])}
        for b, r in calibration.iterrows()
    ]
