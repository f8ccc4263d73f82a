"""`valuecrm model fit|score` through Typer's CliRunner."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from valuecrm.commands.model import app

runner = CliRunner()


@pytest.fixture
def summary_csv(tmp_path, cdnow_summary):
    path = tmp_path / "summary.csv"
    columns = ["frequency", "recency", "T", "monetary_value"]
    cdnow_summary[columns].reset_index().to_csv(path, index=False)
    return path


def test_fit_bgnbd_on_cdnow_summary_prints_json(summary_csv):
    result = runner.invoke(
        app, ["fit", "bgnbd", "--input", str(summary_csv), "--format", "summary"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {
        "model",
        "params",
        "log_likelihood",
        "standard_errors",
        "n",
        "fit_seconds",
    }
    assert payload["model"] == "bgnbd"
    assert payload["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert round(payload["params"]["alpha"], 3) == 4.414
    assert payload["n"] == 2357
    assert payload["standard_errors"]["r"] == pytest.approx(0.0126, abs=2e-4)


def test_fit_from_transactions_with_calibration(tmp_path, cdnow_transactions):
    path = tmp_path / "orders.csv"
    cdnow_transactions.to_csv(path, index=False)
    result = runner.invoke(
        app,
        ["fit", "bgnbd", "-i", str(path), "--format", "transactions", "--unit", "week",
         "--calibration-end", "1997-09-30"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)


def test_fit_gammagamma_and_weights(tmp_path, summary_csv):
    result = runner.invoke(app, ["fit", "gammagamma", "--input", str(summary_csv)])
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["params"]
    assert (round(params["p"], 2), round(params["q"], 2), round(params["gamma"], 2)) == (
        6.25,
        3.74,
        15.44,
    )

    frame = pd.read_csv(summary_csv)
    weighted = frame.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    path = tmp_path / "weighted.csv"
    weighted.to_csv(path, index=False)
    result = runner.invoke(app, ["fit", "mbgnbd", "--input", str(path)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["n"] == 2357
    assert round(payload["params"]["r"], 3) == 0.525


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_predictions_with_clv(tmp_path, summary_csv, suffix):
    output = tmp_path / f"scores{suffix}"
    result = runner.invoke(
        app,
        ["score", "bgnbd", "--input", str(summary_csv), "--unit", "week", "--output", str(output),
         "--horizon-days", "273"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(output) if suffix == ".parquet" else pd.read_csv(output)
    assert list(scores.columns) == [
        "customer_id", "p_alive", "expected_purchases", "expected_spend", "clv",
    ]  # fmt: skip
    assert len(scores) == 2357
    assert scores["p_alive"].between(0, 1).all()
    assert (scores["clv"] >= 0).all()
    first = scores.set_index("customer_id").loc[1]
    # Customer 1 (x=2, t_x=30.43, T=38.86): 1.226 purchases expected in 39 weeks.
    assert first["expected_purchases"] == pytest.approx(1.226, abs=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "nosuchmodel", "--input", "x.csv"], "unknown model 'nosuchmodel'"),
        (["fit", "bgnbd", "--input", "/nonexistent.csv"], "input file not found"),
        (["fit", "sbg", "--input", "x.csv"], "use --format survival"),
        (["fit", "bgnbd", "--input", "x.csv", "--format", "survival"], "only fits sbg"),
    ],
)
def test_user_errors_are_one_clear_line(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_missing_column_and_engine_errors(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"frequency": [1], "recency": [2]}).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", "bgnbd", "--input", str(path)])
    assert result.exit_code == 2
    assert "needs column(s) T" in result.output
    pd.DataFrame({"frequency": [1, 2], "recency": [5, 1], "T": [2, 3]}).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", "bgnbd", "--input", str(path)])
    assert result.exit_code == 1
    assert "recency must not exceed T" in result.output


def test_fit_and_score_sbg_on_survival_counts(tmp_path):
    # Fader & Hardie (2007) "regular" cohort: alpha = 0.704, beta = 1.182.
    path = tmp_path / "survival.csv"
    alive = [1000, 631, 468, 382, 326, 289, 262, 241]
    pd.DataFrame({"period": range(8), "alive": alive}).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", "sbg", "--input", str(path), "--format", "survival"])
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["params"]
    assert (round(params["alpha"], 3), round(params["beta"], 3)) == (0.704, 1.182)
    output = tmp_path / "retention.csv"
    result = runner.invoke(
        app, ["score", "sbg", "-i", str(path), "-f", "survival", "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(output)["period"].tolist() == list(range(1, 8))
