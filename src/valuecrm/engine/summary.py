r"""Transactions → per-customer frequency / recency / T / monetary value (BTYD summary).

One Ibis expression does the heavy lifting wherever the transactions live:
in-memory frames, CSV and Parquet files go to a DuckDB backend, while an Ibis table
on SQLite, PostgreSQL, Spark … is summarised *inside* that database. Only the
per-customer aggregates come back to Python.

Conventions (Fader, Hardie & Lee 2005; the lifetimes package):

* purchases on the same calendar day collapse into one purchase occasion;
* ``frequency`` = distinct purchase days − 1 (repeat purchases);
* ``recency`` = last − first purchase day, ``T`` = end − first purchase day, both
  in days divided by the unit length (1 for days, 7 for weeks, 30 for months);
  this reproduces the CDNOW weekly summary published with the BG/NBD paper;
* ``monetary_value`` = mean spend per repeat purchase day (first day excluded),
  0 when ``frequency`` = 0.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from .transaction_files import (
    TransactionFileError,
    locate_bad_value,
    read_csv_table,
    read_parquet_table,
)

__all__ = ["UNIT_DAYS", "summarize", "to_ibis_table", "unit_days"]

UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 30.0}
_UNIT_ALIASES = {
    "d": "D",
    "day": "D",
    "days": "D",
    "w": "W",
    "week": "W",
    "weeks": "W",
    "m": "M",
    "month": "M",
    "months": "M",
}


def unit_days(unit: str) -> float:
    """Length of a summary time unit in days (``"D"``/``"day"`` → 1, ``"W"`` → 7, ``"M"`` → 30)."""
    key = _UNIT_ALIASES.get(str(unit).lower())
    if key is None:
        raise ValueError(f"unit must be one of day, week, month (D/W/M), got {unit!r}")
    return UNIT_DAYS[key]


def to_ibis_table(transactions: Any) -> ibis.Table:
    """Return ``transactions`` as an Ibis table.

    Accepts an Ibis table (used as is, on its own backend), a pandas or polars
    frame, a pyarrow Table, or a path to a ``.csv`` / ``.parquet`` file (read by
    DuckDB, or by the forgiving reader of :mod:`.transaction_files` when DuckDB's
    sniffer refuses the CSV).
    """
    if isinstance(transactions, ibis.Table):
        return transactions
    if isinstance(transactions, str | Path):
        path = Path(transactions)
        if not path.exists():
            raise ValueError(f"transactions file not found: {path}")
        suffix = path.suffix.lower()
        con = ibis.duckdb.connect()
        if suffix in {".parquet", ".pq"}:
            return read_parquet_table(path, con)
        if suffix in {".csv", ".txt", ".tsv"}:
            return read_csv_table(path, con)
        raise ValueError(f"transactions file must be .csv or .parquet, got {path.name}")
    if isinstance(transactions, pd.DataFrame | pa.Table):
        return ibis.memtable(transactions)
    if hasattr(transactions, "to_arrow"):  # polars and friends, without importing them
        return ibis.memtable(transactions.to_arrow())
    raise ValueError(
        "transactions must be a pandas/polars frame, a pyarrow Table, an Ibis table "
        f"or a CSV/Parquet path, got {type(transactions).__name__}"
    )


def _as_date(value: Any, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a date: {value!r}") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} is not a date: {value!r}")
    return stamp.date()


def _day_expression(table: ibis.Table, column: str) -> ibis.Value:
    dtype = table[column].type()
    if dtype.is_timestamp():
        return table[column].date()
    if dtype.is_date():
        return table[column]
    if dtype.is_string():
        # try_cast turns bad text into NULL so the bad_day check can name the column.
        return table[column].try_cast("timestamp").date()
    raise ValueError(f"column {column!r} must hold dates, got type {dtype}")


def summarize(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = "amount",
    unit: str = "D",
    observation_end: Any = None,
    calibration_end: Any = None,
) -> pd.DataFrame:
    r"""Summarise a transaction log into the BTYD per-customer table.

    Parameters
    ----------
    transactions : Ibis table, pandas/polars frame, pyarrow Table, or CSV/Parquet path
        One row per order line or order. An Ibis table is summarised on its own
        backend (SQLite, PostgreSQL, DuckDB, …).
    customer_id_col, datetime_col, monetary_value_col : str
        Column names; ``monetary_value_col=None`` skips the spend columns.
    unit : {"D", "W", "M", "day", "week", "month"}
        Time unit of ``recency``, ``T`` and ``duration_holdout`` (7 days a week,
        30 days a month).
    observation_end : date-like, optional
        End of observation; later transactions are ignored. Default: the last
        transaction date.
    calibration_end : date-like, optional
        Split point: ``frequency``, ``recency``, ``T``, ``monetary_value`` describe
        the calibration period (first purchase ≤ ``calibration_end``) and
        ``frequency_holdout``, ``monetary_value_holdout``, ``duration_holdout`` the
        period ``(calibration_end, observation_end]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), with ``frequency`` (:math:`x`),
        ``recency`` (:math:`t_x`), ``T``, ``monetary_value``, ``first_purchase``,
        ``last_purchase`` (dates), ``n_orders`` (input rows) and the holdout
        columns when ``calibration_end`` is given.

    Notes
    -----
    With :math:`d_1 < \dots < d_k` the customer's distinct purchase days,
    :math:`x = k - 1`, :math:`t_x = (d_k - d_1)/u`, :math:`T = (e - d_1)/u` and
    :math:`\bar m = \frac{1}{x}\sum_{j \ge 2} s(d_j)` where :math:`s(d)` is the
    day's spend and :math:`u` the unit length in days (Fader, Hardie & Lee 2005).
    """
    scale = unit_days(unit)
    observation = _as_date(observation_end, "observation_end")
    calibration = _as_date(calibration_end, "calibration_end")
    if calibration is not None and observation is not None and calibration > observation:
        raise ValueError(
            f"calibration_end ({calibration}) must not be after observation_end ({observation})"
        )

    table = to_ibis_table(transactions)
    needed = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    for column in needed:
        if column not in table.columns:
            raise ValueError(
                f"transactions have no column {column!r} (columns: {list(table.columns)})"
            )

    day = _day_expression(table, datetime_col)
    has_money = monetary_value_col is not None
    amount = table[monetary_value_col].cast("float64") if has_money else ibis.literal(0.0)
    rows = table.select(
        customer_id=table[customer_id_col], day=day, amount=amount, raw_day=table[datetime_col]
    )
    if observation is not None:
        rows = rows.filter(rows.day <= ibis.date(observation))

    # Stage 1: one row per customer and purchase day (the BTYD purchase occasion).
    daily = rows.group_by(["customer_id", "day"]).aggregate(
        spend=rows.amount.sum(),
        orders=rows.count(),
        # Count flags with ifelse: PostgreSQL refuses a boolean → bigint cast.
        negative=ibis.ifelse(rows.amount < 0, 1, 0).sum(),
        missing_amount=ibis.ifelse(rows.amount.isnull(), 1, 0).sum(),
        bad_day=ibis.ifelse(rows.day.isnull() & rows.raw_day.notnull(), 1, 0).sum(),
    )
    split = ibis.date(calibration) if calibration is not None else None
    in_calibration = daily.day <= split if split is not None else None  # None: no filter

    # Stage 2: one row per customer.
    aggregates = dict(
        first_purchase=daily.day.min(),
        last_purchase=daily.day.max(where=in_calibration),
        days=daily.day.count(where=in_calibration),
        calibration_spend=daily.spend.sum(where=in_calibration),
        n_orders=daily.orders.sum(where=in_calibration),
        negative=daily.negative.sum(),
        missing_amount=daily.missing_amount.sum(),
        bad_day=daily.bad_day.sum(),
        missing_day=daily.orders.sum(where=daily.day.isnull()),
        last_any=daily.day.max(),
    )
    if split is not None:
        holdout = daily.day > split
        aggregates["holdout_days"] = daily.day.count(where=holdout)
        aggregates["holdout_spend"] = daily.spend.sum(where=holdout)
    # Repeat spend = calibration spend minus the first day's. argmin is about twice
    # as fast as a window function. SQLite compiles it to a bare column next to
    # MIN(), which is only well defined when that MIN() is the query's sole min/max
    # aggregate, so there it gets its own aggregation, joined back.
    first_spend = daily.spend.argmin(daily.day)
    if _backend_name(table) == "sqlite":
        per_customer = daily.group_by("customer_id").aggregate(**aggregates)
        first = daily.group_by("customer_id").aggregate(first_spend=first_spend)
        per_customer = per_customer.join(first, "customer_id")
    else:
        per_customer = daily.group_by("customer_id").aggregate(
            **aggregates, first_spend=first_spend
        )
    if split is not None:
        per_customer = per_customer.filter(per_customer.first_purchase <= split)

    source = Path(transactions) if isinstance(transactions, str | Path) else None
    try:
        frame = per_customer.to_pyarrow().to_pandas()
    except Exception as exc:  # a backend failing to cast a text date, for example
        if source is not None:
            _raise_located(source, datetime_col, monetary_value_col)
        raise ValueError(
            f"could not summarise the transactions (check column {datetime_col!r} holds "
            f"dates and {monetary_value_col!r} numbers): {exc}"
        ) from exc
    try:
        return _finish(
            frame, scale, observation, calibration, has_money, datetime_col, monetary_value_col
        )
    except _BadColumn:
        if source is not None:
            _raise_located(source, datetime_col, monetary_value_col)
        raise


class _BadColumn(ValueError):
    """A value check failed; for a file, the caller looks up the first offending line."""


def _not_a_date(text: str) -> bool:
    text = text.strip()
    return not text or pd.isna(pd.to_datetime(text, errors="coerce"))


def _not_an_amount(text: str) -> bool:
    try:
        value = float(text.strip())
    except ValueError:
        return True
    return not np.isfinite(value) or value < 0


def _raise_located(path: Path, datetime_col: str, monetary_value_col: str | None) -> None:
    """Raise a TransactionFileError at the first bad date or amount in ``path``, if one is found."""
    checks = [(datetime_col, _not_a_date, "is not a date")]
    if monetary_value_col:
        checks.append((monetary_value_col, _not_an_amount,
                       "is not an amount (a number ≥ 0; net refunds into their orders)"))
    for column, is_bad, problem in checks:
        found = locate_bad_value(path, column, is_bad)
        if found is not None:
            line, raw = found
            raise TransactionFileError(path, f"{raw!r} {problem}", line=line, column=column)


def _backend_name(table: ibis.Table) -> str:
    try:
        return table._find_backend(use_default=True).name
    except Exception:  # an unbound table: compile-only use
        return ""


def _finish(
    frame: pd.DataFrame,
    scale: float,
    observation: dt.date | None,
    calibration: dt.date | None,
    has_money: bool,
    datetime_col: str,
    monetary_value_col: str | None,
) -> pd.DataFrame:
    if frame["bad_day"].fillna(0).sum() > 0:
        raise _BadColumn(f"column {datetime_col!r} has values that are not dates")
    if frame["missing_day"].fillna(0).sum() > 0:
        raise _BadColumn(f"column {datetime_col!r} has missing dates")
    if has_money and frame["missing_amount"].fillna(0).sum() > 0:
        raise _BadColumn(f"column {monetary_value_col!r} has missing values")
    if has_money and frame["negative"].fillna(0).sum() > 0:
        raise _BadColumn(
            f"column {monetary_value_col!r} has negative amounts; remove refunds or net "
            f"them into their orders first"
        )
    if frame.empty:
        raise ValueError("no transactions to summarise (empty input or nothing before the end)")

    first = _days(frame["first_purchase"])
    last = _days(frame["last_purchase"])
    if observation is None:
        end = _days(pd.Series([frame["last_any"].max()]))[0]
    else:
        end = _days(pd.Series([observation]))[0]
    period_end = end if calibration is None else _days(pd.Series([calibration]))[0]

    frequency = frame["days"].to_numpy(dtype=np.int64) - 1
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first) / scale,
            "T": (period_end - first) / scale,
        },
        index=pd.Index(frame["customer_id"].to_numpy(), name="customer_id"),
    )
    if has_money:
        repeat_spend = (
            frame["calibration_spend"].fillna(0.0) - frame["first_spend"].fillna(0.0)
        ).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["monetary_value"] = np.where(frequency > 0, repeat_spend / frequency, 0.0)
    out["first_purchase"] = pd.to_datetime(frame["first_purchase"]).to_numpy()
    out["last_purchase"] = pd.to_datetime(frame["last_purchase"]).to_numpy()
    out["n_orders"] = frame["n_orders"].fillna(0).to_numpy(dtype=np.int64)
    if calibration is not None:
        holdout_days = frame["holdout_days"].fillna(0).to_numpy(dtype=np.int64)
        out["frequency_holdout"] = holdout_days
        if has_money:
            spend = frame["holdout_spend"].fillna(0.0).to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["monetary_value_holdout"] = np.where(
                    holdout_days > 0, spend / holdout_days, 0.0
                )
        out["duration_holdout"] = (end - period_end) / scale
    return out.sort_index()


def _days(values: pd.Series) -> np.ndarray:
    """Dates → float days since the epoch (robust to date objects, strings, timestamps)."""
    stamps = pd.to_datetime(values)
    return stamps.to_numpy(dtype="datetime64[D]").astype(np.int64).astype(float)
