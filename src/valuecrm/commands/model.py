"""`valuecrm model fit|score`: fit and score the value engine's models from files.

Thin wrappers over :mod:`valuecrm.engine`: read a file, fit the model looked up in
``valuecrm.engine.models.MODELS``, print JSON or write per-customer predictions.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer

app = typer.Typer(
    help="Fit and score customer-value models (BG/NBD, Pareto/NBD, Gamma-Gamma …) from files.",
    no_args_is_help=True,
)

KNOWN_MODELS = ("bgnbd", "mbgnbd", "paretonbd", "bgbb", "sbg", "gammagamma")
RFM_MODELS = ("bgnbd", "mbgnbd", "paretonbd")  # fitted on frequency, recency, T


class InputFormat(StrEnum):
    summary = "summary"
    transactions = "transactions"
    survival = "survival"


class CommandError(Exception):
    """A user mistake worth one clear line on stderr (exit code 2)."""


# --------------------------------------------------------------------------- helpers


def _model_class(name: str) -> type:
    from valuecrm.engine.models import MODELS

    key = name.lower()
    if key in MODELS:
        return MODELS[key]
    if key in KNOWN_MODELS:
        raise CommandError(f"model {name!r} is not available in this version yet")
    raise CommandError(f"unknown model {name!r}; choose one of {', '.join(KNOWN_MODELS)}")


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CommandError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if suffix in {".csv", ".txt", ".tsv"}:
        from valuecrm.engine.transaction_files import read_csv_frame

        # The same forgiving reader as transaction files: line endings, BOM, ;/tab, GBK.
        return read_csv_frame(path)
    raise CommandError(f"input must be a .csv or .parquet file, got {path.name}")


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CommandError(
            f"{what} input needs column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )


def _load(
    model: str,
    path: Path,
    input_format: InputFormat,
    unit: str,
    calibration_end: str | None,
    observation_end: str | None,
) -> pd.DataFrame:
    """Read the input as the frame the model is fitted on."""
    if model == "sbg":
        if input_format is not InputFormat.survival:
            raise CommandError("sbg is fitted on cohort survival counts: use --format survival")
        frame = _read_table(path)
        _require(frame, ["period", "alive"], "survival")
        return frame
    if input_format is InputFormat.survival:
        raise CommandError(f"--format survival only fits sbg, not {model}")
    if input_format is InputFormat.transactions:
        if model == "bgbb":
            raise CommandError("bgbb needs a discrete-time summary: use --format summary")
        from valuecrm.engine.summary import summarize

        if not path.exists():
            raise CommandError(f"input file not found: {path}")
        summary = summarize(
            path,
            unit=unit,
            calibration_end=calibration_end,
            observation_end=observation_end,
        )
        return summary.reset_index()
    frame = _read_table(path)
    if model == "bgbb":
        _require(frame, ["frequency", "recency", "n_periods"], "bgbb summary")
    elif model == "gammagamma":
        _require(frame, ["frequency", "monetary_value"], "gammagamma summary")
    else:
        _require(frame, ["frequency", "recency", "T"], "summary")
    return frame


def _weights(frame: pd.DataFrame) -> Any:
    return frame["weight"].to_numpy(dtype=float) if "weight" in frame.columns else None


def _repeaters(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]


def _fit(model: str, frame: pd.DataFrame, penalizer: float) -> Any:
    estimator = _model_class(model)(penalizer_coef=penalizer)
    if model == "sbg":
        return estimator.fit(frame)
    if model == "gammagamma":
        repeat = _repeaters(frame)
        if repeat.empty:
            raise CommandError(
                "gammagamma needs customers with frequency > 0 and monetary_value > 0"
            )
        return estimator.fit(
            repeat["frequency"], repeat["monetary_value"], weights=_weights(repeat)
        )
    if model == "bgbb":
        return estimator.fit(
            frame["frequency"], frame["recency"], frame["n_periods"], weights=_weights(frame)
        )
    return estimator.fit(frame["frequency"], frame["recency"], frame["T"], weights=_weights(frame))


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _run(action) -> None:
    try:
        action()
    except CommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # the engine's input and convergence errors
        from valuecrm.engine.transaction_files import TransactionFileError

        typer.echo(f"error: {exc}", err=True)
        # An unreadable file is the user's to fix, like a bad flag.
        raise typer.Exit(2 if isinstance(exc, TransactionFileError) else 1) from None


# --------------------------------------------------------------------------- commands

MODEL_ARG = typer.Argument(..., help=f"One of: {', '.join(KNOWN_MODELS)}.")
INPUT_OPT = typer.Option(..., "--input", "-i", help="CSV or Parquet file.")
FORMAT_OPT = typer.Option(
    InputFormat.summary,
    "--format",
    "-f",
    help="summary: customer_id,frequency,recency,T[,monetary_value][,weight] "
    "(bgbb: frequency,recency,n_periods); transactions: customer_id,date,amount; "
    "survival: period,alive.",
)
UNIT_OPT = typer.Option("day", "--unit", help="Time unit of the summary: day or week.")
CAL_OPT = typer.Option(None, "--calibration-end", help="Transactions: end of calibration.")
OBS_OPT = typer.Option(None, "--observation-end", help="Transactions: end of observation.")
PENALIZER_OPT = typer.Option(0.0, "--penalizer", help="L2 penalty on the parameters.")


@app.command("fit")
def fit_command(
    model: str = MODEL_ARG,
    input: Path = INPUT_OPT,  # noqa: A002 - the option is called --input
    input_format: InputFormat = FORMAT_OPT,
    unit: str = UNIT_OPT,
    calibration_end: str | None = CAL_OPT,
    observation_end: str | None = OBS_OPT,
    penalizer: float = PENALIZER_OPT,
) -> None:
    """Fit MODEL and print its parameters, log-likelihood and standard errors as JSON."""

    def action() -> None:
        name = model.lower()
        _model_class(name)
        frame = _load(name, input, input_format, unit, calibration_end, observation_end)
        fitted = _fit(name, frame, penalizer)
        payload = {
            "model": name,
            "params": fitted.params_,
            "log_likelihood": fitted.log_likelihood_,
            "standard_errors": {k: _finite_or_none(v) for k, v in fitted.standard_errors_.items()},
            "n": fitted.n_,
            "fit_seconds": fitted.fit_seconds_,
        }
        typer.echo(json.dumps(payload, indent=2))

    _run(action)


@app.command("score")
def score_command(
    model: str = MODEL_ARG,
    input: Path = INPUT_OPT,  # noqa: A002
    output: Path = typer.Option(..., "--output", "-o", help="Predictions file, .csv or .parquet."),
    input_format: InputFormat = FORMAT_OPT,
    unit: str = UNIT_OPT,
    calibration_end: str | None = CAL_OPT,
    observation_end: str | None = OBS_OPT,
    horizon_days: int = typer.Option(365, "--horizon-days", help="Prediction horizon in days."),
    discount_rate_monthly: float = typer.Option(0.01, "--discount-rate-monthly"),
    margin: float = typer.Option(1.0, "--margin", help="Gross margin applied to CLV."),
    penalizer: float = PENALIZER_OPT,
) -> None:
    """Fit MODEL on the input and write per-customer predictions (P(alive), purchases, CLV)."""

    def action() -> None:
        from valuecrm.engine.summary import unit_days

        name = model.lower()
        _model_class(name)
        if output.suffix.lower() not in {".csv", ".parquet"}:
            raise CommandError(f"--output must end in .csv or .parquet, got {output.name}")
        if horizon_days < 1:
            raise CommandError("--horizon-days must be at least 1")
        frame = _load(name, input, input_format, unit, calibration_end, observation_end)
        fitted = _fit(name, frame, penalizer)
        days = unit_days(unit)
        scores = _scores(
            name, fitted, frame, horizon_days / days, horizon_days, days, discount_rate_monthly,
            margin, penalizer,
        )  # fmt: skip
        if output.suffix.lower() == ".parquet":
            scores.to_parquet(output, index=False)
        else:
            scores.to_csv(output, index=False)
        typer.echo(f"wrote {len(scores)} rows to {output}")

    _run(action)


def _scores(
    name: str,
    fitted: Any,
    frame: pd.DataFrame,
    horizon_units: float,
    horizon_days: int,
    days_per_unit: float,
    discount_rate_monthly: float,
    margin: float,
    penalizer: float,
) -> pd.DataFrame:
    if name == "sbg":
        periods = np.arange(1, int(frame["period"].max()) + 1)
        return pd.DataFrame(
            {
                "period": periods,
                "survival": fitted.survival(periods),
                "retention_rate": fitted.retention_rate(periods),
            }
        )
    out = pd.DataFrame(index=frame.index)
    if "customer_id" in frame.columns:
        out["customer_id"] = frame["customer_id"].to_numpy()
    if name == "gammagamma":
        out["expected_spend"] = fitted.expected_spend(frame["frequency"], frame["monetary_value"])
        return out.reset_index(drop=True)
    if name == "bgbb":
        args = (frame["frequency"], frame["recency"], frame["n_periods"])
        out["p_alive"] = fitted.p_alive(*args)
        out["expected_purchases"] = fitted.expected_purchases(max(1, round(horizon_units)), *args)
        return out.reset_index(drop=True)

    args = (frame["frequency"], frame["recency"], frame["T"])
    out["p_alive"] = fitted.p_alive(*args)
    out["expected_purchases"] = fitted.expected_purchases(horizon_units, *args)
    if "monetary_value" in frame.columns and len(_repeaters(frame)) > 1:
        from valuecrm.engine.clv import customer_lifetime_value
        from valuecrm.engine.models import GammaGamma

        repeat = _repeaters(frame)
        spend_model = GammaGamma(penalizer_coef=penalizer).fit(
            repeat["frequency"], repeat["monetary_value"], weights=_weights(repeat)
        )
        out["expected_spend"] = spend_model.expected_spend(
            frame["frequency"], frame["monetary_value"]
        )
        out["clv"] = customer_lifetime_value(
            fitted,
            spend_model,
            *args,
            frame["monetary_value"],
            horizon_months=max(1, round(horizon_days / 30)),
            discount_rate_monthly=discount_rate_monthly,
            margin=margin,
            time_unit_days=days_per_unit,
        )
    return out.reset_index(drop=True)
