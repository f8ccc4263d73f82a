"""summarize(): transactions → BTYD summary, one Ibis code path on any backend."""

import sqlite3

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from valuecrm.engine.summary import summarize, unit_days

CAL_END = "1997-09-30"
COLUMNS = ["frequency", "recency", "T", "monetary_value", "frequency_holdout", "n_orders"]


def assert_matches_published(summary: pd.DataFrame, published: pd.DataFrame) -> None:
    assert len(summary) == len(published) == 2357
    assert list(summary.index) == list(published.index)
    np.testing.assert_array_equal(
        summary["frequency"].to_numpy(), published["frequency"].to_numpy()
    )
    np.testing.assert_array_equal(
        summary["recency"].round(2).to_numpy(), published["recency"].to_numpy()
    )
    np.testing.assert_array_equal(summary["T"].round(2).to_numpy(), published["T"].to_numpy())


def test_cdnow_weekly_summary_reproduces_published_csv(cdnow_summary, cdnow_published_summary):
    assert_matches_published(cdnow_summary, cdnow_published_summary)


def test_cdnow_summary_has_all_columns_and_holdout(cdnow_summary):
    assert list(cdnow_summary.columns) == [
        "frequency", "recency", "T", "monetary_value", "first_purchase", "last_purchase",
        "n_orders", "frequency_holdout", "monetary_value_holdout", "duration_holdout",
    ]  # fmt: skip
    assert (cdnow_summary["frequency"] > 0).sum() == 946  # the Gamma-Gamma note's repeaters
    assert cdnow_summary["duration_holdout"].unique().tolist() == [39.0]  # to 1998-06-30
    assert cdnow_summary.loc[cdnow_summary["frequency"] == 0, "monetary_value"].eq(0).all()


def test_customer_one_by_hand(cdnow_summary):
    # Customer 1 bought on 1997-01-01, 1997-01-18 and 1997-08-02 (29.33, 29.73, 14.96).
    row = cdnow_summary.loc[1]
    assert row["frequency"] == 2
    assert row["recency"] == pytest.approx(213 / 7)
    assert row["T"] == pytest.approx(272 / 7)
    assert row["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)
    assert row["first_purchase"] == pd.Timestamp("1997-01-01")


def test_csv_and_parquet_paths_match_in_memory(
    tmp_path, cdnow_transactions, cdnow_summary, cdnow_published_summary
):
    csv_path = tmp_path / "tx.csv"
    parquet_path = tmp_path / "tx.parquet"
    cdnow_transactions.to_csv(csv_path, index=False)
    cdnow_transactions.to_parquet(parquet_path)
    for path in (csv_path, parquet_path, str(csv_path)):
        summary = summarize(path, unit="week", calibration_end=CAL_END)
        assert_matches_published(summary, cdnow_published_summary)
        np.testing.assert_allclose(
            summary[COLUMNS].to_numpy(float), cdnow_summary[COLUMNS].to_numpy(float)
        )


def test_ibis_sqlite_table_is_summarised_in_database(
    tmp_path, cdnow_transactions, cdnow_summary, cdnow_published_summary
):
    db = tmp_path / "crm.sqlite3"
    with sqlite3.connect(db) as raw:
        cdnow_transactions.to_sql("orders", raw, index=False)
    table = ibis.sqlite.connect(db).table("orders")
    summary = summarize(table, unit="W", calibration_end=CAL_END)
    assert_matches_published(summary, cdnow_published_summary)
    np.testing.assert_allclose(
        summary[COLUMNS].to_numpy(float), cdnow_summary[COLUMNS].to_numpy(float)
    )
    np.testing.assert_allclose(
        summary["monetary_value_holdout"].to_numpy(),
        cdnow_summary["monetary_value_holdout"].to_numpy(),
    )


def test_pyarrow_and_string_dates_match(cdnow_transactions, cdnow_summary):
    as_text = cdnow_transactions.assign(date=cdnow_transactions["date"].dt.strftime("%Y-%m-%d"))
    for source in (pa.Table.from_pandas(cdnow_transactions), as_text):
        summary = summarize(source, unit="W", calibration_end=CAL_END)
        np.testing.assert_allclose(
            summary[COLUMNS].to_numpy(float), cdnow_summary[COLUMNS].to_numpy(float)
        )


def test_same_day_purchases_collapse_and_units():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "date": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-01-08 00:00",
                    "2024-01-15 10:00",
                    "2024-01-10 00:00",
                ]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0],
        }
    )
    daily = summarize(tx, unit="day", observation_end="2024-01-31")
    assert daily.loc["a", "frequency"] == 2
    assert daily.loc["a", "recency"] == 14.0
    assert daily.loc["a", "T"] == 30.0
    assert daily.loc["a", "monetary_value"] == 30.0  # (20 + 40) / 2, first day excluded
    assert daily.loc["a", "n_orders"] == 4
    assert daily.loc["b", "frequency"] == 0
    assert daily.loc["b", "monetary_value"] == 0.0
    weekly = summarize(tx, unit="W", observation_end="2024-01-31")
    assert weekly.loc["a", "recency"] == 2.0
    monthly = summarize(tx, unit="M", observation_end="2024-01-31")
    assert monthly.loc["a", "T"] == 1.0
    default_end = summarize(tx)
    assert default_end.loc["a", "T"] == 14.0  # observation ends at the last transaction


