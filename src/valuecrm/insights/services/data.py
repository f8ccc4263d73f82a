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

from valuecrm.engine import backends
from valuecrm.orders.models import REVENUE_STATUSES, Order

DAYS_SCHEMA = {"customer_id": "int64", "date": "date", "amount": "float64", "costed_revenue": "float64",
               "cost": "float64", "orders": "int64"}


@dataclass(frozen=True)
class OrdersSource:
    """An Ibis table with one row per customer and purchase day up to ``as_of``.

    Columns: ``customer_id``, ``date`` (local calendar day), ``amount`` (spend that
    day), ``costed_revenue`` and ``cost`` (of orders whose cost is known), ``orders``.
    """

    table: ibis.Table
    as_of: dt.date
    # A warehouse engine's connection (None: the CRM's own database).
    backend: object | None = None
    engine: str = "database"


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


DAYS_TABLE = "insights_customer_days"


def revenue_orders(as_of: dt.date) -> OrdersSource:
    """Revenue orders up to ``as_of``, aggregated per customer and local day into a TEMP table.

    One scan of the orders (cancelled/refunded excluded) inside the database; the
    summaries, the holdout split and the churn features then read the much
    cheaper per-day rows. Call :func:`release` when done.
    """
    statuses = ", ".join(f"'{s}'" for s in REVENUE_STATUSES)  # fixed enum values, not input
    table = connection.ops.quote_name(Order._meta.db_table)
    # The local calendar day of an order, by each backend's own date functions.
    if connection.vendor == "sqlite":
        offset = int(utc_offset(as_of).total_seconds())
        day, real = f"date(placed_at, '{offset:+d} seconds')", "REAL"
    else:
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE).key  # a validated zone name
        day, real = f"(placed_at AT TIME ZONE '{zone}')::date", "DOUBLE PRECISION"
    amount, cost = f"CAST(total_amount AS {real})", f"CAST(total_cost AS {real})"
    select = (
        f"SELECT customer_id, {day} AS date, SUM({amount}) AS amount, "
        f"SUM(CASE WHEN total_cost > 0 THEN {amount} ELSE 0 END) AS costed_revenue, "
        f"SUM(CASE WHEN total_cost > 0 THEN {cost} ELSE 0 END) AS cost, COUNT(*) AS orders "
        f"FROM {table} WHERE status IN ({statuses}) AND {day} <= %s GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {DAYS_TABLE}")
        cursor.execute(f"CREATE TEMP TABLE {DAYS_TABLE} AS {select}",
                       [as_of.isoformat() if connection.vendor == "sqlite" else as_of])
        cursor.execute(f"CREATE INDEX {DAYS_TABLE}_key ON {DAYS_TABLE} (customer_id, date)")
    con = ibis_connection()
    # An explicit schema: no probing query (Ibis' probe needs a temp view on PostgreSQL).
    rows = con.sql(f"SELECT customer_id, date, amount, costed_revenue, cost, orders FROM {DAYS_TABLE}",
                   schema=DAYS_SCHEMA)
    return OrdersSource(rows, as_of)


def release(source: OrdersSource) -> None:
    if source.backend is not None:
        backends.close(source.backend)
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {DAYS_TABLE}")


def customer_days(source: OrdersSource) -> pd.DataFrame:
    """One row per customer and purchase day: spend, revenue/cost of orders with known cost, orders.

    Orders on one day are one purchase occasion in the engine anyway, so this is
    the churn features' input, and the money aggregates below need no further
    scan of the orders.
    """
    frame = source.table.to_pyarrow().to_pandas()
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
        "orders": days["orders"],
        "costed_revenue": days["costed_revenue"],
        "cost": days["cost"],
        "spend_last": amount.where(days["date"] > last_start, 0.0),
        "spend_prev": amount.where((days["date"] > prev_start) & (days["date"] <= last_start), 0.0),
        "spend_before": amount.where(days["date"] <= last_start, 0.0),
    })
    return frame.groupby("customer_id", sort=True).sum().astype(float)


# ----------------------------------------------------------------------------- warehouse engines
ORDERS_BATCH = 100_000


def engine_orders(as_of: dt.date, engine: str, orders_path=None, *, master: str | None = None) -> OrdersSource:
    """The per-customer-day table computed on a warehouse engine (DuckDB or Spark, at
    ``master``), not in the CRM database.

    The orders come from ``orders_path`` (a Parquet file or directory exported from the
    shop's warehouse; its ``customer_id`` are CRM customer ids) or, without it, are
    streamed out of the CRM database in batches of ``ORDERS_BATCH`` rows. Either way
    the grouping into purchase days, and then the BTYD summaries, run on the engine.
    """
    con = backends.connect(engine, threads=getattr(settings, "VALUECRM_ENGINE_THREADS", None),
                           master=master or settings.VALUECRM_SPARK_MASTER)
    try:
        if orders_path:
            orders = backends.read_orders(con, orders_path)
        else:
            orders = backends.orders_from_batches(con, "orders", _order_batches(as_of))
        days = backends.customer_days(orders, as_of=as_of, utc_offset=utc_offset(as_of),
                                      revenue_statuses=REVENUE_STATUSES)
        table = backends.materialize(con, days, "customer_days")
    except Exception:
        backends.close(con)
        raise
    return OrdersSource(table, as_of, backend=con, engine=engine)


def _order_batches(as_of: dt.date):
    """Revenue orders placed up to the day after ``as_of`` (UTC), as plain tuples, batch by batch.

    The day after, so orders late on ``as_of`` in a zone east of UTC are included;
    the engine then cuts at the local day. Amounts leave as floats, times as epoch
    seconds: no Decimal or datetime object is built per row.
    """
    statuses = ", ".join(f"'{s}'" for s in REVENUE_STATUSES)  # fixed enum values, not input
    table = connection.ops.quote_name(Order._meta.db_table)
    if connection.vendor == "sqlite":
        epoch, real = "CAST(strftime('%%s', placed_at) AS INTEGER)", "REAL"
    else:
        epoch, real = "EXTRACT(EPOCH FROM placed_at)::bigint", "DOUBLE PRECISION"
    until = dt.datetime.combine(as_of + dt.timedelta(days=2), dt.time(0), tzinfo=dt.UTC)
    sql = (f"SELECT customer_id, {epoch}, CAST(total_amount AS {real}), CAST(total_cost AS {real}), status "
           f"FROM {table} WHERE status IN ({statuses}) AND placed_at < %s")
    bound = until.strftime("%Y-%m-%d %H:%M:%S") if connection.vendor == "sqlite" else until
    with connection.cursor() as cursor:
        cursor.execute(sql, [bound])
        while rows := cursor.fetchmany(ORDERS_BATCH):
            yield rows
