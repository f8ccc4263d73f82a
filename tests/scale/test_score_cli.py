"""`valuecrm score --engine/--orders/--output`: bad input names the option and writes nothing."""

import datetime as dt

import pandas as pd
import pytest
from typer.testing import CliRunner

from valuecrm.cli import app
from valuecrm.engine.simulate import simulate_bgnbd_transactions
from valuecrm.insights.models import ScoreRun

runner = CliRunner()


@pytest.fixture
def order_files(tmp_path):
    log = simulate_bgnbd_transactions(400, r=0.9, alpha=20.0, a=1.0, b=25.0, observation_days=300,
                                      start="2025-01-01", seed=5)
    folder = tmp_path / "orders"
    folder.mkdir()
    log.iloc[: len(log) // 2].to_parquet(folder / "a.parquet")
    log.iloc[len(log) // 2:].to_parquet(folder / "b.parquet")
    return folder, log


@pytest.mark.parametrize(("args", "option"), [
    (["--engine", "hadoop"], "--engine: Choose one of: database, duckdb, spark."),
    (["--orders", "/no/such/dir", "--engine", "duckdb"], "--orders:"),
    (["--orders", "/tmp"], "--orders: Order files are read by a warehouse engine"),
    (["--output", "/tmp/x.parquet"], "--output:"),
])
def test_bad_options_are_refused_by_name_and_queue_nothing(db, args, option):
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert ScoreRun.objects.count() == 0


def test_orders_without_a_needed_column_name_it(db, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    pd.DataFrame({"customer_id": [1], "amount": [3.0]}).to_parquet(folder / "x.parquet")
    result = runner.invoke(app, ["score", "--orders", str(folder), "--output", str(tmp_path / "s.parquet")])
    assert result.exit_code == 2
    assert "--orders: the orders have no column placed_at or date" in result.output
    assert not (tmp_path / "s.parquet").exists()


def test_scores_from_parquet_to_parquet(db, order_files, tmp_path, monkeypatch):
    folder, log = order_files
    out = tmp_path / "scores.parquet"
    last = log["date"].max().date().isoformat()
    result = runner.invoke(app, ["score", "--engine", "duckdb", "--orders", str(folder), "--output", str(out),
                                 "--as-of", last])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    assert sorted(scores["customer_id"]) == sorted(log["customer_id"].unique())
    assert scores["as_of"].eq(dt.date.fromisoformat(last)).all()
    assert scores["p_alive"].between(0, 1).all() and (scores["clv"] >= 0).all()
    assert set(scores["stage"]) <= {"new", "growing", "loyal", "at_risk", "churned", "reactivated"}
    assert ScoreRun.objects.count() == 0  # a warehouse run writes nothing to the CRM

    # The same scores to a warehouse location by URL: a directory of part files, streamed
    # in batches (150 rows here), through pyarrow's filesystem for file://.
    from valuecrm.insights.services import scoring

    monkeypatch.setattr(scoring, "PARQUET_BATCH", 150)
    warehouse = tmp_path / "lake"
    warehouse.mkdir()
    url = f"file://{warehouse}/scores/"
    result = runner.invoke(app, ["score", "--engine", "duckdb", "--orders", str(folder), "--output", url,
                                 "--as-of", last])
    assert result.exit_code == 0, result.output
    parts = sorted(p.name for p in (warehouse / "scores").iterdir())
    n = len(scores)
    assert parts == [f"part-{k:05d}.parquet" for k in range(-(-n // 150))]
    assert [len(pd.read_parquet(warehouse / "scores" / p)) for p in parts] == [
        min(150, n - k * 150) for k in range(len(parts))]
    from_lake = pd.read_parquet(warehouse / "scores").sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(from_lake, scores.sort_values("customer_id").reset_index(drop=True))


@pytest.mark.parametrize(("output", "message"), [
    ("nosuch://bucket/scores.parquet", "Cannot open nosuch://bucket/scores.parquet"),
    ("file:///no/such/dir/scores.parquet", "The folder /no/such/dir does not exist."),
])
def test_an_output_url_that_cannot_be_written_is_refused_by_name(db, order_files, output, message):
    folder, _log = order_files
    result = runner.invoke(app, ["score", "--engine", "duckdb", "--orders", str(folder), "--output", output])
    assert result.exit_code == 2, result.output
    assert f"--output: {message}" in result.output


def test_spark_without_pyspark_is_refused_naming_the_engine(db, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    result = runner.invoke(app, ["score", "--engine", "spark"])
    assert result.exit_code == 2, result.output
    assert "--engine: Spark is not installed here: pip install 'valuecrm[spark]'" in result.output
    assert ScoreRun.objects.count() == 0
