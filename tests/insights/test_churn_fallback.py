"""Churn risk without enough history for the classifier (insights.services.churn)."""

import datetime as dt

import numpy as np
import pandas as pd

from valuecrm.insights.services.churn import churn_risk

AS_OF = dt.date(2024, 4, 10)


def _days(rows):
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).assign(
        date=lambda f: pd.to_datetime(f["date"]))


def _short_history():
    """100 days of orders: repeat buyers, and one-time buyers early and late."""
    rng = np.random.default_rng(3)
    start = pd.Timestamp(AS_OF) - pd.Timedelta(days=100)
    rows = []
    for customer in range(1, 121):
        visits = 1 if customer <= 60 else int(rng.integers(2, 6))
        first = int(rng.integers(0, 95))
        for visit in range(visits):
            day = min(100, first + visit * int(rng.integers(3, 20)))
            rows.append((customer, start + pd.Timedelta(days=day), 50.0))
    # Two one-time buyers to compare: one quiet for 98 days, one who bought 2 days ago.
    rows.append((500, start + pd.Timedelta(days=2), 50.0))
    rows.append((501, start + pd.Timedelta(days=98), 50.0))
    return _days(rows)


def test_short_history_ranks_one_time_buyers_by_how_long_they_have_been_quiet():
    """1 − P(alive) is 0 for every one-time buyer under BG/NBD; the fallback is not."""
    days = _short_history()
    index = pd.Index(sorted(days["customer_id"].unique()))
    p_alive = np.ones(len(index))  # what BG/NBD says of one-time buyers
    risk, report = churn_risk(days, AS_OF, index, p_alive)
    assert report["method"] == "p_no_purchase"
    assert report["reason"] == "history shorter than two 90-day windows"
    by_customer = pd.Series(risk, index=index)
    assert by_customer[500] > by_customer[501] + 0.05
    assert ((risk >= 0) & (risk <= 1)).all()


def test_fallback_survives_data_nothing_can_be_fitted_to():
    """A single one-time buyer: no model to fit, so the run's own 1 − P(alive) is kept."""
    days = _days([(7, "2024-04-01", 10.0)])
    risk, report = churn_risk(days, AS_OF, pd.Index([7]), np.array([0.8]))
    assert report["method"] in ("p_no_purchase", "p_alive")
    assert 0.0 <= float(risk[0]) <= 1.0
    assert np.isfinite(risk).all()


def _long_history(customers=400, days_span=400, seed=5):
    """Over a year of orders: steady buyers and buyers who stop at random times."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(AS_OF) - pd.Timedelta(days=days_span)
    rows = []
    for customer in range(1, customers + 1):
        rate = rng.uniform(0.01, 0.08)
        stop = rng.uniform(0, days_span * 1.5)
        day = rng.uniform(0, days_span / 2)
        while day < min(stop, days_span):
            rows.append((customer, start + pd.Timedelta(days=int(day)), 30.0))
            day += rng.exponential(1 / rate)
    return _days(rows)


def test_the_better_calibrated_of_classifier_and_bgnbd_scores_everyone(monkeypatch):
    """Selection on the later test period: a classifier that can only say 50 % loses."""
    import valuecrm.insights.services.churn as service

    days = _long_history()
    index = pd.Index(sorted(days["customer_id"].unique()))
    p_alive = np.full(len(index), 0.5)
    monkeypatch.setattr(service.ChurnModel, "predict_proba",
                        lambda self, x: np.column_stack([np.full(len(x), 0.5)] * 2))
    monkeypatch.setattr(service.ChurnModel, "predict_churn_risk",
                        lambda self, x: pd.Series(0.5, index=x.index))
    risk, report = churn_risk(days, AS_OF, index, p_alive)
    assert report["method"] == "p_no_purchase"
    assert report["baseline_metrics"]["brier"] < report["metrics"]["brier"] == 0.25
    assert not np.allclose(risk, 0.5)  # BG/NBD's answer, not the useless classifier's


def test_the_classifier_scores_everyone_when_it_predicts_better(monkeypatch):
    import valuecrm.insights.services.churn as service

    days = _long_history()
    index = pd.Index(sorted(days["customer_id"].unique()))
    monkeypatch.setattr(service, "_no_purchase_risk",
                        lambda train, score: np.full(len(score), 0.5))
    risk, report = churn_risk(days, AS_OF, index, np.full(len(index), 0.5))
    assert report["method"] == "classifier"
    assert report["metrics"]["brier"] < report["baseline_metrics"]["brier"] == 0.25
    assert not np.allclose(risk, 0.5)
