"""Parity: the same scoring run gives the same numbers whichever engine computes the summary.

On the CDNOW sample (2,357 customers, the BG/NBD paper's data) a run on the CRM's
own database (SQLite under `make test-sqlite`, PostgreSQL under `make
test-postgres`), a run on DuckDB fed from the CRM database, and a run on DuckDB
reading Parquet order files exported from it must agree per customer on P(alive),
expected purchases and CLV to 1e-9 relative. The sample comes from ../shared: when
it is missing the test fails (it must not pass by skipping).
"""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from valuecrm.insights.models import CustomerValue, RunStatus, ScoreRun
from valuecrm.insights.services import score_now
from valuecrm.insights.services.scoring import score_to_parquet
from valuecrm.orders.models import Order


def _sample() -> Path:
    """../shared/datasets/cdnow next to the checkout (or next to a directory holding worktrees)."""
    for parent in Path(__file__).resolve().parents[2:]:
        found = parent / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"
        if found.exists():
            return found
    return Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"


SAMPLE = _sample()
AS_OF = dt.date(1997, 9, 30)
COLUMNS = ["p_alive", "expected_purchases_90d", "clv", "churn_risk"]
RTOL = 1e-9


@pytest.fixture
def cdnow(db):
    assert SAMPLE.exists(), f"the CDNOW sample is missing: {SAMPLE}"
    from valuecrm.orders.cdnow import cdnow_import

    cdnow_import(SAMPLE)


def _current() -> pd.DataFrame:
    rows = CustomerValue.objects.filter(n_orders__gt=0).values_list("customer_id", *COLUMNS)
    return pd.DataFrame(list(rows), columns=["customer_id", *COLUMNS]).set_index("customer_id").sort_index()


def _export_orders(path: Path) -> None:
    """The CRM's orders as a warehouse would hold them: one Parquet file per 1,000 customers."""
    rows = list(Order.objects.values_list("customer_id", "placed_at", "total_amount", "total_cost", "status"))
    frame = pd.DataFrame(rows, columns=["customer_id", "placed_at", "amount", "cost", "status"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"], utc=True).dt.tz_localize(None)
    frame["amount"] = frame["amount"].astype(float)
    frame["cost"] = frame["cost"].astype(float)
    path.mkdir()
    for part, chunk in frame.groupby(frame["customer_id"] // 1000):
        pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), path / f"part-{part:03d}.parquet")


def _assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.index) == list(expected.index)
    for column in COLUMNS:
        np.testing.assert_allclose(actual[column].to_numpy(float), expected[column].to_numpy(float),
                                   rtol=RTOL, atol=0, err_msg=column)


def test_database_and_duckdb_runs_give_the_same_scores(cdnow, tmp_path):
    database = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="database")
    assert database.status == RunStatus.SUCCEEDED, database.error
    assert database.engine == "database" and database.n_buyers == 2357
    on_database = _current()

    duck = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="duckdb")
    assert duck.status == RunStatus.SUCCEEDED, duck.error
    assert duck.engine == "duckdb" and duck.n_buyers == 2357 and duck.n_orders == database.n_orders
    _assert_same(_current(), on_database)
    for name, value in database.model_params.items():
        assert duck.model_params[name] == pytest.approx(value, rel=RTOL)

    files = tmp_path / "orders"
    _export_orders(files)
    from_files = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd", engine="duckdb", orders=files)
    assert from_files.status == RunStatus.SUCCEEDED, from_files.error
    _assert_same(_current(), on_database)
    # Each rerun for the same as_of replaced the previous snapshot.
    assert ScoreRun.objects.filter(as_of=AS_OF, status=RunStatus.SUCCEEDED).count() == 1

    out = tmp_path / "scores.parquet"
    done = score_to_parquet(orders=files, output=out, as_of=AS_OF, unit="W", model_choice="bgnbd")
    assert done.n_customers == 2357
    written = pd.read_parquet(out).set_index("customer_id").sort_index()
    _assert_same(written[COLUMNS], on_database)
    stages = dict(CustomerValue.objects.values_list("customer_id", "stage"))
    assert (written["stage"] == pd.Series(stages).reindex(written.index)).all()


def test_auto_model_choice_agrees_too(cdnow):
    # The holdout comparison (calibration summary on the engine) picks the same model.
    database = score_now(as_of=AS_OF, unit="W", engine="database")
    on_database = _current()
    duck = score_now(as_of=AS_OF, unit="W", engine="duckdb")
    assert duck.transaction_model == database.transaction_model
    assert [r["model"] for r in duck.holdout_comparison] == [r["model"] for r in database.holdout_comparison]
    _assert_same(_current(), on_database)
