"""Reads of tickets, calendars, policies and service KPIs.

A ticket is visible exactly when its customer is (customers.visibility): pages,
the API and the queue share `visible_tickets(user)`.
"""

from datetime import datetime, timedelta

import numpy as np
from django.db.models import Case, F, Q, QuerySet, When
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
               When(next_response_due_at__isnull=False, then=F("next_response_due_at")),
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
    ticket = visible_tickets(user).select_related("customer", "assignee", "team", "sla_policy__calendar", "order").filter(
        pk=pk).first()
    if ticket is None:
        raise NotFound(_("Ticket not found."))
    return ticket


def ticket_feedback(ticket: Ticket) -> tuple[list, list]:
    """The ticket's messages and answered surveys, each with `.feedback`: its stored text
    analysis (the description's for the message that copies it), or None."""
    from valuecrm.service.models import MessageKind, TextAnalysis

    analyses = list(TextAnalysis.objects.filter(Q(ticket=ticket) | Q(message__ticket=ticket)
                                                | Q(survey__ticket=ticket)))
    by_message = {a.message_id: a for a in analyses if a.message_id}
    by_survey = {a.survey_id: a for a in analyses if a.survey_id}
    description = next((a for a in analyses if a.ticket_id), None)
    messages = list(ticket.messages.select_related("author").prefetch_related("attachments"))
    copy_done = False
    for m in messages:
        m.feedback = by_message.get(m.pk)
        if (m.feedback is None and not copy_done and m.kind == MessageKind.INBOUND
                and m.body.strip() == ticket.description.strip()):
            m.feedback, copy_done = description, True
    surveys = list(ticket.surveys.filter(answered_at__isnull=False).order_by("answered_at", "id"))
    for s in surveys:
        s.feedback = by_survey.get(s.pk)
    return messages, surveys


def attachment_get(user, pk: int):
    """An attachment of a ticket the user can see, else NotFound (no hint that it exists)."""
    from valuecrm.service.models import TicketAttachment

    found = TicketAttachment.objects.select_related("ticket").filter(
        pk=pk, ticket__in=visible_tickets(user)).first()
    if found is None:
        raise NotFound(_("Attachment not found."))
    return found


def ticket_attachments(ticket: Ticket) -> list:
    return list(ticket.attachments.all())


def ticket_escalations(ticket: Ticket) -> list:
    from valuecrm.service.models import TicketEscalation

    return list(TicketEscalation.objects.filter(ticket=ticket).select_related("target").order_by("at", "id"))


def service_teams() -> list:
    from valuecrm.service.models import ServiceTeam

    return list(ServiceTeam.objects.select_related("team", "lead", "manager").order_by("team__name"))


def team_get(pk: int):
    from valuecrm.accounts.models import Team

    found = Team.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("Team not found."))
    return found


def user_get(pk: int):
    from valuecrm.accounts.models import User

    found = User.objects.filter(pk=pk, is_active=True).first()
    if found is None:
        raise NotFound(_("User not found."))
    return found


def agent_profile(user):
    """The user's routing profile (an unsaved empty one before the first save)."""
    from valuecrm.service.models import AgentProfile

    return AgentProfile.objects.filter(user=user).first() or AgentProfile(user=user)


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
        "sla_policy_id", "sla_policy__name", "status", "sla_alert_level", "next_response_started",
        "next_response_breaches"))
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
        "next_response": _next_response_kpi(rows),
        "sla_by_policy": [{**e, "compliance": _share_interval(e["met"], e["n"])["value"]}
                          for e in sorted(per_policy.values(), key=lambda e: e["name"])],
    }


def _next_response_kpi(rows: list[dict]) -> dict:
    """Next-response clocks of the period's tickets: how many ran, how many breached, and the
    share met with its 95 % interval (a clock still running unbreached counts as met so far)."""
    started = sum(r["next_response_started"] for r in rows)
    breached = min(started, sum(r["next_response_breaches"] for r in rows))
    return {"started": started, "breached": breached,
            "tickets_breached": sum(1 for r in rows if r["next_response_breaches"]),
            "compliance": _share_interval(started - breached, started)}


