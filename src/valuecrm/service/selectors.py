"""Reads of tickets, calendars, policies and service KPIs.

A ticket is visible exactly when its customer is (customers.visibility): pages,
the API and the queue share `visible_tickets(user)`.
"""

from datetime import datetime, timedelta

import numpy as np
from django.db.models import Case, F, QuerySet, When
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.service.models import (
    ACTIVE_STATUSES,
    BusinessCalendar,
    SlaPolicy,
    Ticket,
    TicketStatus,
)

MAX_LIMIT = 200


def visible_tickets(user) -> QuerySet:
    return Ticket.objects.visible_to(user)


def agent_queue(user, *, mine: bool = False) -> QuerySet:
    """Active tickets, tier-A and at-risk customers first, then the nearest due time."""
    qs = visible_tickets(user).active().select_related("customer", "assignee", "sla_policy")
    if mine:
        qs = qs.filter(assignee=user)
    due = Case(When(first_responded_at__isnull=True, then=F("first_response_due_at")),
               default=F("resolution_due_at"))
    return qs.annotate(next_due=due).order_by(
        "-queue_rank", F("next_due").asc(nulls_last=True), "opened_at", "id")


def ticket_list(user, *, status: str | None = None, customer_id: int | None = None,
                assignee_id: int | None = None, offset: int = 0, limit: int = 50) -> list[Ticket]:
    qs = visible_tickets(user).select_related("customer", "assignee")
    if status:
        qs = qs.filter(status=status)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if assignee_id:
        qs = qs.filter(assignee_id=assignee_id)
    return list(qs.order_by("-opened_at", "-id")[offset:offset + limit])


def ticket_get(user, pk: int) -> Ticket:
    ticket = visible_tickets(user).select_related("customer", "assignee", "sla_policy__calendar", "order").filter(
        pk=pk).first()
    if ticket is None:
        raise NotFound(_("Ticket not found."))
    return ticket


def calendar_get(pk: int) -> BusinessCalendar:
    found = BusinessCalendar.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("Calendar not found."))
    return found


def policy_get(pk: int) -> SlaPolicy:
    found = SlaPolicy.objects.select_related("calendar").filter(pk=pk).first()
    if found is None:
        raise NotFound(_("SLA policy not found."))
    return found


PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}


def _quantiles(minutes: list[float]) -> dict:
    if not minutes:
        return {"p50": None, "p90": None, "n": 0}
    arr = np.asarray(minutes, dtype=float)
    return {"p50": round(float(np.percentile(arr, 50)), 1), "p90": round(float(np.percentile(arr, 90)), 1),
            "n": len(minutes)}


def _share_interval(hits: int, n: int) -> dict:
    """Share with its 95 % Wilson score interval (honest for small n and for 0 % / 100 %)."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    z = 1.959963984540054
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return {"value": round(p, 4), "low": round(max(0.0, centre - half), 4),
            "high": round(min(1.0, centre + half), 4), "n": n}


def _nps_interval(promoters: int, detractors: int, n: int) -> dict:
    """NPS = % promoters − % detractors (−100…100) with a 95 % normal-approximation interval:
    var = (p + d − (p − d)²) / n for the per-answer score in {−1, 0, 1}."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    p, d = promoters / n, detractors / n
    score = p - d
    half = 1.959963984540054 * (max(0.0, p + d - score * score) / n) ** 0.5
    return {"value": round(100 * score, 1), "low": round(100 * max(-1.0, score - half), 1),
            "high": round(100 * min(1.0, score + half), 1), "n": n}


def survey_scores(user, *, start: datetime, end: datetime) -> dict:
    """CSAT (share of 4–5 answers, Wilson interval) and NPS of the answers in [start, end)."""
    from valuecrm.service.models import Survey

    rows = list(Survey.objects.visible_to(user).filter(answered_at__gte=start, answered_at__lt=end)
                .values_list("kind", "score"))
    csat = [s for k, s in rows if k == "csat"]
    nps = [s for k, s in rows if k == "nps"]
    return {"csat": _share_interval(sum(1 for s in csat if s >= 4), len(csat)),
            "nps": _nps_interval(sum(1 for s in nps if s >= 9), sum(1 for s in nps if s <= 6), len(nps))}


def survey_list(user, *, kind: str | None = None, answered: bool | None = None, offset: int = 0,
                limit: int = 50) -> list:
    from valuecrm.service.models import Survey

    qs = Survey.objects.visible_to(user)
    if kind:
        qs = qs.filter(kind=kind)
    if answered is not None:
        qs = qs.filter(answered_at__isnull=not answered)
    return list(qs.order_by("-sent_at", "-id")[offset:offset + limit])


def service_kpis(user, *, period: str = "30d", now: datetime | None = None) -> dict:
    """First response and resolution times (wall-clock minutes, p50/p90) and SLA
    compliance of the tickets opened in the period, overall and per policy."""
    if period not in PERIODS:
        raise ValidationFailed(_("Invalid period"), errors={"period": [_("Not a valid choice.")]})
    now = now or timezone.now()
    start = now - timedelta(days=PERIODS[period])
    rows = list(visible_tickets(user).filter(opened_at__gte=start, opened_at__lt=now).values(
        "opened_at", "first_responded_at", "first_response_due_at", "solved_at", "resolution_due_at",
        "sla_policy_id", "sla_policy__name", "status", "sla_alert_level"))
    first = [(r["first_responded_at"] - r["opened_at"]).total_seconds() / 60 for r in rows
             if r["first_responded_at"]]
    resolved = [(r["solved_at"] - r["opened_at"]).total_seconds() / 60 for r in rows if r["solved_at"]]
    per_policy: dict = {}
    met_total = judged_total = 0
    for r in rows:
        if r["sla_policy_id"] is None:
            continue
        met = judged = None
        if r["status"] in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            judged, met = True, r["sla_alert_level"] < 100
        elif r["sla_alert_level"] >= 100:
            judged, met = True, False
        if not judged:
            continue
        entry = per_policy.setdefault(r["sla_policy_id"], {"policy_id": r["sla_policy_id"],
                                                           "name": r["sla_policy__name"], "met": 0, "n": 0})
        entry["n"] += 1
        entry["met"] += int(met)
        judged_total += 1
        met_total += int(met)
    return {
        "period": period,
        **survey_scores(user, start=start, end=now),
        "tickets": len(rows),
        "open": sum(1 for r in rows if r["status"] in ACTIVE_STATUSES),
        "first_response_minutes": _quantiles(first),
        "resolution_minutes": _quantiles(resolved),
        "sla_compliance": _share_interval(met_total, judged_total),
        "sla_by_policy": [{**e, "compliance": _share_interval(e["met"], e["n"])["value"]}
                          for e in sorted(per_policy.values(), key=lambda e: e["name"])],
    }


def countdown_state(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "none"
    left = (due - now).total_seconds()
    return "breached" if left <= 0 else "soon" if left < 3600 else "ok"


