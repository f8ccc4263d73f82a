"""Purchase and spend models for a scoring run: choose, fit, predict, value.

The maths lives in valuecrm.engine; this module only decides *which* engine
model to use (holdout comparison), on *which* summary, and turns predictions into
12-month CLV in money.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from valuecrm.engine.clv import customer_lifetime_value
from valuecrm.engine.models import BetaGeo, GammaGamma
from valuecrm.engine.summary import summarize, unit_days

from .data import OrdersSource

CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
MONTH_DAYS = 30.0
HORIZON_DAYS_90 = 90.0
# Below this many buyers a holdout comparison says nothing; fit the default model.
MIN_BUYERS_FOR_HOLDOUT = 50
MIN_REPEAT_FOR_SPEND_MODEL = 20
FALLBACK_PENALIZER = 0.01


def model_class(name: str):
    if name == "bgnbd":
        return BetaGeo
    if name == "paretonbd":
        from valuecrm.engine.models.paretonbd import ParetoNBD

        return ParetoNBD
    raise ValueError(f"unknown transaction model {name!r}")


def available_models() -> list[str]:
    names = ["bgnbd"]
    if importlib.util.find_spec("valuecrm.engine.models.paretonbd") is not None:
        names.append("paretonbd")
    return names


def full_summary(source: OrdersSource, unit: str) -> pd.DataFrame:
    return summarize(
        source.table, customer_id_col="customer_id", datetime_col="date",
        monetary_value_col="amount", unit=unit, observation_end=source.as_of,
    )


def holdout_days_for(data_start: dt.date, as_of: dt.date) -> int | None:
    """A third of the history, between 4 and 26 weeks; None when history is too short."""
    span = (as_of - data_start).days
    if span < 84:
        return None
    return int(min(max(round(span / 3), 28), 182))


@dataclass
class PurchaseFit:
    name: str
    model: object
    holdout_table: list[dict] = field(default_factory=list)
    calibration_end: dt.date | None = None
    calibration_model: object | None = None
    penalizer_coef: float = 0.0


def fit_purchase_model(
    source: OrdersSource, summary: pd.DataFrame, unit: str, choice: str, data_start: dt.date
) -> PurchaseFit:
    """Pick BG/NBD or Pareto/NBD on a calibration/holdout split, then refit on everything."""
    from valuecrm.engine.evaluation import select_model

    candidates = available_models() if choice == "auto" else [choice]
    for name in candidates:
        if name not in available_models():
            raise ValueError(f"transaction model {name!r} is not available in this engine")
    hold_days = holdout_days_for(data_start, source.as_of)
    result = PurchaseFit(name=candidates[0], model=None)
    if hold_days is not None and len(summary) >= MIN_BUYERS_FOR_HOLDOUT:
        cal_end = source.as_of - dt.timedelta(days=hold_days)
        cal = summarize(
            source.table, customer_id_col="customer_id", datetime_col="date",
            monetary_value_col="amount", unit=unit, observation_end=source.as_of,
            calibration_end=cal_end,
        )
        rows, fitted = [], {}
        for name in candidates:
            try:
                selection = select_model(cal, candidates={name: model_class(name)()})
            except ValueError as exc:  # one model not converging must not sink the run
                rows.append({"model": name, "error": str(exc)})
                continue
            row = selection.table.reset_index().iloc[0].to_dict()
            rows.append(_jsonable(row))
            fitted[name] = selection.models[name]
        ok = [r for r in rows if "error" not in r]
        if ok:
            ok.sort(key=lambda r: r["mae"])
            result.name = ok[0]["model"]
            result.calibration_model = fitted[result.name]
        result.holdout_table = ok + [r for r in rows if "error" in r]
        result.calibration_end = cal_end
    columns, weights = _fit_rows(source, summary, unit)
    try:
        model = model_class(result.name)().fit(*columns, weights=weights)
    except ValueError:
        # Few or unusual customers can leave the likelihood flat; a small L2 penalty
        # (the lifetimes convention) keeps the parameters finite.
        model = model_class(result.name)(penalizer_coef=FALLBACK_PENALIZER).fit(*columns, weights=weights)
        result.penalizer_coef = FALLBACK_PENALIZER
    result.model = model
    return result


def _fit_rows(source: OrdersSource, summary: pd.DataFrame, unit: str):
    """The rows the final purchase model is fitted on, and their weights.

    On Spark, the distinct (frequency, recency, T) rows with their customer counts,
    computed on the cluster (a few thousand rows for millions of customers); the
    model, fitted on them with the counts as weights, is the full fit. Elsewhere
    (and when the files hold buyers the CRM does not), the summary's own rows,
    which the model collapses the same way in process.
    """
    if source.engine == "spark":
        from valuecrm.engine import spark

        rows = spark.unique_rows(engine_customers(source, unit))
        if int(rows["weight"].sum()) == len(summary):
            return tuple(rows[c].to_numpy(float) for c in ("frequency", "recency", "T")), \
                rows["weight"].to_numpy(float)
    return (summary["frequency"].to_numpy(float), summary["recency"].to_numpy(float),
            summary["T"].to_numpy(float)), None


def engine_customers(source: OrdersSource, unit: str):
    """The per-buyer BTYD table on the warehouse engine (an Ibis expression)."""
    from valuecrm.engine import spark

    return spark.customer_table(source.table, as_of=source.as_of, unit_days=unit_days(unit))


def predict_on_engine(fit: PurchaseFit, spend: SpendFit, source: OrdersSource, summary: pd.DataFrame,
                      unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(alive), expected purchases in 90 days and revenue CLV, computed in Spark's partitions.

    The same engine functions as :func:`predict` and :func:`clv_12_months`, run by
    the executors on their share of the buyers; the results come back one
    partition at a time and are lined up with ``summary``'s customers.
    """
    from valuecrm.engine import spark

    scale = unit_days(unit)
    ids, p_alive, e90, clv = [], [], [], []
    for batch in spark.predict(source.backend, engine_customers(source, unit), fit.model, spend.model,
                               horizon=HORIZON_DAYS_90 / scale, clv_months=CLV_MONTHS,
                               discount_monthly=MONTHLY_DISCOUNT, unit_days=scale, days_per_month=MONTH_DAYS):
        ids.append(batch.column("customer_id").to_numpy())
        p_alive.append(batch.column("p_alive").to_numpy())
        e90.append(batch.column("expected_purchases").to_numpy())
        clv.append(batch.column("clv_revenue").to_numpy())
    frame = pd.DataFrame({"p_alive": np.concatenate(p_alive) if p_alive else [],
                          "e90": np.concatenate(e90) if e90 else [],
                          "clv": np.concatenate(clv) if clv else []},
                         index=np.concatenate(ids) if ids else [])
    frame = frame.reindex(summary.index)
    if frame.isna().any().any():
        raise ValueError("the engine returned no prediction for some buyers")
    return (frame["p_alive"].to_numpy(float), frame["e90"].to_numpy(float), frame["clv"].to_numpy(float))


