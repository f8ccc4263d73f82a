"""Scoring on Spark (local mode): parity with the CRM database and DuckDB, and a killed worker.

Marked ``spark``: these start a JVM and are run by ``make test-scale`` (which
installs the ``[spark]`` extra and Debian's OpenJDK), not by ``make test``.
The CDNOW sample comes from ../shared: when it is missing the test fails.
"""

import shutil
import signal

import pandas as pd
import pytest

from valuecrm.insights.models import CustomerValue, RunStatus, ScoreRun
from valuecrm.insights.services import score_now
from valuecrm.insights.services.scoring import score_to_parquet

from .conftest import Site
from .test_engine_parity import AS_OF, COLUMNS, RTOL, SAMPLE, _assert_same, _current, _export_orders
from .test_workers import SCORE_AS, _status

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


# The steps during which a Spark run has the cluster working (summary, unique rows, partitions).
SPARK_STEPS = ("summary", "purchase_model", "spend_model")
VALUES = ("from valuecrm.insights.models import CustomerValue\n"
          "print(sorted(CustomerValue.objects.values_list('customer_id', 'clv', 'p_alive'))[:80])")


def test_kill_9_during_a_spark_run_keeps_the_scores_and_a_rerun_succeeds(demo_db, tmp_path):
    shutil.copy(demo_db, tmp_path / "valuecrm.sqlite3")
    (tmp_path / "secret_key").write_text((demo_db.parent / "secret_key").read_text())
    site = Site(tmp_path, "sqlite")
    site.env.update({"VALUECRM_SCORING_ENGINE": "spark", "VALUECRM_SPARK_MASTER": "local[2]"})
    try:
        first = int(site.python(SCORE_AS + "import datetime as dt\nfrom django.utils import timezone\n"
                                           "from valuecrm.insights.services import score_now\n"
                                           "run = score_now(as_of=timezone.localdate() - dt.timedelta(days=30))\n"
                                           "assert run.status == 'succeeded' and run.engine == 'spark', run.error\n"
                                           "print(run.pk)", timeout=400))
        before = site.python(VALUES)
        worker = site.start_worker()
        # Queue a run and kill the worker while Spark computes (watched from one process).
        pk = int(site.python(SCORE_AS + f"""
import os, signal, time
from valuecrm.insights.services import score_run_create
from valuecrm.insights.tasks import score_run_task
run = score_run_create()
score_run_task(run.pk)
deadline = time.monotonic() + 400
while time.monotonic() < deadline:
    r = ScoreRun.objects.get(pk=run.pk)
    if r.status == "running" and r.current_step in {SPARK_STEPS!r}:
        os.kill({worker.pid}, signal.SIGKILL)
        break
    assert r.status in ("queued", "running"), r.status
    time.sleep(0.02)
print(run.pk)""", timeout=450))
        worker.wait(timeout=10)
        assert worker.returncode == -signal.SIGKILL
        assert site.python(SCORE_AS + f"print(ScoreRun.objects.get(pk={pk}).status)") == "running"
        assert site.python(VALUES) == before  # the killed run wrote nothing
        assert site.python(SCORE_AS + "print(list(ScoreRun.objects.filter(status='succeeded')"
                                      ".values_list('pk', flat=True)))") == f"[{first}]"

        # A new worker fails the dead run on start-up (issue 11's recovery); the rerun succeeds on Spark.
        site.start_worker()
        site.wait_for(_status(pk), "failed", timeout=240)
        assert "worker stopped during this run" in site.python(SCORE_AS + f"print(ScoreRun.objects.get(pk={pk}).error)")
        site.python(f"from valuecrm.insights.tasks import score_run_task\nscore_run_task({pk})")
        site.wait_for(_status(pk), "succeeded", timeout=400)
        assert site.python(SCORE_AS + f"print(ScoreRun.objects.get(pk={pk}).engine)") == "spark"
        assert site.python(VALUES) != before  # the rerun (as of today) replaced the current scores
    finally:
        site.stop()


def test_the_command_scores_parquet_to_parquet_on_the_given_master(db, tmp_path):
    from typer.testing import CliRunner

    from valuecrm.cli import app
    from valuecrm.engine.simulate import simulate_bgnbd_transactions

    log = simulate_bgnbd_transactions(300, r=0.9, alpha=20.0, a=1.0, b=25.0, observation_days=300,
                                      start="2025-01-01", seed=5)
    folder = tmp_path / "orders"
    folder.mkdir()
    log.iloc[: len(log) // 2].to_parquet(folder / "a.parquet")
    log.iloc[len(log) // 2:].to_parquet(folder / "b.parquet")
    out, last = tmp_path / "scores.parquet", log["date"].max().date().isoformat()
    result = CliRunner().invoke(app, ["score", "--engine", "spark", "--spark-master", "local[2]", "--orders",
                                      str(folder), "--output", str(out), "--as-of", last])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    assert sorted(scores["customer_id"]) == sorted(log["customer_id"].unique())
    assert scores["p_alive"].between(0, 1).all() and (scores["clv"] >= 0).all()
    assert ScoreRun.objects.count() == 0
    # The same files on DuckDB give the same numbers.
    duck = tmp_path / "duck.parquet"
    done = score_to_parquet(orders=folder, output=duck, engine="duckdb", as_of=last)
    assert done.n_customers == len(scores)
    expected = pd.read_parquet(duck).set_index("customer_id").sort_index()
    _assert_same(scores.set_index("customer_id").sort_index()[COLUMNS], expected[COLUMNS])