def countdown_state(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "none"
    left = (due - now).total_seconds()
    return "breached" if left <= 0 else "soon" if left < 3600 else "ok"




# ---------------------------------------------------------------- feedback topics

TOPIC_MONTHS = 12
SENTIMENT_FILTERS = ("positive", "neutral", "negative", "unscored")
LANGUAGE_FILTERS = ("zh", "en")


def _month_start(moment: datetime, tz) -> datetime:
    local = moment.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def topic_months(now: datetime, months: int = TOPIC_MONTHS) -> list[datetime]:
    """The first instants (local time) of the last `months` months, oldest first."""
    current = _month_start(now, timezone.get_current_timezone())
    out = [current]
    for _step in range(months - 1):
        out.append(_month_start(out[-1] - timedelta(days=1), current.tzinfo))
    return out[::-1]


def feedback_filters(*, language: str = "", label: str = "") -> dict:
    """Checked filters of the topics page and API; a bad value is a ValidationFailed naming it."""
    errors = {}
    if language and language not in LANGUAGE_FILTERS:
        errors["language"] = [_("Not a valid choice.")]
    if label and label not in SENTIMENT_FILTERS:
        errors["sentiment"] = [_("Not a valid choice.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    return {k: v for k, v in (("language", language), ("label", label)) if v}


def visible_feedback(user, *, language: str = "", label: str = "", start: datetime | None = None,
                     end: datetime | None = None) -> QuerySet:
    """Stored analyses of the texts whose customer the user may see (the tickets' rule)."""
    from valuecrm.service.models import TextAnalysis

    qs = TextAnalysis.objects.visible_to(user).filter(**feedback_filters(language=language, label=label))
    if start is not None:
        qs = qs.filter(written_at__gte=start)
    if end is not None:
        qs = qs.filter(written_at__lt=end)
    return qs


def feedback_topics(user, *, language: str = "", label: str = "", now: datetime | None = None,
                    months: int = TOPIC_MONTHS) -> dict:
    """Topics of the last `months` months: count, share negative (of the scored texts) and the
    count per month; "" is the texts whose keywords match no topic word (other)."""
    now = now or timezone.now()
    starts = topic_months(now, months)
    from django.db.models import Count

    # One GROUP BY (topic, label, local month) in the database, not a row per text in Python.
    rows = (visible_feedback(user, language=language, label=label, start=starts[0]).order_by()
            .values_list("topic", "label", "month").annotate(n=Count("id")))
    index = {s.strftime("%Y-%m"): i for i, s in enumerate(starts)}
    topics: dict[str, dict] = {}
    total = 0
    for topic, lab, month, n in rows:
        entry = topics.setdefault(topic, {"topic": topic, "count": 0, "negative": 0, "scored": 0,
                                          "by_month": [0] * len(starts)})
        entry["count"] += n
        total += n
        if lab != "unscored":
            entry["scored"] += n
            entry["negative"] += n if lab == "negative" else 0
        i = index.get(month)
        if i is not None:
            entry["by_month"][i] += n
    out = []
    for e in topics.values():
        e["share"] = round(e["count"] / total, 4) if total else 0.0
        e["share_negative"] = round(e["negative"] / e["scored"], 4) if e["scored"] else None
        out.append(e)
    # Named topics by size, "other" last.
    out.sort(key=lambda e: (e["topic"] == "", -e["count"], e["topic"]))
    return {"months": [s.strftime("%Y-%m") for s in starts], "topics": out, "total": total}


def feedback_texts(user, *, topic: str | None = None, language: str = "", label: str = "",
                   now: datetime | None = None, months: int = TOPIC_MONTHS, offset: int = 0,
                   limit: int = 50) -> list:
    """The analysed texts (newest first) of one topic ("" = other; None = every topic), with
    the text itself and its ticket or survey, for the drill-down."""
    now = now or timezone.now()
    qs = visible_feedback(user, language=language, label=label, start=topic_months(now, months)[0])
    if topic is not None:
        qs = qs.filter(topic=topic)
    return list(qs.select_related("customer", "ticket", "message__ticket", "survey__ticket")
                .order_by("-written_at", "-id")[offset:offset + min(limit, MAX_LIMIT)])
