"""The ORM → frame boundary of the learned win probability (the maths is engine.deals_model).

A closed deal is seen as it was half-way through its life (stage, age and days in stage
from the stage log, activities in the 14 days before, orders placed before, the owner's
win rate over deals closed before), so training never peeks at the outcome. An open deal
is seen as it is now. Predictions go to `predicted_probability`; a manual `probability`
is never written here.
"""

from __future__ import annotations

import json
import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from valuecrm.deals.models import Deal, DealStageLog, DealStatus, Pipeline, Stage, WinModel
from valuecrm.engine import deals_model

CHUNK = 50_000
# Train on the most recent closed deals only: older ones say less about today's pipeline,
# and the features of 20k deals build in seconds.
MAX_TRAIN = 20_000


def _deal_rows(qs) -> pd.DataFrame:
    cols = ["id", "customer_id", "owner_id", "source", "amount", "opened_at", "closed_at", "status", "stage_id"]
    rows = list(qs.values_list(*cols))
    return pd.DataFrame(rows, columns=cols)


def _times_of(model_qs, id_field: str, time_field: str, ids) -> dict[int, np.ndarray]:
    out: dict[int, list] = {}
    ids = list(ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for key, t in model_qs.filter(**{f"{id_field}__in": chunk}).values_list(id_field, time_field):
            out.setdefault(key, []).append(t.timestamp())
    return {k: np.sort(np.asarray(v)) for k, v in out.items()}


def _count_between(times: dict[int, np.ndarray], keys, lo, hi) -> np.ndarray:
    res = np.zeros(len(keys))
    for i, (k, a, b) in enumerate(zip(keys, lo, hi, strict=True)):
        arr = times.get(k)
        if arr is not None:
            res[i] = np.searchsorted(arr, b, side="right") - np.searchsorted(arr, a, side="left")
    return res


def build_frame(deals: pd.DataFrame, at: pd.Series, pipeline: Pipeline) -> pd.DataFrame:
    """Feature rows for `deals` as of the times `at` (aware datetimes)."""
    from valuecrm.customers.models import Interaction
    from valuecrm.insights.models import CustomerValue
    from valuecrm.orders.models import Order

    if deals.empty:
        return deals.assign(stage="", stage_default=0.0)
    deals = deals.reset_index(drop=True).copy()
    deals["at"] = pd.to_datetime(at.reset_index(drop=True), utc=True)
    stages = {s.pk: s for s in Stage.objects.filter(pipeline=pipeline)}
    # The stage at `at`: the last log row not after it.
    log_qs = DealStageLog.objects.filter(deal__pipeline=pipeline)
    if len(deals) < 900:
        log_qs = log_qs.filter(deal_id__in=deals["id"].tolist())
    log = pd.DataFrame(list(log_qs.values_list("deal_id", "to_stage_id", "changed_at")),
                       columns=["id", "log_stage", "changed_at"])
    if log.empty:
        deals["log_stage"], deals["changed_at"] = deals["stage_id"], deals["opened_at"]
    else:
        log["changed_at"] = pd.to_datetime(log["changed_at"], utc=True)
        log = log.sort_values("changed_at")
        merged = pd.merge_asof(deals.sort_values("at"), log, left_on="at", right_on="changed_at", by="id",
                               direction="backward")
        deals = merged.sort_values("id").reset_index(drop=True)
        deals["log_stage"] = deals["log_stage"].fillna(deals["stage_id"]).astype(int)
        deals["changed_at"] = deals["changed_at"].fillna(pd.to_datetime(deals["opened_at"], utc=True))
    opened = pd.to_datetime(deals["opened_at"], utc=True)
    deals["age_days"] = (deals["at"] - opened).dt.total_seconds() / 86400
    deals["days_in_stage"] = (deals["at"] - deals["changed_at"]).dt.total_seconds() / 86400
    deals["stage"] = deals["log_stage"].map(lambda s: stages[s].name if s in stages else "")
    deals["stage_default"] = deals["log_stage"].map(lambda s: stages[s].probability if s in stages else 0.0)
    customers = deals["customer_id"].unique().tolist()
    at_ts = deals["at"].map(lambda t: t.timestamp()).to_numpy()
    interactions = _times_of(Interaction.objects, "customer_id", "occurred_at", customers)
    deals["activities_14d"] = _count_between(interactions, deals["customer_id"], at_ts - 14 * 86400, at_ts)
    orders = _times_of(Order.objects.revenue().exclude(source="deal"), "customer_id", "placed_at", customers)
    deals["past_orders"] = _count_between(orders, deals["customer_id"], np.full(len(deals), -1e18), at_ts)
    values = {}
    for start in range(0, len(customers), 900):
        for cid, clv, tier, p_alive in CustomerValue.objects.filter(
                customer_id__in=customers[start:start + 900]).values_list("customer_id", "clv", "tier", "p_alive"):
            values[cid] = (float(clv), tier, p_alive)
    deals["clv"] = deals["customer_id"].map(lambda c: values.get(c, (0.0, "", None))[0])
    deals["tier"] = deals["customer_id"].map(lambda c: values.get(c, (0.0, "", None))[1])
    deals["p_alive"] = deals["customer_id"].map(lambda c: values.get(c, (0.0, "", None))[2])
    deals["owner"] = deals["owner_id"].fillna(0).astype(int).astype(str)
    deals["amount"] = deals["amount"].astype(float)
    return deals


def _owner_win_rates(closed: pd.DataFrame) -> pd.Series:
    """Each closed deal's owner win rate over the deals that owner closed before it (smoothed)."""
    ordered = closed.sort_values("closed_at")
    won = (ordered["status"] == DealStatus.WON).astype(int)
    g = won.groupby(ordered["owner_id"].fillna(0))
    before_won = g.cumsum() - won
    before_n = g.cumcount()
    return ((before_won + 1) / (before_n + 2)).reindex(closed.index)


def training_frame(pipeline: Pipeline) -> pd.DataFrame:
    latest = Deal.objects.filter(pipeline=pipeline, closed_at__isnull=False).exclude(
        status=DealStatus.OPEN).order_by("-closed_at").values("pk")[:MAX_TRAIN]
    closed = _deal_rows(Deal.objects.filter(pk__in=latest).order_by("id"))
    if closed.empty:
        return closed
    closed["closed_at"] = pd.to_datetime(closed["closed_at"], utc=True)
    opened = pd.to_datetime(closed["opened_at"], utc=True)
    midpoint = opened + (closed["closed_at"] - opened) / 2
    closed["owner_win_rate"] = _owner_win_rates(closed)
    frame = build_frame(closed, midpoint, pipeline)
    frame["won"] = (frame["status"] == DealStatus.WON).astype(int)
    return frame


def evaluate_pipeline(pipeline: Pipeline) -> dict:
    return deals_model.evaluate(training_frame(pipeline))


def _current_owner_rates(pipeline: Pipeline) -> dict:
    rows = Deal.objects.filter(pipeline=pipeline).exclude(status=DealStatus.OPEN).values_list("owner_id", "status")
    tally: dict = {}
    for owner_id, status in rows:
        won, n = tally.get(owner_id, (0, 0))
        tally[owner_id] = (won + (status == DealStatus.WON), n + 1)
    return {k: (w + 1) / (n + 2) for k, (w, n) in tally.items()}


def predict_open(pipeline: Pipeline, model, *, now=None) -> int:
    """Write predicted_probability and factors on the pipeline's open deals; returns how many."""
    now = now or timezone.now()
    open_deals = _deal_rows(Deal.objects.filter(pipeline=pipeline, status=DealStatus.OPEN).order_by("id"))
    if open_deals.empty or model is None:
        return 0
    rates = _current_owner_rates(pipeline)
    open_deals["owner_win_rate"] = open_deals["owner_id"].map(lambda o: rates.get(o, 0.5))
    updated = 0
    for start in range(0, len(open_deals), CHUNK):
        part = open_deals.iloc[start:start + CHUNK]
        frame = build_frame(part, pd.Series([now] * len(part)), pipeline)
        probs, factors = deals_model.predict(model, frame)
        rows = [(round(float(p), 4), json.dumps([{"feature": a, "value": b, "effect": round(c, 3)} for a, b, c in f],
                                               ensure_ascii=False), int(pk))
                for pk, p, f in zip(frame["id"], probs, factors, strict=True)]
        # One UPDATE per deal by primary key (bulk_update's CASE WHEN grows with the batch).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {Deal._meta.db_table} SET predicted_probability = %s, "
                               "prediction_factors = %s WHERE id = %s", rows)
        updated += len(rows)
    return updated


