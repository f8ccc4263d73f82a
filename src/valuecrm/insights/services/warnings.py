"""Early warnings: a valuable customer slows down → a ValueAlert and a task for the owner.

Each customer is compared with their own baseline. An *episode* is the silence
since their last order (for "buys less often" and "likely to stop buying") or a
half-year (for "spends less"): its key makes the alert unique, so rescoring never
raises the same alert twice, and a new order (or recovered spend) resolves it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone, translation

from valuecrm.common import events
from valuecrm.insights.models import SCORING_ALERT_KINDS, AlertKind, ValueAlert, WarningPolicy

from .playbook import reason_text


@dataclass(frozen=True)
class ValueWarning:
    customer_id: int
    kind: str
    episode_key: str
    params: dict
    tier: str


def detect(buyers: pd.DataFrame, as_of: dt.date, policy: WarningPolicy, window_days: int) -> list[ValueWarning]:
    """Warnings for buyers in the watched tiers.

    ``buyers`` columns: tier, last_purchase, first_purchase, interval_days, p_alive,
    prev_p_alive (NaN when never scored), spend_last, spend_before.
    """
    if not policy.enabled or buyers.empty:
        return []
    watched = buyers[buyers["tier"].isin(list(policy.tiers.upper()))]
    as_of_ts = pd.Timestamp(as_of)
    last = pd.to_datetime(watched["last_purchase"])
    gap = ((as_of_ts - last) / pd.Timedelta(days=1)).to_numpy(float)
    tenure = ((as_of_ts - pd.to_datetime(watched["first_purchase"])) / pd.Timedelta(days=1)).to_numpy(float)
    interval = watched["interval_days"].to_numpy(float)
    p_alive = watched["p_alive"].to_numpy(float)
    prev_p = watched["prev_p_alive"].to_numpy(float)
    spend_last = watched["spend_last"].to_numpy(float)
    # Average spend per window over the history before the current window.
    before_days = tenure - window_days
    baseline = np.where(before_days >= window_days,
                        watched["spend_before"].to_numpy(float) * window_days / np.maximum(before_days, 1),
                        np.nan)
    slowing = np.isfinite(interval) & (interval > 0) & (gap > policy.gap_factor * interval)
    p_drop = (p_alive < policy.p_alive_threshold) & ~(prev_p < policy.p_alive_threshold)
    spend_drop = np.isfinite(baseline) & (baseline > 0) & (spend_last < (1 - policy.spend_drop) * baseline)
    half = f"{as_of.year}H{1 if as_of.month <= 6 else 2}"
    out: list[ValueWarning] = []
    ids = watched.index.to_numpy()
    tiers = watched["tier"].to_numpy(object)
    last_days = [d.date().isoformat() for d in last]
    for i in range(len(watched)):
        silence = f"silence:{last_days[i]}"
        if p_drop[i]:
            out.append(ValueWarning(int(ids[i]), AlertKind.P_ALIVE_DROP, silence,
                               {"code": "p_alive_drop", "p_alive": round(float(p_alive[i]), 3),
                                "gap_days": int(round(gap[i]))}, tiers[i]))
        elif slowing[i]:
            out.append(ValueWarning(int(ids[i]), AlertKind.SLOWING, silence,
                               {"code": "slowing", "gap_days": int(round(gap[i])),
                                "interval_days": int(round(interval[i]))}, tiers[i]))
        if spend_drop[i]:
            out.append(ValueWarning(int(ids[i]), AlertKind.SPEND_DROP, f"spend:{half}",
                               {"code": "spend_drop", "last": round(float(spend_last[i]), 2),
                                "baseline": round(float(baseline[i]), 2), "window_days": window_days},
                               tiers[i]))
    return out


def apply(run, warnings: list[ValueWarning], scored_ids: set[int], owners: dict[int, tuple],
          policy: WarningPolicy, as_of: dt.date) -> int:
    """Resolve ended episodes, raise new alerts; returns how many are new.

    ``owners``: customer id → (name, owner id, owner language). Runs inside the
    scoring run's transaction.
    """
    now = timezone.now()
    active = {(w.customer_id, w.episode_key) for w in warnings}
    open_alerts = ValueAlert.objects.open().filter(kind__in=SCORING_ALERT_KINDS).values_list(
        "id", "customer_id", "episode_key")
    ended = [pk for pk, cid, key in open_alerts.iterator(chunk_size=5000)
             if cid in scored_ids and (cid, key) not in active]
    for start in range(0, len(ended), 500):
        ValueAlert.objects.filter(pk__in=ended[start:start + 500]).update(resolved_at=now)

    known = set()
    ids = sorted({w.customer_id for w in warnings})
    for start in range(0, len(ids), 500):
        known.update(ValueAlert.objects.filter(customer_id__in=ids[start:start + 500])
                     .values_list("customer_id", "episode_key"))
    fresh, seen = [], set()
    for w in warnings:
        key = (w.customer_id, w.episode_key)
        if key in known or key in seen:
            continue
        seen.add(key)
        fresh.append(w)
    if not fresh:
        return 0
    # The owner's follow-up is no longer written here: the default automation rule
    # "Value alert → task for the owner" (seeded by automation's migrations, editable and
    # switchable) creates it from value_alert.raised in bulk, and links it back with
    # alerts_link_tasks().
    alerts = []
    for w in fresh:
        _name, _owner_id, language = owners.get(w.customer_id, ("", None, ""))
        with translation.override(language or settings.LANGUAGE_CODE):
            reason = reason_text(w.params)
        alerts.append(ValueAlert(customer_id=w.customer_id, kind=w.kind, episode_key=w.episode_key,
                                 reason=reason, reason_params=w.params, tier=w.tier, run=run,
                                 created_on=as_of))
    ValueAlert.objects.bulk_create(alerts, batch_size=500)
    events.emit_many([events.ValueAlertRaised(customer_id=a.customer_id, alert_id=a.pk, kind=a.kind,
                                              tier=a.tier or "") for a in alerts])
    return len(alerts)


def alerts_link_tasks(links: dict[int, int]) -> int:
    """Remember the follow-up an automation rule created for each alert ({alert id: task id}),
    in bulk; an alert that already has one keeps it."""
    alerts = list(ValueAlert.objects.filter(pk__in=list(links), task__isnull=True).only("pk"))
    for alert in alerts:
        alert.task_id = links[alert.pk]
    ValueAlert.objects.bulk_update(alerts, ["task"], batch_size=500)
    return len(alerts)