def tracking(fit: PurchaseFit, days: pd.DataFrame, as_of: dt.date, unit: str) -> dict:
    """Weekly actual vs expected repeat purchases over calibration + holdout."""
    from valuecrm.engine.evaluation import tracking_data

    if fit.calibration_model is None or fit.calibration_end is None:
        return {}
    scale = unit_days(unit)
    table = tracking_data(
        fit.calibration_model, days, fit.calibration_end, as_of,
        customer_id_col="customer_id", datetime_col="date", unit_days=scale,
    )
    per_week = max(int(round(7 / scale)), 1)
    week = (np.arange(len(table)) // per_week)
    grouped = pd.DataFrame({
        "week": week, "actual": table["actual"].to_numpy(), "expected": table["expected"].to_numpy(),
        "period_end": table["period_end"].to_numpy(), "holdout": table["holdout"].to_numpy(),
    }).groupby("week").agg(
        actual=("actual", "sum"), expected=("expected", "sum"),
        period_end=("period_end", "max"), holdout=("holdout", "max"),
    )
    return {
        "period_end": [pd.Timestamp(d).date().isoformat() for d in grouped["period_end"]],
        "actual": [float(v) for v in grouped["actual"]],
        "expected": [round(float(v), 4) for v in grouped["expected"]],
        "holdout": [bool(v) for v in grouped["holdout"]],
        "calibration_end": fit.calibration_end.isoformat(),
    }


@dataclass
class SpendFit:
    expected_spend: np.ndarray
    params: dict
    # The fitted Gamma-Gamma model (None: the customer's observed average is the spend).
    model: object | None = None


def fit_spend(summary: pd.DataFrame, money: pd.DataFrame) -> SpendFit:
    """Gamma-Gamma expected spend per purchase; falls back to observed averages."""
    x = summary["frequency"].to_numpy(float)
    m = summary["monetary_value"].to_numpy(float)
    repeat = (x > 0) & (m > 0)
    n_orders = np.maximum(summary["n_orders"].to_numpy(float), 1.0)
    revenue = money["revenue"].reindex(summary.index).fillna(0.0).to_numpy(float)
    observed = revenue / n_orders
    if repeat.sum() >= MIN_REPEAT_FOR_SPEND_MODEL:
        try:
            gg = GammaGamma().fit(x[repeat], m[repeat])
            if gg.params_["q"] > 1:
                return SpendFit(
                    np.asarray(gg.expected_spend(x, m), dtype=float),
                    {"model": "gammagamma", "params": gg.params_,
                     "standard_errors": gg.standard_errors_,
                     "log_likelihood": gg.log_likelihood_},
                    gg,
                )
        except ValueError:
            pass
    # Too little repeat history for a spend model: the customer's own average order.
    return SpendFit(observed, {"model": "observed_average", "params": {}})


def margin_ratio(money: pd.DataFrame, index: pd.Index) -> tuple[np.ndarray, str]:
    """Gross-margin share per customer: own where costs are known, else the store's."""
    frame = money.reindex(index).fillna(0.0)
    costed = frame["costed_revenue"].to_numpy(float)
    cost = frame["cost"].to_numpy(float)
    total_costed = costed.sum()
    if total_costed <= 0:
        return np.ones(len(index)), "revenue"
    store = max(0.0, 1.0 - cost.sum() / total_costed)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(costed > 0, 1.0 - cost / costed, store)
    return np.clip(own, 0.0, 1.0), "margin"


def predict(fit: PurchaseFit, summary: pd.DataFrame, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected purchases in the next 90 days."""
    f = summary["frequency"].to_numpy(float)
    r = summary["recency"].to_numpy(float)
    t = summary["T"].to_numpy(float)
    scale = unit_days(unit)
    p_alive = np.asarray(fit.model.p_alive(f, r, t), dtype=float)
    e90 = np.asarray(fit.model.expected_purchases(HORIZON_DAYS_90 / scale, f, r, t), dtype=float)
    return p_alive, e90


def clv_12_months(
    fit: PurchaseFit, summary: pd.DataFrame, unit: str, spend: np.ndarray, margin: np.ndarray
) -> np.ndarray:
    """12-month CLV, 1 % monthly discount (engine.clv), times each customer's gross margin."""
    revenue_clv = customer_lifetime_value(
        fit.model, spend, summary["frequency"].to_numpy(float), summary["recency"].to_numpy(float),
        summary["T"].to_numpy(float), horizon_months=CLV_MONTHS,
        discount_rate_monthly=MONTHLY_DISCOUNT, margin=1.0, time_unit_days=unit_days(unit),
        days_per_month=MONTH_DAYS,
    )
    return np.asarray(revenue_clv, dtype=float) * margin


def jsonable(value):
    """Plain JSON data: numpy scalars → Python, NaN/±inf → None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_jsonable = jsonable