def retrain(pipeline: Pipeline, *, now=None) -> WinModel:
    """Train, keep the figures and the chosen model, and re-predict the open deals."""
    result = evaluate_pipeline(pipeline)
    model = result.pop("model")
    row = WinModel.objects.create(
        pipeline=pipeline, chosen=result["chosen"], n_train=result["n_train"], n_test=result["n_test"],
        brier_model=result.get("brier_model"), brier_naive_bayes=result.get("brier_naive_bayes"),
        brier_logistic=result.get("brier_logistic"), brier_stage_default=result.get("brier_stage_default"),
        roc_auc=result.get("roc_auc"),
        split_at=result["split_at"].to_pydatetime() if result.get("split_at") is not None else None,
        blob=pickle.dumps(model) if model is not None else b"")
    WinModel.objects.filter(pipeline=pipeline, trained_at__lt=row.trained_at - timedelta(days=30)).delete()
    if model is not None:
        predict_open(pipeline, model, now=now)
    return row


def retrain_all(*, now=None) -> list[WinModel]:
    return [retrain(p, now=now) for p in Pipeline.objects.filter(active=True)]


def latest_model(pipeline_id: int):
    row = WinModel.objects.filter(pipeline_id=pipeline_id).first()
    if row is None or not row.blob:
        return row, None
    return row, pickle.loads(bytes(row.blob))  # noqa: S301 — our own table, written by retrain()
