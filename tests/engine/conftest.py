"""Shared engine fixtures: the CDNOW sample (Fader & Hardie) as transactions and summary."""

import os
from pathlib import Path

import pandas as pd
import pytest

from valuecrm.engine.summary import summarize


def _find_cdnow_dir() -> Path:
    """$VALUECRM_CDNOW_DIR, else shared/datasets/cdnow beside the checkout (or a worktree in it)."""
    if os.environ.get("VALUECRM_CDNOW_DIR"):
        return Path(os.environ["VALUECRM_CDNOW_DIR"])
    here = Path(__file__).resolve()
    for parent in here.parents[2:]:
        if (parent / "shared/datasets/cdnow").is_dir():
            return parent / "shared/datasets/cdnow"
    return here.parents[3] / "shared/datasets/cdnow"


CDNOW_DIR = _find_cdnow_dir()
CDNOW_CALIBRATION_END = "1997-09-30"


def _cdnow_path(name: str) -> Path:
    path = CDNOW_DIR / name
    if not path.exists():
        pytest.skip(f"CDNOW reference data not found at {path}")
    return path


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """CDNOW_sample.txt as ``customer_id`` (sample id), ``date`` (datetime64), ``amount``."""
    raw = pd.read_csv(
        _cdnow_path("CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw[["customer_id", "date", "amount"]]


@pytest.fixture(scope="session")
def cdnow_master() -> pd.DataFrame:
    """CDNOW_master.txt (all 23,570 customers) as ``customer_id``, ``date``, ``cds``, ``amount``."""
    frame = pd.read_csv(
        _cdnow_path("CDNOW_master.txt"),
        sep=r"\s+",
        skiprows=1,
        header=None,
        names=["customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_transactions) -> pd.DataFrame:
    """Weekly summary with calibration end 1997-09-30 (2,357 customers), via summarize()."""
    return summarize(cdnow_transactions, unit="W", calibration_end=CDNOW_CALIBRATION_END)


@pytest.fixture(scope="session")
def cdnow_published_summary() -> pd.DataFrame:
    """cdnow_customers_summary.csv as published (ID, frequency, recency, T)."""
    return pd.read_csv(_cdnow_path("cdnow_customers_summary.csv"), index_col="ID")
