"""Orders → frames for the engine, computed inside the app's own database via Ibis.

Only the insights app moves data between the ORM and the engine (DESIGN.md), and it
does so through Ibis over the same database Django uses, so the heavy per-customer
aggregation runs as SQL where the orders live; only per-customer (or per
customer-day) rows come back to Python.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import ibis
import pandas as pd
from django.conf import settings
from django.db import connection

from valuecrm.sales.models import REVENUE_STATUSES, Order

ORDER_SCHEMA = {"customer_id": "int64", "date": "date", "amount": "float64", "cost": "float64"}


@dataclass(frozen=True)
class OrdersSource:
    """An Ibis expression with one row per revenue order up to ``as_of``.

    Columns: ``customer_id``, ``date`` (local calendar day), ``amount``, ``cost``.
    """

    table: ibis.Table
    as_of: dt.date


def ibis_connection():
    """An Ibis backend over Django's own database connection (SQLite or PostgreSQL).

    Sharing Django's connection means Ibis sees exactly what the ORM sees (the same
    transaction in tests, per-thread connections in the worker) and never commits
    on Django's behalf.
    """
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "sqlite":
        backend = ibis.sqlite.from_connection(raw)
        # Ibis switches LIKE to case-sensitive; Django's icontains relies on the default.
        raw.execute("PRAGMA case_sensitive_like = OFF")
        backend.con = _NoCommit(raw)
        return backend
    if connection.vendor == "postgresql":
        return ibis.postgres.from_connection(raw)
    raise ValueError(f"scoring supports SQLite and PostgreSQL, not {connection.vendor}")


class _NoCommit:
    """Django's SQLite connection, with commit/rollback left to Django's transactions."""

    def __init__(self, raw):
        self._raw = raw

    def commit(self):
        pass

    def rollback(self):
        pass

    def __getattr__(self, name):
        return getattr(self._raw, name)


def utc_offset(as_of: dt.date) -> dt.timedelta:
    """The site's UTC offset on ``as_of``: order days are local calendar days."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return dt.datetime.combine(as_of, dt.time(12), tzinfo=zone).utcoffset() or dt.timedelta(0)


def revenue_orders(as_of: dt.date) -> OrdersSource:
    con = ibis_connection()
    # The local calendar day of an order is computed in SQL by each backend's own
    # date functions (Ibis' interval arithmetic needs SQLite >= 3.42).
    statuses = ", ".join(f"'{s}'" for s in REVENUE_STATUSES)  # fixed enum values, not input
    table = connection.ops.quote_name(Order._meta.db_table)
    if connection.vendor == "sqlite":
        offset = int(utc_offset(as_of).total_seconds())
        day = f"date(placed_at, '{offset:+d} seconds')"
    else:
        day = f"(placed_at AT TIME ZONE '{settings.TIME_ZONE}')::date"
    sql = (
        f"SELECT customer_id, {day} AS date, CAST(total_amount AS REAL) AS amount, "
        f"CAST(total_cost AS REAL) AS cost FROM {table} WHERE status IN ({statuses})"
    )
    if connection.vendor == "postgresql":
        sql = sql.replace("AS REAL", "AS DOUBLE PRECISION")
    # An explicit schema: no probing query (Ibis' probe needs a temp view on PostgreSQL).
    rows = con.sql(sql, schema=ORDER_SCHEMA)
    return OrdersSource(rows.filter(rows.date <= ibis.date(as_of)), as_of)


def customer_days(source: OrdersSource) -> pd.DataFrame:
    """One row per customer and purchase day: spend, and revenue/cost of orders with known cost.

    Orders on one day are one purchase occasion in the engine anyway, so this is
    the churn features' input with fewer rows, and the money aggregates below need
    no further scan of the orders.
    """
    t = source.table
    costed = t.cost > 0
    zero = ibis.literal(0.0)
    daily = t.group_by(["customer_id", "date"]).aggregate(
        amount=t.amount.sum(),
        costed_revenue=ibis.ifelse(costed, t.amount, zero).sum(),
        cost=ibis.ifelse(costed, t.cost, zero).sum(),
    )
    frame = daily.to_pyarrow().to_pandas()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def customer_money(days: pd.DataFrame, as_of: dt.date, window_days: int) -> pd.DataFrame:
    """Per buyer: revenue, cost where known, and spend in trailing windows.

    ``spend_last`` is spend in (as_of − w, as_of], ``spend_prev`` in
    (as_of − 2w, as_of − w], ``spend_before`` everything up to as_of − w.
    """
    end = pd.Timestamp(as_of)
    last_start = end - pd.Timedelta(days=window_days)
    prev_start = end - pd.Timedelta(days=2 * window_days)
    amount = days["amount"]
    frame = pd.DataFrame({
        "customer_id": days["customer_id"],
        "revenue": amount,
        "costed_revenue": days["costed_revenue"],
        "cost": days["cost"],
        "spend_last": amount.where(days["date"] > last_start, 0.0),
        "spend_prev": amount.where((days["date"] > prev_start) & (days["date"] <= last_start), 0.0),
        "spend_before": amount.where(days["date"] <= last_start, 0.0),
    })
    return frame.groupby("customer_id", sort=True).sum().astype(float)
