"""Scoring on Spark (local mode): parity with the CRM database and DuckDB, and a killed worker.

Marked ``spark``: these start a JVM and are run by ``make test-scale`` (which
installs the ``[spark]`` extra and Debian's OpenJDK), not by ``make test``.
The CDNOW sample comes from ../shared: when it is missing the test fails.
"""

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from valuecrm.insights.models import CustomerValue, RunStatus, ScoreRun
from valuecrm.insights.services import score_now
from valuecrm.insights.services.scoring import score_to_parquet

from .conftest import ROOT, Site
from .test_engine_parity import AS_OF, COLUMNS, RTOL, SAMPLE, _assert_same, _current, _export_orders

pytestmark = pytest.mark.spark


@pytest.fixture
def cdnow(db):
    assert SAMPLE.exists(), f"the CDNOW sample is missing: {SAMPLE}"
    from valuecrm.orders.cdnow import cdnow_import

    cdnow_import(SAMPLE)


def test_spark_gives_the_same_scores_as_the_database_and_duckdb(cdnow, tmp_path):
    database = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="database")
    assert database.status == RunStatus.SUCCEEDED, database.error
    on_database = _current()
    assert len(on_database) == 2357

    duck = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="duckdb")
    assert duck.status == RunStatus.SUCCEEDED, duck.error
    _assert_same(_current(), on_database)

    # Orders streamed out of the CRM database into Spark.
    spark = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="spark", spark_master="local[2]")
    assert spark.status == RunStatus.SUCCEEDED, spark.error
    assert spark.engine == "spark" and spark.n_buyers == 2357 and spark.n_orders == database.n_orders
    _assert_same(_current(), on_database)
    for name, value in database.model_params.items():
        assert spark.model_params[name] == pytest.approx(value, rel=RTOL)
    assert CustomerValue.objects.filter(n_orders__gt=0).count() == 2357

    # Orders read by Spark from Parquet files; the scores to Parquet too.
    files = tmp_path / "orders"
    _export_orders(files)
    from_files = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="spark", orders=files)
    assert from_files.status == RunStatus.SUCCEEDED, from_files.error
    _assert_same(_current(), on_database)
    assert ScoreRun.objects.filter(as_of=AS_OF, status=RunStatus.SUCCEEDED).count() == 1

    out = tmp_path / "scores.parquet"
    done = score_to_parquet(orders=files, output=out, engine="spark", as_of=AS_OF, unit="W",
                            model_choice="bgnbd")
    assert done.n_customers == 2357
    written = pd.read_parquet(out).set_index("customer_id").sort_index()
    _assert_same(written[COLUMNS], on_database)
    stages = dict(CustomerValue.objects.values_list("customer_id", "stage"))
    assert (written["stage"] == pd.Series(stages).reindex(written.index)).all()


def test_the_unique_rows_fit_on_spark_is_the_in_process_fit(cdnow):
    """The weighted fit on Spark's distinct (x, t_x, T) rows: far fewer rows, the same parameters."""
    from valuecrm.engine import spark as spark_engine
    from valuecrm.engine.models import BetaGeo
    from valuecrm.insights.services import data, fitting

    source = data.engine_orders(AS_OF, "spark", master="local[2]")
    try:
        summary = fitting.full_summary(source, "W")
        rows = spark_engine.unique_rows(fitting.engine_customers(source, "W"))
    finally:
        data.release(source)
    assert len(summary) == 2357 and int(rows["weight"].sum()) == 2357
    assert len(rows) < len(summary) / 2
    full = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    weighted = BetaGeo(collapse=False).fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["weight"])
    for name, value in full.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=RTOL)
