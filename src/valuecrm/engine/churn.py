"""Churn risk: a gradient-boosted classifier on value, trend and service features.

Definition
----------
A customer *churns* at ``as_of`` over horizon ``h`` when they make no purchase in
``(as_of, as_of + h]``. The label is therefore observable only after ``h`` days,
and a fair evaluation is *time based*: train on features as of ``cutoff_1`` with
labels from ``(cutoff_1, cutoff_1 + h]``, test on features as of ``cutoff_2 ≥
cutoff_1 + h`` with labels from ``(cutoff_2, cutoff_2 + h]`` — nothing the model
sees at training time overlaps the test outcome window.

Features (as of ``as_of``, purchases dated ``<= as_of``, daily resolution)
----------------------------------------------------------------------------
* summary (BTYD conventions, days): ``frequency`` (repeat purchase days),
  ``recency`` (first → last purchase), ``T`` (first purchase → as_of),
  ``days_since_last`` (``T - recency``), ``monetary_value`` (mean spend of repeat
  purchase days, 0 when none), ``n_orders``, ``total_spend``, ``avg_order_value``;
* rhythm: ``mean_interpurchase_days`` (``recency / frequency``) and ``gap_ratio``
  (``days_since_last / mean_interpurchase_days``; NaN for one-time buyers — the
  gradient-boosted trees route NaN natively);
* trends between the last two windows of ``window_days``: ``orders_last_window``,
  ``orders_prev_window``, ``orders_change`` and the same for spend;
* optional extra signals (service/engagement: tickets, complaints, interactions…)
  joined on customer id; customers absent from the extra frame get 0.

Baselines
---------
Probabilistic models fitted on the same training customers (in weeks), scored on
the test customers, reported next to the classifier on the same split with
ROC-AUC, PR-AUC (average precision), Brier score and a decile calibration table:

* ``bgnbd_p_alive``: ``1 − P(alive)`` from BG/NBD (Fader, Hardie & Lee 2005).
  Caveat: BG/NBD lets customers drop out only *after a repeat purchase*, so every
  one-time buyer has ``P(alive) = 1`` and a churn score of 0 — on one-time-buyer
  heavy data (CDNOW) this ranks churners *worse than chance*;
* ``mbgnbd_p_alive``: ``1 − P(alive)`` from MBG/NBD (Batislam et al. 2007), which
  also allows dropout at the first purchase and fixes that;
* ``bgnbd_p_no_purchase``: the BG/NBD probability of exactly the event being
  predicted, no purchase in ``(T, T + h]`` (see ``p_no_purchase``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = [
    "ChurnEvaluation",
    "ChurnModel",
    "build_churn_features",
    "calibration_table",
    "churn_labels",
    "churn_metrics",
    "evaluate_churn",
    "predict_churn_risk",
]

_DAY = np.timedelta64(1, "D")


def _prepare(
    transactions: pd.DataFrame, customer_id_col: str, datetime_col: str, monetary_value_col: str
) -> pd.DataFrame:
    for col in (customer_id_col, datetime_col, monetary_value_col):
        if col not in transactions.columns:
            raise ValueError(f"transactions has no column {col!r}")
    dates = pd.to_datetime(transactions[datetime_col], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise ValueError(f"transactions.{datetime_col} has a missing or invalid date at row {row}")
    spend = pd.to_numeric(transactions[monetary_value_col], errors="coerce")
    if spend.isna().any():
        row = int(np.flatnonzero(spend.isna().to_numpy())[0])
        raise ValueError(f"transactions.{monetary_value_col} is not numeric at row {row}")
    # One purchase per customer-day: the daily "purchase occasion", as in the summaries.
    frame = pd.DataFrame(
        {"customer_id": transactions[customer_id_col].to_numpy(), "day": dates.dt.normalize()}
    )
    frame["spend"] = spend.to_numpy(dtype=float)
    return frame.groupby(["customer_id", "day"], sort=False, as_index=False)["spend"].sum()


def build_churn_features(
    transactions: pd.DataFrame,
    as_of,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str = "amount",
    window_days: int = 90,
    extra: pd.DataFrame | None = None,
    extra_customer_id_col: str = "customer_id",
) -> pd.DataFrame:
    """Churn features for every customer with a first purchase on or before ``as_of``.

    Parameters
    ----------
    transactions : one row per order (customer id, date/datetime, amount).
    as_of : the date the features describe; purchases dated ``<= as_of`` count.
    window_days : length of the two trailing windows compared for trends.
    extra : optional frame of extra numeric signals (tickets, complaints,
        interactions…) as of ``as_of``, one row per customer, keyed by
        ``extra_customer_id_col`` (or its index when the column is absent).

    Returns
    -------
    DataFrame indexed by customer id (sorted), one column per feature (module doc).
    """
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    as_of = pd.Timestamp(as_of).normalize()
    daily = _prepare(transactions, customer_id_col, datetime_col, monetary_value_col)
    daily = daily[daily["day"] <= as_of]
    if daily.empty:
        raise ValueError(f"no transactions on or before as_of={as_of.date()}")
    age = ((as_of - daily["day"]).to_numpy() / _DAY).astype(float)  # days before as_of
    daily = daily.assign(age=age)
    last_w = daily["age"] < window_days
    prev_w = (daily["age"] >= window_days) & (daily["age"] < 2 * window_days)
    daily = daily.assign(
        last_o=last_w.astype(np.int64),
        prev_o=prev_w.astype(np.int64),
        last_s=daily["spend"].where(last_w, 0.0),
        prev_s=daily["spend"].where(prev_w, 0.0),
    )
    g = daily.groupby("customer_id", sort=True)
    agg = g.agg(
        n_orders=("age", "size"),
        oldest=("age", "max"),
        newest=("age", "min"),
        total_spend=("spend", "sum"),
        orders_last_window=("last_o", "sum"),
        orders_prev_window=("prev_o", "sum"),
        spend_last_window=("last_s", "sum"),
        spend_prev_window=("prev_s", "sum"),
    )
    # first-day spend, to take it out of the repeat monetary value
    first_spend = daily.loc[g["age"].idxmax(), ["customer_id", "spend"]].set_index("customer_id")
    first_spend = first_spend["spend"].reindex(agg.index)
    frequency = agg["n_orders"] - 1
    out = pd.DataFrame(index=agg.index)
    out.index.name = "customer_id"
    out["frequency"] = frequency.astype(float)
    out["recency"] = agg["oldest"] - agg["newest"]
    out["T"] = agg["oldest"]
    out["days_since_last"] = agg["newest"]
    repeat_spend = agg["total_spend"] - first_spend
    out["monetary_value"] = np.where(frequency > 0, repeat_spend / frequency.clip(lower=1), 0.0)
    out["n_orders"] = agg["n_orders"].astype(float)
    out["total_spend"] = agg["total_spend"]
    out["avg_order_value"] = agg["total_spend"] / agg["n_orders"]
    interval = out["recency"] / frequency.where(frequency > 0)
    out["mean_interpurchase_days"] = interval
    out["gap_ratio"] = out["days_since_last"] / interval.where(interval > 0)
    out["orders_last_window"] = agg["orders_last_window"].astype(float)
    out["orders_prev_window"] = agg["orders_prev_window"].astype(float)
    out["orders_change"] = out["orders_last_window"] - out["orders_prev_window"]
    out["spend_last_window"] = agg["spend_last_window"]
    out["spend_prev_window"] = agg["spend_prev_window"]
    out["spend_change"] = out["spend_last_window"] - out["spend_prev_window"]
    if extra is not None:
        ex = extra.set_index(extra_customer_id_col) if extra_customer_id_col in extra else extra
        if ex.index.has_duplicates:
            dup = ex.index[ex.index.duplicated()][0]
            raise ValueError(f"extra has more than one row for customer {dup!r}")
        clash = [c for c in ex.columns if c in out.columns]
        if clash:
            raise ValueError(f"extra columns clash with built-in features: {clash}")
        for c in ex.columns:
            if not pd.api.types.is_numeric_dtype(ex[c]):
                raise ValueError(f"extra column {c!r} must be numeric")
        out = out.join(ex.astype(float), how="left")
        out[list(ex.columns)] = out[list(ex.columns)].fillna(0.0)
    return out


def churn_labels(
    transactions: pd.DataFrame,
    as_of,
    horizon_days: int,
    customers: pd.Index,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
) -> pd.Series:
    """1 when a customer of ``customers`` made no purchase in ``(as_of, as_of + horizon_days]``."""
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    as_of = pd.Timestamp(as_of).normalize()
    end = as_of + pd.Timedelta(days=horizon_days)
    days = pd.to_datetime(transactions[datetime_col]).dt.normalize()
    mask = (days > as_of) & (days <= end)
    buyers = pd.Index(transactions.loc[mask.to_numpy(), customer_id_col].unique())
    label = (~customers.isin(buyers)).astype(np.int8)
    return pd.Series(label, index=customers, name="churned")


def calibration_table(y_true, p, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate by quantile bin (deciles) of the prediction.

    Bins are formed on the rank of ``p`` (ties broken by order) so every bin holds
    ``n / n_bins`` customers, even when predictions are heavily tied.
    """
    y = np.asarray(y_true, dtype=float)
    prob = np.asarray(p, dtype=float)
    if y.shape != prob.shape:
        raise ValueError("y_true and p must have the same length")
    order = np.argsort(prob, kind="stable")
    bins = np.empty(y.shape[0], dtype=int)
    bins[order] = np.arange(y.shape[0]) * n_bins // max(y.shape[0], 1)
    frame = pd.DataFrame({"bin": bins + 1, "p": prob, "y": y})
    table = frame.groupby("bin").agg(
        n=("y", "size"), mean_predicted=("p", "mean"), observed=("y", "mean")
    )
    return table


