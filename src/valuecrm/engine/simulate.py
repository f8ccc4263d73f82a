r"""Simulated shops: BG/NBD customers with Gamma-Gamma spend, at daily resolution.

Used to test that the models recover known parameters and to benchmark them on
millions of customers. Time runs in **days**; purchases happen at continuous
times (the BG/NBD story) and are then stamped with their calendar day, like a
real order log, so several purchases on one day collapse in the summary.

Story per customer (Fader, Hardie & Lee 2005a, 2005b):

* :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` purchases per day while alive,
  :math:`p \sim \mathrm{Beta}(a, b)` chance to drop out after each repeat purchase;
* first purchase on a random day of the cohort window, at a random time of day;
* spend per purchase :math:`z \sim \mathrm{Gamma}(p_s, \nu)`,
  :math:`\nu \sim \mathrm{Gamma}(q, \gamma)`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_bgnbd_summary", "simulate_bgnbd_transactions"]


def _simulate_purchases(
    n_customers: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    observation_days: int,
    cohort_days: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (customer index, purchase day) of every purchase, sorted by customer
    then day, and each customer's first day."""
    if n_customers <= 0:
        raise ValueError("n_customers must be positive")
    if not 0 < cohort_days <= observation_days:
        raise ValueError("cohort_days must be in (0, observation_days]")
    if min(r, alpha, a, b) <= 0:
        raise ValueError("r, alpha, a and b must be positive")
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    first_day = rng.integers(0, cohort_days, n_customers)
    time_of_day = rng.random(n_customers)
    available = observation_days - first_day - time_of_day  # continuous time to the end

    customers = [np.arange(n_customers)]
    days = [first_day]
    active = np.flatnonzero(rate > 0)
    clock = np.zeros(n_customers)
    # One vectorised round per repeat purchase: only customers still alive and
    # inside the window stay active, so rounds shrink quickly.
    while active.size:
        clock[active] += rng.exponential(1.0 / rate[active])
        active = active[clock[active] < available[active]]
        customers.append(active)
        days.append(first_day[active] + np.floor(time_of_day[active] + clock[active]).astype(int))
        active = active[rng.random(active.size) >= dropout[active]]
    customer, day = np.concatenate(customers), np.concatenate(days)
    order = np.lexsort((day, customer))
    return customer[order], day[order], first_day


def simulate_bgnbd_transactions(
    n_customers: int,
    r: float = 0.25,
    alpha: float = 30.0,
    a: float = 0.8,
    b: float = 2.5,
    *,
    observation_days: int = 365,
    cohort_days: int = 90,
    spend_p: float = 6.0,
    spend_q: float = 4.0,
    spend_gamma: float = 15.0,
    start: str = "2024-01-01",
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate an order log of BG/NBD customers (one row per purchase).

    Parameters
    ----------
    n_customers : int
    r, alpha, a, b : float
        BG/NBD parameters with time in days (``alpha`` ≈ 30 means roughly one
        purchase a month for ``r`` ≈ 1).
    observation_days : int
        Length of the log; the last day is ``start + observation_days - 1``.
    cohort_days : int
        First purchases are spread uniformly over the first ``cohort_days`` days.
    spend_p, spend_q, spend_gamma : float
        Gamma-Gamma spend parameters (mean spend ``p * gamma / (q - 1)``).
    start : date-like
    seed : int, optional

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (int), ``date`` (datetime64, midnight), ``amount`` (float),
        sorted by customer and date.
    """
    rng = np.random.default_rng(seed)
    customer, day, _ = _simulate_purchases(
        n_customers, r, alpha, a, b, observation_days, cohort_days, rng
    )
    spend_rate = rng.gamma(spend_q, 1.0 / spend_gamma, n_customers)
    amount = rng.gamma(spend_p, 1.0 / spend_rate[customer])
    return pd.DataFrame(
        {
            "customer_id": customer + 1,
            "date": pd.Timestamp(start) + pd.to_timedelta(day, unit="D"),
            "amount": np.round(amount, 2),
        }
    )


def simulate_bgnbd_summary(
    n_customers: int,
    r: float = 0.25,
    alpha: float = 30.0,
    a: float = 0.8,
    b: float = 2.5,
    *,
    observation_days: int = 365,
    cohort_days: int = 90,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate the daily BTYD summary directly (fast: no order log is built).

    Same story and conventions as :func:`simulate_bgnbd_transactions` followed by
    :func:`valuecrm.engine.summary.summarize` with ``unit="D"``: integer
    ``frequency`` (distinct purchase days − 1), ``recency`` and ``T`` in whole days.

    Returns
    -------
    pandas.DataFrame
        ``frequency``, ``recency``, ``T`` indexed by ``customer_id`` (1..n).
    """
    rng = np.random.default_rng(seed)
    customer, day, first_day = _simulate_purchases(
        n_customers, r, alpha, a, b, observation_days, cohort_days, rng
    )
    new_day = np.ones(customer.size, bool)
    new_day[1:] = (customer[1:] != customer[:-1]) | (day[1:] != day[:-1])
    frequency = np.bincount(customer[new_day], minlength=n_customers) - 1
    last_day = np.zeros(n_customers, dtype=np.int64)
    last_day[customer] = day  # sorted, so the last write is the last purchase
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last_day - first_day).astype(float),
            "T": (observation_days - 1 - first_day).astype(float),
        },
        index=pd.Index(np.arange(1, n_customers + 1), name="customer_id"),
    )