def test_observation_end_drops_later_transactions_and_customers():
    tx = pd.DataFrame(
        {"customer_id": [1, 1, 2], "date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-15"]),
         "amount": [1.0, 2.0, 3.0]}
    )  # fmt: skip
    summary = summarize(tx, observation_end="2024-02-01")
    assert summary.index.tolist() == [1]
    assert summary.loc[1, "frequency"] == 0


def test_holdout_columns():
    tx = pd.DataFrame(
        {"customer_id": [1, 1, 1, 1, 2], "amount": [10.0, 20.0, 30.0, 50.0, 5.0],
         "date": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-02-10", "2024-02-20", "2024-02-05"])}
    )  # fmt: skip
    summary = summarize(tx, unit="D", calibration_end="2024-01-31", observation_end="2024-03-01")
    assert summary.index.tolist() == [1]  # customer 2 started after calibration
    row = summary.loc[1]
    assert (row["frequency"], row["recency"], row["T"]) == (1, 4.0, 30.0)
    assert row["frequency_holdout"] == 2
    assert row["monetary_value_holdout"] == 40.0
    assert row["duration_holdout"] == 30.0


def test_missing_amount_column_allowed_when_not_requested():
    tx = pd.DataFrame({"customer_id": [1, 1], "date": pd.to_datetime(["2024-01-01", "2024-01-03"])})
    summary = summarize(tx, monetary_value_col=None)
    assert "monetary_value" not in summary.columns
    assert summary.loc[1, "frequency"] == 1


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"customer_id": [1], "date": ["2024-01-01"]}), "no column 'amount'"),
        (pd.DataFrame({"cid": [1], "date": ["2024-01-01"], "amount": [1.0]}), "no column 'customer_id'"),
        (pd.DataFrame({"customer_id": [1, 1], "date": ["2024-01-01", "soon"], "amount": [1.0, 2.0]}),
         "column 'date' has values that are not dates"),
        (pd.DataFrame({"customer_id": [1], "date": pd.to_datetime(["2024-01-01"]), "amount": [-3.0]}),
         "column 'amount' has negative amounts"),
        (pd.DataFrame({"customer_id": [1], "date": pd.to_datetime(["2024-01-01"]), "amount": [None]}),
         "column 'amount' has missing values"),
        (pd.DataFrame({"customer_id": [1], "date": [3.5], "amount": [1.0]}), "column 'date' must hold dates"),
    ],
)  # fmt: skip
def test_bad_input_names_the_column(frame, message):
    with pytest.raises(ValueError, match=message):
        summarize(frame)


def test_bad_arguments():
    tx = pd.DataFrame({"customer_id": [1], "date": pd.to_datetime(["2024-01-01"]), "amount": [1.0]})
    with pytest.raises(ValueError, match="unit must be"):
        summarize(tx, unit="fortnight")
    with pytest.raises(ValueError, match="calibration_end"):
        summarize(tx, calibration_end="2024-02-01", observation_end="2024-01-15")
    with pytest.raises(ValueError, match="not a date"):
        summarize(tx, observation_end="someday")
    with pytest.raises(ValueError, match="not found"):
        summarize("/nonexistent/orders.csv")
    with pytest.raises(ValueError, match="no transactions"):
        summarize(tx, observation_end="2023-01-01")
    assert unit_days("week") == 7.0


def test_simulated_order_log_summarises_to_the_direct_simulated_summary():
    from valuecrm.engine.simulate import simulate_bgnbd_summary, simulate_bgnbd_transactions

    orders = simulate_bgnbd_transactions(3000, observation_days=200, cohort_days=60, seed=11)
    assert orders["amount"].gt(0).all()
    summary = summarize(orders, unit="D", observation_end="2024-07-18")  # day 199
    direct = simulate_bgnbd_summary(3000, observation_days=200, cohort_days=60, seed=11)
    assert summary.index.tolist() == direct.index.tolist()
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(summary[column].to_numpy(), direct[column].to_numpy())
    assert summary["T"].between(140, 199).all()
