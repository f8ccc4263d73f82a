"""Warehouse engines for the BTYD summary: order history in, per-customer-day table out.

The summary (:func:`valuecrm.engine.summary.summarize`) runs on whatever Ibis backend
holds its input. This module gets order history *onto* such an engine — a
directory of Parquet files exported from a shop's warehouse, or rows streamed out
of another database — and reduces it to one row per customer and local purchase
day, the BTYD purchase occasion, with the same columns the CRM's own database
produces: ``customer_id``, ``date``, ``amount``, ``costed_revenue``, ``cost``,
``orders``.

Order files hold one row per order with ``customer_id`` (integer), either
``placed_at`` (timestamp, UTC) or ``date`` (the local calendar day), ``amount``
(number ≥ 0), and optionally ``cost`` (0 or missing: unknown) and ``status``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import ibis
import pyarrow as pa

__all__ = ["ENGINES", "OrdersFileError", "close", "connect", "customer_days", "is_url", "materialize",
           "orders_from_batches", "read_orders"]

ENGINES = ("duckdb", "spark")

ORDERS_SCHEMA = pa.schema([
    ("customer_id", pa.int64()), ("placed_at", pa.timestamp("us")), ("amount", pa.float64()),
    ("cost", pa.float64()), ("status", pa.string()),
])


class OrdersFileError(ValueError):
    """The order files cannot be scored (missing, unreadable, a column missing or mistyped)."""


def connect(engine: str, *, threads: int | None = None, master: str | None = None) -> ibis.BaseBackend:
    """A connection to ``engine``: a fresh in-memory DuckDB database, or Ibis over the
    process's Spark session for ``master`` (``local[2]``, ``spark://…``, ``sc://…``)."""
    if engine == "spark":
        from . import spark

        con = ibis.pyspark.connect(spark.session(master or spark.DEFAULT_MASTER))
        con._valuecrm_views = []
        return con
    if engine != "duckdb":
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    con = ibis.duckdb.connect()
    if threads:
        con.raw_sql(f"SET threads = {int(threads)}")
    return con


def is_url(path) -> bool:
    """A location the engine reads itself (``s3a://``, ``hdfs://``, ``abfss://`` …), not a local path."""
    return "://" in str(path)


def materialize(con: ibis.BaseBackend, expr: ibis.Table, name: str) -> ibis.Table:
    """Compute ``expr`` once and keep it for the rest of the run (a TEMP table; on Spark a
    cached temporary view). :func:`close` drops it."""
    if con.name != "pyspark":
        return con.create_table(name, expr, temp=True)
    view = f"{name}_{uuid.uuid4().hex[:12]}"
    frame = con._session.sql(con.compile(expr)).persist()
    frame.createOrReplaceTempView(view)
    con._valuecrm_views.append((view, frame))
    return con.table(view)


def close(con: ibis.BaseBackend) -> None:
    """End a run's use of ``con``: DuckDB's database goes; on Spark the run's views and
    cached data go and the session stays for the next run (starting one takes seconds)."""
    if con.name != "pyspark":
        con.disconnect()
        return
    for view, frame in getattr(con, "_valuecrm_views", []):
        con._session.catalog.dropTempView(view)
        frame.unpersist()
    con._valuecrm_views = []


def read_orders(con: ibis.BaseBackend, path: str | Path) -> ibis.Table:
    """Order rows from one Parquet file or a directory of them (read lazily by the engine)."""
    if con.name == "pyspark" and is_url(path):
        return _spark_parquet(con, [str(path)], path)
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in {".parquet", ".pq"})
        if not files:
            raise OrdersFileError(f"no Parquet files in {path}")
    elif path.is_file():
        files = [path]
    else:
        raise OrdersFileError(f"orders not found: {path}")
    if con.name == "pyspark":
        return _spark_parquet(con, [str(f) for f in files], path)
    try:
        table = con.read_parquet([str(f) for f in files])
    except Exception as exc:  # a corrupt or non-Parquet file
        raise OrdersFileError(f"cannot read the Parquet files in {path}: {exc}") from exc
    _check_columns(table)
    return table


def _spark_parquet(con: ibis.BaseBackend, locations: list[str], path) -> ibis.Table:
    view = f"orders_{uuid.uuid4().hex[:12]}"
    try:
        frame = con._session.read.parquet(*locations)
        frame.createOrReplaceTempView(view)
        table = con.table(view)
    except Exception as exc:  # missing, corrupt or non-Parquet files (Spark's own exception types)
        raise OrdersFileError(f"cannot read the Parquet files in {path}: {exc}") from exc
    con._valuecrm_views.append((view, frame))
    _check_columns(table)
    return table


