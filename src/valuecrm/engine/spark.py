r"""Scoring on Apache Spark: the session, the per-customer BTYD table, unique rows, predictions.

Spark is reached through Ibis's pyspark backend, so the per-customer-day table and
the BTYD summaries are the same Ibis expressions DuckDB, SQLite and PostgreSQL run
(:func:`valuecrm.engine.backends.customer_days`, :func:`valuecrm.engine.summary.summarize`).
On top of those this module gives the two things that keep a run on millions of
customers cheap:

* :func:`unique_rows` — the distinct ``(frequency, recency, T)`` rows with how many
  customers share each, computed on Spark; the purchase model is fitted on them
  with those counts as weights, which is the same likelihood as the full fit
  (unlike the Databricks CLV accelerator, which drops the counts);
* :func:`predict` — P(alive), expected purchases and revenue CLV per customer,
  computed in Spark's partitions with ``mapInArrow`` (the Arrow form of
  ``mapInPandas``) by the engine's own vectorised model code, and handed back as
  Arrow record batches (one partition at a time, never one Python object per row).

``master`` is ``local[N]`` (this machine, N cores), ``spark://host:7077`` or
``yarn`` (a cluster), or ``sc://host:15002`` (Spark Connect). pyspark is an
optional extra (``pip install 'valuecrm[spark]'``) and Java comes from the
system (``scripts/install-spark.sh``).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from .clv import customer_lifetime_value

__all__ = ["DEFAULT_MASTER", "customer_table", "predict", "session", "unique_rows"]

DEFAULT_MASTER = "local[2]"
# Few shuffle partitions on a laptop-sized master; a cluster sets its own.
LOCAL_SHUFFLE_PARTITIONS = 8


def session(master: str = DEFAULT_MASTER, *, app_name: str = "valuecrm-scoring"):
    """The process's Spark session for ``master`` (created once, then reused by every run)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master.startswith("sc://"):
        return builder.remote(master).getOrCreate()
    builder = builder.master(master).config("spark.ui.enabled", "false").config(
        "spark.ui.showConsoleProgress", "false").config("spark.sql.session.timeZone", "UTC")
    if master.startswith("local"):
        # Local executors run this interpreter (with valuecrm importable); on a cluster
        # the executors' Python must have valuecrm installed (docs/deploy.md).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _day_number(value: ibis.Value) -> ibis.Value:
    return value.delta(ibis.date(1970, 1, 1), unit="day").cast("float64")


def customer_table(days: ibis.Table, *, as_of: dt.date, unit_days: float) -> ibis.Table:
    r"""One row per buyer from the per-customer-day table (an Ibis expression).

    ``frequency`` :math:`x` = purchase days − 1, ``recency`` :math:`t_x` and ``T``
    in model units (days / ``unit_days``), ``monetary_value`` = mean spend per
    repeat purchase day, ``observed_spend`` = revenue per order (the spend used
    when there is too little repeat history for a spend model) — the definitions
    of :func:`valuecrm.engine.summary.summarize`.
    """
    per = days.group_by("customer_id").aggregate(
        first=days.date.min(), last=days.date.max(), n_days=days.date.count(),
        spend=days.amount.sum(), first_spend=days.amount.argmin(days.date), orders=days.orders.sum(),
    )
    first, last = _day_number(per["first"]), _day_number(per["last"])
    end = float((as_of - dt.date(1970, 1, 1)).days)
    frequency = per.n_days - 1
    return per.select(
        customer_id=per.customer_id,
        frequency=frequency,
        recency=(last - first) / unit_days,
        T=(ibis.literal(end) - first) / unit_days,
        monetary_value=ibis.ifelse(frequency > 0, (per.spend - per.first_spend) / frequency.cast("float64"),
                                   0.0),
        observed_spend=per.spend / ibis.greatest(per.orders, 1).cast("float64"),
    )


def unique_rows(customers: ibis.Table) -> pd.DataFrame:
    """The distinct (frequency, recency, T) rows and the number of customers on each.

    In the order of each row's first customer id — the order
    :func:`valuecrm.engine.models.base.collapse_rows` gives a summary sorted by
    customer — so a weighted fit on them is the very same computation as the
    in-process fit, to the last bit.
    """
    grouped = customers.group_by(["frequency", "recency", "T"]).aggregate(
        weight=customers.count(), first_customer=customers.customer_id.min())
    frame = grouped.order_by("first_customer").to_pyarrow().to_pandas()
    return frame[["frequency", "recency", "T", "weight"]]


def _partition_scorer(transaction_model, spend_model, *, horizon: float, clv_months: int,
                      discount_monthly: float, unit_days: float, days_per_month: float):
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            column = {name: batch.column(name).to_numpy(zero_copy_only=False) for name in batch.schema.names}
            x, t_x, t = (column[name].astype(float) for name in ("frequency", "recency", "T"))
            if spend_model is not None:
                spend = np.asarray(spend_model.expected_spend(x, column["monetary_value"].astype(float)), float)
            else:
                spend = column["observed_spend"].astype(float)
            scores = pa.table({
                "customer_id": pa.array(column["customer_id"].astype(np.int64)),
                "p_alive": np.asarray(transaction_model.p_alive(x, t_x, t), dtype=float),
                "expected_purchases": np.asarray(transaction_model.expected_purchases(horizon, x, t_x, t),
                                                 dtype=float),
                "clv_revenue": np.asarray(customer_lifetime_value(
                    transaction_model, spend, x, t_x, t, horizon_months=clv_months,
                    discount_rate_monthly=discount_monthly, margin=1.0, time_unit_days=unit_days,
                    days_per_month=days_per_month), dtype=float),
            })
            # One row per input batch: the scores as an Arrow IPC stream, so the driver
            # receives a partition's scores as one binary value, not one object per row.
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, scores.schema) as writer:
                writer.write_table(scores)
            yield pa.RecordBatch.from_pydict({"scores": [sink.getvalue().to_pybytes()]},
                                             schema=_IPC_SCHEMA)
    return score


_IPC_SCHEMA = pa.schema([("scores", pa.binary())])


def predict(con, customers: ibis.Table, transaction_model, spend_model=None, *, horizon: float,
            clv_months: int, discount_monthly: float, unit_days: float,
            days_per_month: float) -> Iterator[pa.RecordBatch]:
    """Per-customer predictions computed in Spark's partitions (``mapInArrow``).

    ``transaction_model`` (BG/NBD, Pareto/NBD …) and ``spend_model`` (Gamma-Gamma,
    or None: ``observed_spend`` is the spend) are fitted models; they travel to the
    executors pickled, and each partition runs the engine's vectorised numpy code
    on its Arrow batches. Yields Arrow record batches of ``customer_id``,
    ``p_alive``, ``expected_purchases`` (over ``horizon`` model units) and
    ``clv_revenue`` (``clv_months`` of discounted revenue, before margin), pulled
    to the driver one partition at a time (bounded memory).
    """
    frame = con._session.sql(con.compile(customers))
    scored = frame.mapInArrow(_partition_scorer(
        transaction_model, spend_model, horizon=horizon, clv_months=clv_months,
        discount_monthly=discount_monthly, unit_days=unit_days, days_per_month=days_per_month),
        schema="scores binary")
    for row in scored.toLocalIterator(prefetchPartitions=True):
        yield from pa.ipc.open_stream(row["scores"])
