r"""Customer lifetime value: model-based, simple (ARPU × CLT), and customer equity.

Model CLV (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"; the
discrete monthly sum used by the lifetimes package):

.. math::

    \mathrm{CLV}_i = \sum_{t=1}^{H}
    \frac{\big(E[Y_i(t)] - E[Y_i(t-1)]\big)\, E[M_i]\, m}{(1 + d)^t}

with :math:`E[Y_i(t)]` the expected purchases in the next ``t`` months from a
transaction model (BG/NBD, Pareto/NBD …), :math:`E[M_i]` the expected spend per
purchase (Gamma-Gamma, or given), :math:`m` the margin and :math:`d` the monthly
discount rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .models.base import as_float_array

__all__ = ["customer_equity", "customer_lifetime_value", "simple_clv"]


def customer_lifetime_value(
    transaction_model: Any,
    spend_model_or_array: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any = None,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    margin: float = 1.0,
    time_unit_days: float = 7.0,
    days_per_month: float = 30.0,
) -> np.ndarray:
    r"""Discounted expected profit per customer over the next ``horizon_months``.

    .. math::

        \mathrm{CLV} = \sum_{t=1}^{H} \frac{(E[Y(t)] - E[Y(t-1)])\,E[M]\,m}{(1+d)^t}

    Parameters
    ----------
    transaction_model : fitted model
        Any model with ``expected_purchases(t, frequency, recency, T)``; models
        that also offer ``discounted_purchases(times, discounts, ...)`` (BG/NBD,
        MBG/NBD) or ``expected_purchases_path(times, ...)`` are scored faster.
    spend_model_or_array : fitted spend model, array-like or float
        A model with ``expected_spend(frequency, monetary_value)`` (Gamma-Gamma),
        or the expected spend per purchase itself.
    frequency, recency, T : array-like
        The customer summary, in the model's time unit.
    monetary_value : array-like, optional
        Mean repeat spend; required when a spend model is given.
    horizon_months : int, default 12
    discount_rate_monthly : float, default 0.01
    margin : float, default 1.0
        Gross margin applied to revenue (1.0 = revenue CLV).
    time_unit_days : float, default 7
        Days per model time unit (7 for a weekly summary, 1 for daily).
    days_per_month : float, default 30
        Month length in days (lifetimes uses 4.345 weeks = 30.4 days).

    Returns
    -------
    numpy.ndarray
        CLV per customer, in the currency of the spend, never negative.
    """
    if not isinstance(horizon_months, int | np.integer) or horizon_months < 1:
        raise ValueError(f"horizon_months must be a whole number >= 1, got {horizon_months!r}")
    if not np.isfinite(discount_rate_monthly) or discount_rate_monthly <= -1:
        raise ValueError(
            f"discount_rate_monthly must be > -1 (e.g. 0.01), got {discount_rate_monthly!r}"
        )
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a non-negative number, got {margin!r}")
    if not time_unit_days > 0 or not days_per_month > 0:
        raise ValueError("time_unit_days and days_per_month must be positive")
    if not hasattr(transaction_model, "expected_purchases"):
        raise ValueError(
            "transaction_model must be a fitted model with expected_purchases(), got "
            f"{type(transaction_model).__name__}"
        )

    x = as_float_array("frequency", frequency)
    t_x = as_float_array("recency", recency)
    t_obs = as_float_array("T", T)
    spend = _expected_spend(spend_model_or_array, x, monetary_value)

    step = days_per_month / time_unit_days  # one month in model time units
    times = step * np.arange(1, horizon_months + 1)
    discount = (1.0 + discount_rate_monthly) ** -np.arange(1, horizon_months + 1)
    if hasattr(transaction_model, "discounted_purchases"):  # fast path, no n × H matrix
        purchases = transaction_model.discounted_purchases(times, discount, x, t_x, t_obs)
    else:
        if hasattr(transaction_model, "expected_purchases_path"):
            cumulative = transaction_model.expected_purchases_path(times, x, t_x, t_obs)
        else:
            cumulative = np.column_stack(
                [transaction_model.expected_purchases(t, x, t_x, t_obs) for t in times]
            )
        # Purchases can only accumulate; clip float noise so CLV is never negative.
        purchases = np.clip(np.diff(cumulative, axis=1, prepend=0.0), 0.0, None) @ discount
    value = purchases * spend * margin
    if not np.all(np.isfinite(value)):
        raise ValueError("CLV is not finite for some customers; check the models' parameters")
    return value


def _expected_spend(spend_model_or_array: Any, x: np.ndarray, monetary_value: Any) -> np.ndarray:
    if hasattr(spend_model_or_array, "expected_spend"):
        if monetary_value is None:
            raise ValueError("monetary_value is required when a spend model is given")
        m = as_float_array("monetary_value", monetary_value)
        if m.size != x.size:
            raise ValueError(
                f"monetary_value has length {m.size}, expected {x.size} (one per customer)"
            )
        return spend_model_or_array.expected_spend(x, m)
    spend = as_float_array("expected spend", spend_model_or_array)
    if spend.size not in (1, x.size):
        raise ValueError(f"expected spend has length {spend.size}, expected 1 or {x.size}")
    return np.broadcast_to(spend, x.shape)


def simple_clv(arpu: Any, churn_rate: Any, margin: float = 1.0) -> np.ndarray | float:
    r"""Simple CLV = ARPU × CLT × margin, with CLT = 1 / churn rate.

    .. math:: \mathrm{CLV} = \mathrm{ARPU} \times \frac{1}{c} \times m

    Under a constant per-period churn rate ``c`` the expected lifetime is
    ``1/c`` periods (geometric lifetime), so ARPU and churn must use the same
    period (e.g. monthly ARPU with monthly churn).
    """
    revenue = as_float_array("arpu", arpu)
    churn = as_float_array("churn_rate", churn_rate)
    if np.any((churn <= 0) | (churn > 1)):
        raise ValueError("churn_rate must be in (0, 1] (a share of customers lost per period)")
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a non-negative number, got {margin!r}")
    value = revenue / churn * margin
    if np.ndim(arpu) == 0 and np.ndim(churn_rate) == 0:
        return float(value[0])
    return value


def customer_equity(clv: Any) -> float:
    """Customer equity: the sum of CLV over current customers."""
    values = as_float_array("clv", clv)
    return float(values.sum())
