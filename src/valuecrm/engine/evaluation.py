"""Holdout validation, tracking plots and model selection for purchase models.

The checks follow Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy
Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2):

* **Conditional expectations** (their Fig. 4): fit on the calibration period,
  predict each customer's purchases in the holdout period of length ``t*`` with
  ``E[X(t*) | x, t_x, T]`` and compare with what they actually did — per
  customer (MAE, RMSE), in total, and averaged by calibration frequency 0..7+.
* **Tracking** (their Figs. 2-3): weekly (or per ``unit_days``) repeat purchases
  of the whole cohort over calibration + holdout, actual vs the model's
  ``Σ_i E[X(τ − s_i)]`` where ``s_i`` is customer i's trial time and ``E[X(t)]``
  the unconditional expectation for a new customer.

``select_model`` fits several candidate models on the calibration period and picks
the one with the smallest holdout error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "HoldoutEvaluation",
    "ModelSelection",
    "evaluate_holdout",
    "select_model",
    "tracking_data",
]

_DAY = np.timedelta64(1, "D")


@dataclass
class HoldoutEvaluation:
    """Result of :func:`evaluate_holdout`.

    per_customer : frequency (calibration), expected and actual holdout purchases,
        error = expected − actual; indexed like the summary.
    metrics : mae, rmse, mean_error, total_expected, total_actual,
        total_error_pct (100 · (expected − actual) / actual), n.
    by_frequency : per calibration frequency 0..max_frequency−1 and
        "max_frequency+": n, mean_actual, mean_expected (Fig. 4 of FHL 2005).
    """

    per_customer: pd.DataFrame
    metrics: dict[str, float]
    by_frequency: pd.DataFrame


def _holdout_length(summary: pd.DataFrame, holdout_length) -> np.ndarray | float:
    if holdout_length is not None:
        t = np.asarray(holdout_length, dtype=float)
        if (t <= 0).any():
            raise ValueError("holdout_length must be positive")
        return t
    for col in ("duration_holdout", "T_holdout"):
        if col in summary.columns:
            return summary[col].to_numpy(dtype=float)
    raise ValueError(
        "holdout_length is required (length of the holdout period in the model's time unit) "
        "unless the summary has a 'duration_holdout' column"
    )


def _check_summary(summary: pd.DataFrame) -> None:
    for col in ("frequency", "recency", "T", "frequency_holdout"):
        if col not in summary.columns:
            raise ValueError(
                f"summary has no column {col!r}; summarize(..., calibration_end=...) makes it"
            )


def _is_fitted(model) -> bool:
    return getattr(model, "params_", None) is not None


def evaluate_holdout(
    model,
    summary_with_holdout: pd.DataFrame,
    holdout_length=None,
    *,
    max_frequency: int = 7,
) -> HoldoutEvaluation:
    """Compare a purchase model's holdout forecast with what customers did.

    Parameters
    ----------
    model : a BG/NBD / Pareto/NBD style model with ``fit(frequency, recency, T)``,
        ``params_`` and ``expected_purchases(t, frequency, recency, T)``. An unfitted
        model is fitted on the calibration columns first.
    summary_with_holdout : ``summarize(..., calibration_end=...)`` output with
        ``frequency, recency, T`` (calibration) and ``frequency_holdout``.
    holdout_length : ``t*`` in the model's unit (scalar or per customer); default
        the summary's ``duration_holdout`` column.
    max_frequency : calibration frequencies ``>= max_frequency`` are pooled ("7+").

    Returns
    -------
    HoldoutEvaluation

    Notes
    -----
    ``expected_i = E[X(t*) | x_i, t_x,i, T_i]``; MAE = mean |expected − actual|,
    RMSE = sqrt(mean (expected − actual)²).
    """
    _check_summary(summary_with_holdout)
    t_star = _holdout_length(summary_with_holdout, holdout_length)
    x = summary_with_holdout["frequency"].to_numpy(dtype=float)
    t_x = summary_with_holdout["recency"].to_numpy(dtype=float)
    big_t = summary_with_holdout["T"].to_numpy(dtype=float)
    actual = summary_with_holdout["frequency_holdout"].to_numpy(dtype=float)
    if not _is_fitted(model):
        model.fit(x, t_x, big_t)
    expected = np.asarray(model.expected_purchases(t_star, x, t_x, big_t), dtype=float)
    error = expected - actual
    per_customer = pd.DataFrame(
        {"frequency": x, "expected": expected, "actual": actual, "error": error},
        index=summary_with_holdout.index,
    )
    total_actual = float(actual.sum())
    total_expected = float(expected.sum())
    metrics = {
        "n": int(x.shape[0]),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "mean_error": float(error.mean()),
        "total_expected": total_expected,
        "total_actual": total_actual,
        "total_error_pct": (
            float(100.0 * (total_expected - total_actual) / total_actual)
            if total_actual > 0
            else float("nan")
        ),
    }
    bucket = np.minimum(x, max_frequency).astype(int)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    by = (
        pd.DataFrame({"bucket": bucket, "actual": actual, "expected": expected})
        .groupby("bucket")
        .agg(
            n=("actual", "size"), mean_actual=("actual", "mean"), mean_expected=("expected", "mean")
        )
        .reindex(range(max_frequency + 1))
    )
    by["n"] = by["n"].fillna(0).astype(int)
    by.index = pd.Index(labels, name="calibration_frequency")
    return HoldoutEvaluation(per_customer, metrics, by)


def tracking_data(
    model,
    transactions: pd.DataFrame,
    calibration_end,
    observation_end,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    unit_days: float = 7.0,
    start=None,
) -> pd.DataFrame:
    """Actual vs expected repeat purchases per period over calibration + holdout.

    Purchases are counted per customer-day (several orders on one day are one
    purchase occasion, as in the summaries); each customer's first day is the trial
    and the others are repeat purchases. Periods of ``unit_days`` days start at
    ``start`` (default: the first trial day). The model — fitted on calibration
    data in units of ``unit_days`` — gives the expected cumulative repeat purchases
    at the end of period w as ``Σ_i E[X((τ_w − s_i) / unit_days)]`` over customers
    with ``s_i < τ_w`` (``τ_w = start + w·unit_days``, ``s_i`` the trial day) using
    ``model.expected_purchases_new``. Only customers whose trial is on or before
    ``calibration_end`` form the cohort.

    Returns
    -------
    DataFrame indexed by period 1..W: ``period_end`` (exclusive end date),
    ``actual``, ``expected`` (incremental), ``actual_cumulative``,
    ``expected_cumulative``, ``holdout`` (True after ``calibration_end``).
    """
    if not _is_fitted(model):
        raise ValueError("model must be fitted (on the calibration period) before tracking")
    for col in (customer_id_col, datetime_col):
        if col not in transactions.columns:
            raise ValueError(f"transactions has no column {col!r}")
    cal_end = pd.Timestamp(calibration_end).normalize()
    obs_end = pd.Timestamp(observation_end).normalize()
    if obs_end < cal_end:
        raise ValueError("observation_end must not be before calibration_end")
    days = pd.to_datetime(transactions[datetime_col]).dt.normalize()
    daily = pd.DataFrame(
        {"customer_id": transactions[customer_id_col].to_numpy(), "day": days.to_numpy()}
    ).drop_duplicates()
    daily = daily[daily["day"] <= obs_end]
    trial = daily.groupby("customer_id")["day"].min()
    trial = trial[trial <= cal_end]
    daily = daily[daily["customer_id"].isin(trial.index)]
    t0 = pd.Timestamp(start).normalize() if start is not None else trial.min()
    repeat_days = daily["day"].to_numpy()[
        daily["day"].to_numpy() != trial.reindex(daily["customer_id"]).to_numpy()
    ]
    total_days = (obs_end - t0) / pd.Timedelta(days=1) + 1  # observation_end inclusive
    n_periods = int(np.ceil(total_days / unit_days))
    period_of = np.floor(((repeat_days - t0.to_datetime64()) / _DAY) / unit_days).astype(int) + 1
    period_of = period_of[period_of >= 1]
    actual = np.bincount(period_of, minlength=n_periods + 1)[1 : n_periods + 1].astype(float)

    birth = ((trial.to_numpy() - t0.to_datetime64()) / _DAY).astype(float)
    births, counts = np.unique(birth, return_counts=True)
    tau = np.arange(1, n_periods + 1) * unit_days  # period ends, days after t0
    age = (tau[:, None] - births[None, :]) / unit_days
    alive = age > 0
    ev = np.zeros_like(age)
    ev[alive] = np.asarray(model.expected_purchases_new(age[alive]), dtype=float)
    expected_cum = (ev * counts[None, :]).sum(axis=1)
    period_end = t0 + pd.to_timedelta(tau, unit="D")
    out = pd.DataFrame(
        {
            "period_end": period_end,
            "actual": actual,
            "expected": np.diff(expected_cum, prepend=0.0),
            "actual_cumulative": np.cumsum(actual),
            "expected_cumulative": expected_cum,
            "holdout": (period_end - pd.Timedelta(days=1)) > cal_end,
        },
        index=pd.RangeIndex(1, n_periods + 1, name="period"),
    )
    return out


@dataclass
class ModelSelection:
    """Result of :func:`select_model`: ``winner`` name, ``table`` (one row per
    candidate, sorted best first) and the fitted ``models`` by name."""

    winner: str
    table: pd.DataFrame
    models: dict
    evaluations: dict


def _candidate(name: str):
    if name == "bgnbd":
        from valuecrm.engine.models.bgnbd import BetaGeo

        return BetaGeo()
    if name == "paretonbd":
        from valuecrm.engine.models.paretonbd import ParetoNBD

        return ParetoNBD()
    if name == "mbgnbd":
        from valuecrm.engine.models.mbgnbd import ModifiedBetaGeo

        return ModifiedBetaGeo()
    raise ValueError(f"unknown candidate model {name!r} (bgnbd, paretonbd, mbgnbd)")


def select_model(
    summary_with_holdout: pd.DataFrame,
    holdout_length=None,
    candidates=("bgnbd", "paretonbd"),
    *,
    metric: str = "mae",
) -> ModelSelection:
    """Fit each candidate on the calibration period and pick the best holdout forecast.

    Parameters
    ----------
    candidates : names ("bgnbd", "paretonbd", "mbgnbd") or a mapping name → unfitted
        model instance.
    metric : "mae" (per-customer mean absolute error, default), "rmse" or
        "total_abs_error" (|total expected − total actual|, the aggregate forecast).

    Returns
    -------
    ModelSelection
    """
    if metric not in ("mae", "rmse", "total_abs_error"):
        raise ValueError("metric must be 'mae', 'rmse' or 'total_abs_error'")
    _check_summary(summary_with_holdout)
    named = (
        dict(candidates) if isinstance(candidates, dict) else {c: _candidate(c) for c in candidates}
    )
    if not named:
        raise ValueError("at least one candidate model is required")
    rows, models, evaluations = [], {}, {}
    x = summary_with_holdout["frequency"].to_numpy(dtype=float)
    t_x = summary_with_holdout["recency"].to_numpy(dtype=float)
    big_t = summary_with_holdout["T"].to_numpy(dtype=float)
    for name, model in named.items():
        started = time.perf_counter()
        model.fit(x, t_x, big_t)
        fit_seconds = time.perf_counter() - started
        ev = evaluate_holdout(model, summary_with_holdout, holdout_length)
        m = ev.metrics
        rows.append(
            {
                "model": name,
                "mae": m["mae"],
                "rmse": m["rmse"],
                "total_expected": m["total_expected"],
                "total_actual": m["total_actual"],
                "total_abs_error": abs(m["total_expected"] - m["total_actual"]),
                "total_error_pct": m["total_error_pct"],
                "log_likelihood": float(getattr(model, "log_likelihood_", np.nan)),
                "fit_seconds": fit_seconds,
            }
        )
        models[name] = model
        evaluations[name] = ev
    table = pd.DataFrame(rows).set_index("model").sort_values(metric, kind="stable")
    return ModelSelection(str(table.index[0]), table, models, evaluations)