def _check_columns(table: ibis.Table) -> None:
    columns = set(table.columns)
    missing = [c for c in ("customer_id", "amount") if c not in columns]
    if "placed_at" not in columns and "date" not in columns:
        missing.append("placed_at or date")
    if missing:
        raise OrdersFileError(f"the orders have no column {', '.join(missing)} "
                              f"(columns: {', '.join(table.columns)})")
    schema = table.schema()
    if not schema["customer_id"].is_integer():
        raise OrdersFileError(f"column customer_id must hold integers, got {schema['customer_id']}")
    for name in ("amount", "cost"):
        if name in columns and not schema[name].is_numeric():
            raise OrdersFileError(f"column {name} must hold numbers, got {schema[name]}")
    if "placed_at" in columns and not schema["placed_at"].is_timestamp():
        raise OrdersFileError(f"column placed_at must hold timestamps, got {schema['placed_at']}")
    if "placed_at" not in columns and not (schema["date"].is_date() or schema["date"].is_timestamp()):
        raise OrdersFileError(f"column date must hold dates, got {schema['date']}")


def orders_from_batches(con: ibis.BaseBackend, name: str,
                        batches: Iterable[Sequence[tuple]]) -> ibis.Table:
    """Load order rows ``(customer_id, placed_at_epoch_seconds, amount, cost, status)`` batch by batch.

    Used to move orders out of a database the engine cannot read directly; only one
    batch is held in Python at a time (on Spark each batch becomes a DataFrame and
    the batches are unioned).
    """
    if con.name == "pyspark":
        return _spark_batches(con, name, batches)
    con.create_table(name, schema=ibis.schema(ORDERS_SCHEMA))
    for rows in batches:
        if not rows:
            continue
        ids, epochs, amounts, costs, statuses = zip(*rows, strict=True)
        batch = pa.table({
            "customer_id": pa.array(ids, pa.int64()),
            "placed_at": pa.array([int(e * 1_000_000) for e in epochs], pa.int64()).cast(pa.timestamp("us")),
            "amount": pa.array(amounts, pa.float64()),
            "cost": pa.array(costs, pa.float64()),
            "status": pa.array(statuses, pa.string()),
        })
        con.insert(name, batch)
    return con.table(name)


def _spark_batches(con: ibis.BaseBackend, name: str, batches: Iterable[Sequence[tuple]]) -> ibis.Table:
    from pyspark.sql.types import (
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampNTZType,
    )

    schema = StructType([StructField("customer_id", LongType()), StructField("placed_at", TimestampNTZType()),
                         StructField("amount", DoubleType()), StructField("cost", DoubleType()),
                         StructField("status", StringType())])
    session = con._session
    frames = []
    for rows in batches:
        if not rows:
            continue
        ids, epochs, amounts, costs, statuses = zip(*rows, strict=True)
        batch = pa.table({
            "customer_id": pa.array(ids, pa.int64()),
            "placed_at": pa.array([int(e * 1_000_000) for e in epochs], pa.int64()).cast(pa.timestamp("us")),
            "amount": pa.array(amounts, pa.float64()), "cost": pa.array(costs, pa.float64()),
            "status": pa.array(statuses, pa.string()),
        })
        frames.append(session.createDataFrame(batch, schema=schema))
    frame = session.createDataFrame([], schema=schema)
    for part in frames:
        frame = frame.unionByName(part)
    view = f"{name}_{uuid.uuid4().hex[:12]}"
    frame = frame.persist()
    frame.createOrReplaceTempView(view)
    con._valuecrm_views.append((view, frame))
    return con.table(view)


def customer_days(orders: ibis.Table, *, as_of: dt.date, utc_offset: dt.timedelta,
                  revenue_statuses: Sequence[str] | None = None) -> ibis.Table:
    r"""One row per customer and local purchase day up to ``as_of`` (an Ibis expression).

    The local day of an order placed at UTC time :math:`t` is the date of
    :math:`t + o`, with :math:`o` the site's UTC offset on ``as_of`` (the same rule
    as the CRM's SQLite path). ``costed_revenue`` and ``cost`` sum only orders
    whose cost is known (> 0), so a margin share can be taken over them.
    """
    if "placed_at" in orders.columns:
        day = (orders.placed_at + ibis.interval(seconds=int(utc_offset.total_seconds()))).date()
    else:
        column = orders["date"]
        day = column.date() if column.type().is_timestamp() else column
    amount = orders.amount.cast("float64")
    cost = orders.cost.cast("float64") if "cost" in orders.columns else ibis.literal(0.0)
    known = cost.fill_null(0.0) > 0
    rows = orders.select(customer_id=orders.customer_id.cast("int64"), date=day, amount=amount,
                         costed_revenue=ibis.ifelse(known, amount, 0.0),
                         cost=ibis.ifelse(known, cost, 0.0),
                         **({"status": orders.status} if "status" in orders.columns else {}))
    rows = rows.filter(rows.date <= ibis.date(as_of))
    if revenue_statuses is not None and "status" in rows.columns:
        rows = rows.filter(rows.status.isin(list(revenue_statuses)))
    return rows.group_by(["customer_id", "date"]).aggregate(
        amount=rows.amount.sum(), costed_revenue=rows.costed_revenue.sum(), cost=rows.cost.sum(),
        orders=rows.count(),
    )
