"""CDNOW sample: scoring inside the app reproduces the engine's BG/NBD on the same data.

The summary is computed in SQL over the app's own orders; here it is recomputed
independently from the raw file, fitted with the engine's BetaGeo, and every
customer's P(alive) and expected purchases must agree to 1e-6 (relative).
"""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuecrm.customers.models import Customer
from valuecrm.engine.models import BetaGeo
from valuecrm.engine.summary import summarize
from valuecrm.insights.models import CustomerValue, RunStatus
from valuecrm.insights.services import score_now

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"
AS_OF = dt.date(1997, 9, 30)

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="CDNOW sample not available")


def test_cdnow_weekly_bgnbd_matches_the_engine(db):
    from valuecrm.orders.cdnow import cdnow_import

    cdnow_import(SAMPLE)
    run = score_now(as_of=AS_OF, unit="W", model_choice="bgnbd")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.transaction_model == "bgnbd"
    assert run.n_buyers == 2357

    raw = pd.read_csv(SAMPLE, sep=r"\s+", header=None, names=["cid", "sample", "date", "cds", "amount"],
                      dtype={"cid": int, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    summary = summarize(raw, customer_id_col="cid", datetime_col="date", monetary_value_col="amount",
                        unit="W", observation_end=AS_OF)
    model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    # The published BG/NBD estimates for this data (Fader, Hardie & Lee 2005).
    assert model.params_["r"] == pytest.approx(0.243, abs=1e-3)
    for name, value in model.params_.items():
        assert run.model_params[name] == pytest.approx(value, rel=1e-6)

    p_alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    expected = model.expected_purchases(90 / 7, summary["frequency"], summary["recency"], summary["T"])
    engine = pd.DataFrame({"p_alive": p_alive, "expected": expected}, index=summary.index)

    ids = dict(Customer.objects.filter(source="cdnow").values_list("pk", "external_id"))
    app = pd.DataFrame(
        [(int(ids[cid]), p, e) for cid, p, e in
         CustomerValue.objects.values_list("customer_id", "p_alive", "expected_purchases_90d")],
        columns=["cid", "p_alive", "expected"],
    ).set_index("cid").sort_index()
    assert list(app.index) == list(engine.index)
    np.testing.assert_allclose(app["p_alive"], engine["p_alive"], rtol=1e-6)
    np.testing.assert_allclose(app["expected"], engine["expected"], rtol=1e-6)