def churn_metrics(y_true, p) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score, n and base churn rate."""
    y = np.asarray(y_true, dtype=int)
    prob = np.asarray(p, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y, prob)),
        "pr_auc": float(average_precision_score(y, prob)),
        "brier": float(brier_score_loss(y, prob)),
        "n": int(y.shape[0]),
        "churn_rate": float(y.mean()),
    }


class ChurnModel(ClassifierMixin, BaseEstimator):
    """Churn classifier (scikit-learn estimator) on :func:`build_churn_features` output.

    A ``HistGradientBoostingClassifier``: handles NaN features, monotone-free,
    fast on millions of rows. ``predict_churn_risk`` returns P(churn) per customer.
    """

    def __init__(
        self,
        learning_rate: float = 0.05,
        max_iter: int = 300,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        early_stopping: bool | str = "auto",
        random_state: int | None = 0,
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> ChurnModel:
        X = self._check_frame(X, fitting=True)
        y = np.asarray(y, dtype=int)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
        if np.unique(y).shape[0] < 2:
            raise ValueError("y must contain both churned (1) and retained (0) customers")
        self.classifier_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping,
            random_state=self.random_state,
        ).fit(X.to_numpy(dtype=float), y)
        self.classes_ = self.classifier_.classes_
        return self

    def _check_frame(self, X: pd.DataFrame, fitting: bool = False) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame of churn features (build_churn_features)")
        if fitting:
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            return X
        if not hasattr(self, "classifier_"):
            raise ValueError("ChurnModel is not fitted yet; call fit() first")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature column(s) {missing}")
        return X[list(self.feature_names_in_)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        X = self._check_frame(X)
        return self.classifier_.predict_proba(X.to_numpy(dtype=float))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def predict_churn_risk(self, X: pd.DataFrame) -> pd.Series:
        """P(no purchase within the horizon) per customer, indexed like ``X``."""
        return pd.Series(self.predict_proba(X)[:, 1], index=X.index, name="churn_risk")

    def evaluate(self, X: pd.DataFrame, y) -> dict:
        """Metrics (:func:`churn_metrics`) and decile calibration table on ``(X, y)``."""
        p = self.predict_proba(X)[:, 1]
        return {"metrics": churn_metrics(y, p), "calibration": calibration_table(y, p)}


def predict_churn_risk(model: ChurnModel, features: pd.DataFrame) -> pd.Series:
    """P(churn) per customer from a fitted :class:`ChurnModel`."""
    return model.predict_churn_risk(features)


@dataclass
class ChurnEvaluation:
    """Result of :func:`evaluate_churn`.

    ``metrics``: one row per method ("churn_model" and the baselines of the module
    doc) with ROC-AUC, PR-AUC, Brier, n, churn rate. ``baseline``: fitted BG/NBD and
    MBG/NBD models by name. ``calibration``: method → decile table.
    ``predictions``: test customers with label and both predicted probabilities.
    """

    metrics: pd.DataFrame
    calibration: dict[str, pd.DataFrame]
    predictions: pd.DataFrame
    model: ChurnModel
    baseline: dict


def p_no_purchase(model, x, t_x, t_obs, horizon) -> np.ndarray:
    """P(no purchase in (T, T + h] | x, t_x, T) for a fitted BG/NBD or MBG/NBD model.

    Dropout happens only right after a purchase, so a customer alive at T stays
    alive until the next purchase; with λ | alive ~ Gamma(r + x, α + T):
    ``1 − P(alive) + P(alive) · ((α + T) / (α + T + h))^(r + x)``.
    """
    r, alpha = model.params_["r"], model.params_["alpha"]
    alive = np.asarray(model.p_alive(x, t_x, t_obs), dtype=float)
    stay_quiet = np.exp((r + x) * (np.log(alpha + t_obs) - np.log(alpha + t_obs + horizon)))
    return 1.0 - alive + alive * stay_quiet


def _probabilistic_baselines(
    train: pd.DataFrame, test: pd.DataFrame, horizon_days: int
) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    from valuecrm.engine.models.bgnbd import BetaGeo  # engine-internal imports
    from valuecrm.engine.models.mbgnbd import ModifiedBetaGeo

    def weeks(frame):
        return (
            frame["frequency"].to_numpy(float),
            frame["recency"].to_numpy(float) / 7.0,
            frame["T"].to_numpy(float) / 7.0,
        )

    bg = BetaGeo().fit(*weeks(train))
    mbg = ModifiedBetaGeo().fit(*weeks(train))
    x, t_x, t_obs = weeks(test)
    predictions = {
        "bgnbd_p_alive": 1.0 - np.asarray(bg.p_alive(x, t_x, t_obs), dtype=float),
        "mbgnbd_p_alive": 1.0 - np.asarray(mbg.p_alive(x, t_x, t_obs), dtype=float),
        "bgnbd_p_no_purchase": p_no_purchase(bg, x, t_x, t_obs, horizon_days / 7.0),
    }
    return {"bgnbd": bg, "mbgnbd": mbg}, predictions


def evaluate_churn(
    transactions: pd.DataFrame,
    cutoff_train,
    cutoff_test,
    horizon_days: int = 90,
    *,
    window_days: int = 90,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str = "amount",
    extra_train: pd.DataFrame | None = None,
    extra_test: pd.DataFrame | None = None,
    model: ChurnModel | None = None,
) -> ChurnEvaluation:
    """Time-based churn evaluation of :class:`ChurnModel` against BG/NBD ``1 − P(alive)``.

    Train on features as of ``cutoff_train`` with labels from
    ``(cutoff_train, cutoff_train + h]``; test on features as of ``cutoff_test`` with
    labels from ``(cutoff_test, cutoff_test + h]``. ``cutoff_test`` must be at least
    ``cutoff_train + h`` (no overlap of training labels with the test window) and the
    data must reach ``cutoff_test + h``.
    """
    cut1 = pd.Timestamp(cutoff_train).normalize()
    cut2 = pd.Timestamp(cutoff_test).normalize()
    h = pd.Timedelta(days=horizon_days)
    if cut2 < cut1 + h:
        raise ValueError(
            f"cutoff_test ({cut2.date()}) must be on or after cutoff_train + horizon "
            f"({(cut1 + h).date()}) so training labels do not overlap the test window"
        )
    last_day = pd.to_datetime(transactions[datetime_col]).max().normalize()
    if last_day < cut2 + h - pd.Timedelta(days=7):
        raise ValueError(
            f"transactions end on {last_day.date()}, before cutoff_test + horizon "
            f"({(cut2 + h).date()}): test labels would be wrong"
        )
    cols = {
        "customer_id_col": customer_id_col,
        "datetime_col": datetime_col,
        "monetary_value_col": monetary_value_col,
        "window_days": window_days,
    }
    x_train = build_churn_features(transactions, cut1, extra=extra_train, **cols)
    x_test = build_churn_features(transactions, cut2, extra=extra_test, **cols)
    lab = {"customer_id_col": customer_id_col, "datetime_col": datetime_col}
    y_train = churn_labels(transactions, cut1, horizon_days, x_train.index, **lab)
    y_test = churn_labels(transactions, cut2, horizon_days, x_test.index, **lab)
    model = (model if model is not None else ChurnModel()).fit(x_train, y_train)
    probs = {"churn_model": model.predict_proba(x_test)[:, 1]}
    baselines, base_probs = _probabilistic_baselines(x_train, x_test, horizon_days)
    probs.update(base_probs)
    metrics = pd.DataFrame(
        [churn_metrics(y_test, p) for p in probs.values()],
        index=pd.Index(list(probs), name="method"),
    )
    calibration = {name: calibration_table(y_test, p) for name, p in probs.items()}
    predictions = pd.DataFrame({"churned": y_test, **probs}, index=x_test.index)
    return ChurnEvaluation(metrics, calibration, predictions, model, baselines)
