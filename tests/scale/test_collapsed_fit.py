"""Fitting on the collapsed unique (x, t_x, T) rows with their counts as weights is the full fit.

This is what makes a warehouse run cheap: the engine returns a few thousand unique
rows for millions of customers. The Databricks CLV accelerator fits on unique
rows but drops the counts; with the counts the likelihood is exactly the same sum.
"""

import numpy as np
import pandas as pd
import pytest

from valuecrm.engine.models import BetaGeo, GammaGamma, ParetoNBD
from valuecrm.engine.models.base import collapse_rows
from valuecrm.engine.simulate import simulate_bgnbd_summary, simulate_bgnbd_transactions
from valuecrm.engine.summary import summarize


@pytest.fixture(scope="module")
def summary():
    # Whole weeks (as in the CDNOW summary) make many customers share a row, as in a real base.
    log = simulate_bgnbd_transactions(3000, r=0.9, alpha=20.0, a=1.0, b=25.0, observation_days=365, seed=3)
    frame = summarize(log, unit="W")
    frame[["recency", "T"]] = frame[["recency", "T"]].round(0)
    return frame


@pytest.mark.parametrize("model_class", [BetaGeo, ParetoNBD])
def test_weighted_unique_rows_fit_equals_the_full_fit(summary, model_class):
    x, t_x, t = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    (ux, ut_x, ut), counts = collapse_rows((x, t_x, t))
    assert len(ux) < len(x) and counts.sum() == len(x)
    full = model_class(collapse=False).fit(x, t_x, t)
    weighted = model_class(collapse=False).fit(ux, ut_x, ut, weights=counts)
    for name, value in full.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-9)
    # Forgetting the weights (one row per distinct triple) gives a different, wrong fit.
    unweighted = model_class(collapse=False).fit(ux, ut_x, ut)
    assert unweighted.params_["r"] != pytest.approx(full.params_["r"], rel=1e-2)
    # Predictions per customer from the weighted fit equal the full fit's.
    np.testing.assert_allclose(weighted.p_alive(x, t_x, t), full.p_alive(x, t_x, t), rtol=1e-6)


def test_gamma_gamma_weighted_unique_rows(summary):
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    x, m = repeat["frequency"].to_numpy(float), repeat["monetary_value"].round(0).to_numpy(float)
    pairs = pd.DataFrame({"x": x, "m": m}).value_counts().reset_index()
    full = GammaGamma().fit(x, m)
    weighted = GammaGamma().fit(pairs["x"].to_numpy(float), pairs["m"].to_numpy(float),
                                weights=pairs["count"].to_numpy(float))
    for name, value in full.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-6)


def test_simulated_summary_has_repeated_rows():
    frame = simulate_bgnbd_summary(2000, seed=1)
    (ux, *_), counts = collapse_rows(tuple(frame[c].to_numpy(float) for c in ("frequency", "recency", "T")))
    assert counts.sum() == 2000 and len(ux) < 2000
