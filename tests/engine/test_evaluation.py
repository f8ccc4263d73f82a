import numpy as np
import pandas as pd
import pytest

from valuecrm.engine.evaluation import evaluate_holdout, select_model, tracking_data
from valuecrm.engine.models.bgnbd import BetaGeo
from valuecrm.engine.summary import summarize

CAL_END, OBS_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def cdnow_holdout(cdnow_transactions):
    return summarize(cdnow_transactions, unit="W", calibration_end=CAL_END, observation_end=OBS_END)


@pytest.fixture(scope="module")
def bgnbd_holdout(cdnow_holdout):
    model = BetaGeo()
    return model, evaluate_holdout(model, cdnow_holdout)


def test_holdout_fit_reproduces_fhl_2005_parameters(bgnbd_holdout):
    model, _ = bgnbd_holdout
    # FHL 2005 Table/Section 4: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    published = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=1e-3)
    assert model.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)


def test_holdout_aggregate_forecast_on_cdnow(bgnbd_holdout, cdnow_holdout):
    _, ev = bgnbd_holdout
    m = ev.metrics
    assert m["n"] == 2357
    # 39 holdout weeks (1997-10-01 .. 1998-06-30): 1,882 repeat purchase days actually
    # made by the 2,357 customers (1,959 order lines); BG/NBD forecasts 1,653 (-12 %).
    assert m["total_actual"] == 1882
    assert m["total_expected"] == pytest.approx(1653.4, abs=1.0)
    assert -15.0 < m["total_error_pct"] < -10.0
    assert m["mae"] == pytest.approx(0.785, abs=0.005)
    assert m["rmse"] == pytest.approx(1.608, abs=0.005)
    per = ev.per_customer
    assert per.index.equals(cdnow_holdout.index)
    assert (per["error"] == per["expected"] - per["actual"]).all()
    assert per["actual"].sum() == cdnow_holdout["frequency_holdout"].sum()


def test_holdout_by_calibration_frequency_like_fhl_fig4(bgnbd_holdout):
    _, ev = bgnbd_holdout
    by = ev.by_frequency
    assert by.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert by["n"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert by.loc["0", "mean_actual"] == pytest.approx(0.2367, abs=1e-4)
    assert by.loc["0", "mean_expected"] == pytest.approx(0.2251, abs=1e-3)
    # conditional expectations rise with calibration frequency, as in Fig. 4
    assert (np.diff(by["mean_expected"].to_numpy()) > 0).all()
    assert by.loc["7+", "mean_expected"] == pytest.approx(by.loc["7+", "mean_actual"], rel=0.1)


def test_tracking_data_cumulative_repeat_purchases(bgnbd_holdout, cdnow_transactions):
    model, _ = bgnbd_holdout
    track = tracking_data(model, cdnow_transactions, CAL_END, OBS_END)
    assert len(track) == 78
    assert track.index[0] == 1
    assert track["period_end"].iloc[0] == pd.Timestamp("1997-01-08")
    assert track["holdout"].sum() == 39
    assert not track.loc[39, "holdout"] and track.loc[40, "holdout"]
    assert track["actual"].sum() == 2457 + 1882  # calibration + holdout repeat purchases
    assert track.loc[track["holdout"], "actual"].sum() == 1882
    assert track["actual_cumulative"].iloc[-1] == 4339
    # the model tracks the calibration period closely and under-forecasts the holdout
    assert track.loc[39, "expected_cumulative"] == pytest.approx(
        track.loc[39, "actual_cumulative"], rel=0.03
    )
    assert track.loc[track["holdout"], "expected"].sum() == pytest.approx(1664.1, abs=1.0)
    assert (track["expected"] >= 0).all()
    assert track["expected"].sum() == pytest.approx(track["expected_cumulative"].iloc[-1])


def test_tracking_data_needs_fitted_model(cdnow_transactions):
    with pytest.raises(ValueError, match="must be fitted"):
        tracking_data(BetaGeo(), cdnow_transactions, CAL_END, OBS_END)


def test_evaluate_holdout_validates_summary():
    summary = pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [2.0]})
    with pytest.raises(ValueError, match="no column 'frequency_holdout'"):
        evaluate_holdout(BetaGeo(), summary, 10)
    summary["frequency_holdout"] = [0]
    with pytest.raises(ValueError, match="holdout_length is required"):
        evaluate_holdout(BetaGeo(), summary)


def test_select_model_compares_candidates_on_holdout(cdnow_holdout):
    sel = select_model(cdnow_holdout, candidates=("bgnbd", "mbgnbd"))
    table = sel.table
    assert set(table.index) == {"bgnbd", "mbgnbd"}
    assert table["mae"].is_monotonic_increasing
    assert sel.winner == table.index[0]
    assert table.loc["bgnbd", "mae"] == pytest.approx(0.785, abs=0.005)
    assert table.loc["bgnbd", "total_actual"] == 1882
    assert sel.models["bgnbd"].params_["r"] == pytest.approx(0.2426, rel=1e-3)
    by_total = select_model(cdnow_holdout, candidates=("bgnbd", "mbgnbd"), metric="total_abs_error")
    assert by_total.table["total_abs_error"].is_monotonic_increasing
    with pytest.raises(ValueError, match="unknown candidate model 'nope'"):
        select_model(cdnow_holdout, candidates=("nope",))


def test_select_model_default_candidates_bgnbd_vs_paretonbd(cdnow_holdout):
    sel = select_model(cdnow_holdout)
    assert set(sel.table.index) == {"bgnbd", "paretonbd"}
    # FHL 2005: the two models forecast the CDNOW holdout about equally well
    mae = sel.table["mae"]
    assert abs(mae["bgnbd"] - mae["paretonbd"]) < 0.05
    assert sel.winner in {"bgnbd", "paretonbd"}
