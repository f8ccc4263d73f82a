"""first_repeat_quantiles: the spread of what customers at the same early point went on to spend."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from valuecrm.engine.cohort_quantiles import first_repeat_quantiles

AS_OF = dt.date(2025, 12, 31)


def _purchases():
    """100 old one-order-at-start customers who spent 0..99 later; 40 recent ones (not observable)."""
    rows = []
    start = pd.Timestamp("2024-01-01")
    for i in range(100):
        rows.append((i, start, 10.0))
        if i:
            rows.append((i, start + pd.Timedelta(days=100), float(i)))
    for i in range(100, 140):
        rows.append((i, pd.Timestamp("2025-12-01"), 10.0))
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def test_range_is_the_cohorts_quantiles():
    targets = pd.DataFrame({"n_orders": [1], "age_days": [10]}, index=[100])
    out = first_repeat_quantiles(_purchases(), targets, AS_OF)
    later = np.arange(100, dtype=float)  # customer 0 spent nothing later
    assert out.loc[100, "low"] == pytest.approx(np.quantile(later, 0.1))
    assert out.loc[100, "high"] == pytest.approx(np.quantile(later, 0.9))
    assert (out.loc[100, "cohort_size"], out.loc[100, "age_from"], out.loc[100, "n_orders"]) == (100, 0, 1)


def test_point_is_matched_by_age_bucket_and_order_count():
    # At age 90 the old customers still have one order (their second is at day 100), so a
    # one-order target aged 120 days uses them; nobody had two orders by day 90, 30 or 0.
    targets = pd.DataFrame({"n_orders": [1, 2], "age_days": [120, 120]}, index=[101, 102])
    out = first_repeat_quantiles(_purchases(), targets, AS_OF)
    assert (out.loc[101, "age_from"], out.loc[101, "cohort_size"]) == (90, 100)
    assert np.isnan(out.loc[102, "low"]) and out.loc[102, "cohort_size"] == 0


def test_no_cohort_gives_no_range():
    targets = pd.DataFrame({"n_orders": [1], "age_days": [5]}, index=[100])
    out = first_repeat_quantiles(_purchases(), targets, AS_OF, min_cohort=101)
    assert np.isnan(out.loc[100, "low"]) and np.isnan(out.loc[100, "high"])
    with pytest.raises(ValueError):
        first_repeat_quantiles(_purchases(), targets, AS_OF, quantiles=(0.9, 0.1))
