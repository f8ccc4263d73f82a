"""What customers at the same early point went on to spend: an honest range for the new.

A BTYD model asked about a customer with one order a week ago answers with the
population prior (every new customer gets roughly the same expected CLV), which
reads as if it were known about this person. What *is* known is how customers who
were at the same point went on: for customers with ``k`` purchase occasions by
age ``a`` (days since their first order), the spread of what they spent in the
``horizon_days`` after that age.

For a target with ``k`` purchase days (capped at ``max_orders``) and age in the
bucket ``[a0, a1)`` of ``age_edges``, the reference cohort is every customer with
``first + a0 + horizon <= as_of`` (a full horizon observed after the point) and
exactly ``k`` purchase days (``>= max_orders`` for the cap) on or before
``first + a0``. Their value is spend in ``(first + a0, first + a0 + horizon]``;
the range is its empirical quantiles. When that cohort has fewer than
``min_cohort`` members the next younger age bucket is tried (younger points have
more fully-observed customers); if none has enough, the target gets NaN — no
range rather than a made-up one.

The values are undiscounted revenue; callers apply margin or discounting as their
CLV definition needs. Reference: the empirical-Bayes idea of judging a new
customer by their cohort, e.g. Fader, Hardie & Lee (2005), "RFM and CLV: using
iso-value curves", JMR 42(4), where customers with the same (x, t_x, T) are
treated as exchangeable.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

DEFAULT_AGE_EDGES = (0, 30, 90, 180, 365)


def first_repeat_quantiles(
    purchases: pd.DataFrame,
    targets: pd.DataFrame,
    as_of: dt.date,
    *,
    horizon_days: int = 365,
    quantiles: tuple[float, float] = (0.1, 0.9),
    min_cohort: int = 30,
    age_edges: tuple[int, ...] = DEFAULT_AGE_EDGES,
    max_orders: int = 3,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str = "amount",
) -> pd.DataFrame:
    """Quantiles of the next ``horizon_days`` of spend among customers at each target's point.

    Parameters
    ----------
    purchases : one row per customer and purchase day (several rows per day are summed).
    targets : indexed by customer id, columns ``n_orders`` (purchase days so far) and
        ``age_days`` (days since the first order, as of ``as_of``).
    as_of : the observation end.

    Returns
    -------
    DataFrame indexed like ``targets`` with ``low``, ``high`` (the two quantiles),
    ``cohort_size``, ``age_from`` (the age bucket of the cohort used) and
    ``n_orders`` (the order count it matched, capped). Rows without a cohort of
    ``min_cohort`` customers have NaN ``low``/``high`` and ``cohort_size`` 0.
    """
    if not 0 <= quantiles[0] <= quantiles[1] <= 1:
        raise ValueError("quantiles must be two increasing numbers in [0, 1]")
    if horizon_days <= 0 or min_cohort < 1:
        raise ValueError("horizon_days and min_cohort must be positive")
    edges = np.asarray(sorted(age_edges), dtype=float)
    out = pd.DataFrame(index=targets.index, data={
        "low": np.nan, "high": np.nan, "cohort_size": 0, "age_from": np.nan,
        "n_orders": np.minimum(targets["n_orders"].to_numpy(int), max_orders)})
    if targets.empty or purchases.empty:
        return out

    days = (purchases[[customer_id_col, datetime_col, monetary_value_col]]
            .assign(**{datetime_col: pd.to_datetime(purchases[datetime_col]).dt.normalize()})
            .groupby([customer_id_col, datetime_col], sort=False)[monetary_value_col].sum().reset_index())
    first = days.groupby(customer_id_col)[datetime_col].transform("min")
    age = ((days[datetime_col] - first) / pd.Timedelta(days=1)).to_numpy(float)
    ids = days[customer_id_col].to_numpy()
    amount = days[monetary_value_col].to_numpy(float)
    first_by_customer = days.groupby(customer_id_col)[datetime_col].min()
    end = pd.Timestamp(as_of)

    target_bucket = np.clip(np.searchsorted(edges, targets["age_days"].to_numpy(float), side="right") - 1,
                            0, len(edges) - 1)
    cache: dict[tuple[int, int], tuple[float, float, int]] = {}

    def cohort(bucket: int, k: int) -> tuple[float, float, int]:
        if (bucket, k) in cache:
            return cache[(bucket, k)]
        a0 = edges[bucket]
        observable = first_by_customer.index[
            (first_by_customer + pd.Timedelta(days=a0 + horizon_days) <= end).to_numpy()]
        rows = np.isin(ids, observable)
        frame = pd.DataFrame({"id": ids[rows], "before": age[rows] <= a0,
                              "later": np.where((age[rows] > a0) & (age[rows] <= a0 + horizon_days),
                                                amount[rows], 0.0)})
        per = frame.groupby("id").agg(orders=("before", "sum"), value=("later", "sum"))
        match = per["orders"] >= k if k >= max_orders else per["orders"] == k
        values = per.loc[match, "value"].to_numpy(float)
        found = ((float(np.quantile(values, quantiles[0])), float(np.quantile(values, quantiles[1])),
                  int(values.size)) if values.size >= min_cohort else (np.nan, np.nan, int(values.size)))
        cache[(bucket, k)] = found
        return found

    low = out["low"].to_numpy(float).copy()
    high = out["high"].to_numpy(float).copy()
    size = np.zeros(len(out), dtype=int)
    used = np.full(len(out), np.nan)
    ks = out["n_orders"].to_numpy(int)
    pairs = np.unique(np.stack([target_bucket, ks], axis=1), axis=0)
    for bucket, k in pairs:
        rows = (target_bucket == bucket) & (ks == k)
        for b in range(int(bucket), -1, -1):
            lo, hi, n = cohort(b, int(k))
            if np.isfinite(lo):
                low[rows], high[rows], size[rows], used[rows] = lo, hi, n, edges[b]
                break
    out["low"], out["high"], out["cohort_size"], out["age_from"] = low, high, size, used
    return out
