"""Service pages: the agent queue, a ticket with its conversation, the dashboard.

Thin: reads through service.selectors (visibility there), writes through
service.services (permissions there); domain errors become messages or 404s.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from valuecrm.accounts.capabilities import Capability
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.service import selectors, services
from valuecrm.service.models import Channel, MessageKind, Priority, TicketStatus

QUEUE_SIZE = 100
STATUS_BUTTONS = (
    (TicketStatus.OPEN, "play-circle", "btn-outline-primary"),
    (TicketStatus.WAITING, "hourglass-split", "btn-outline-secondary"),
    (TicketStatus.ON_HOLD, "pause-circle", "btn-outline-secondary"),
    (TicketStatus.SOLVED, "check2-circle", "btn-success"),
    (TicketStatus.CLOSED, "archive", "btn-outline-danger"),
)


def _span(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": mins}
    return ngettext("%(m)s min", "%(m)s min", mins) % {"m": mins}


def countdown(due, now, paused=False) -> dict | None:
    """What the queue and the ticket page show for a due time."""
    if paused:
        return {"state": "paused", "text": _("paused"), "due": None}
    if due is None:
        return None
    left = int((due - now).total_seconds() // 60)
    if left < 0:
        return {"state": "breached", "text": _("overdue by %(t)s") % {"t": _span(-left)}, "due": due}
    state = "soon" if left < 60 else "ok"
    return {"state": state, "text": _("due in %(t)s") % {"t": _span(left)}, "due": due}


def _reason(ticket) -> str:
    return {"tier_a": _("Tier-A customer"), "at_risk": _("Customer at risk")}.get(ticket.queue_reason, "")


def _decorate(ticket, now):
    if ticket.first_responded_at is None:
        ticket.clock_label = _("First response")
        ticket.countdown = countdown(ticket.first_response_due_at, now)
    elif ticket.next_response_due_at is not None:
        ticket.clock_label = _("Next response")
        ticket.countdown = countdown(ticket.next_response_due_at, now)
    else:
        ticket.clock_label = _("Resolution")
        ticket.countdown = countdown(ticket.resolution_due_at, now, ticket.is_paused)
    ticket.reason_text = _reason(ticket)
    return ticket


@login_required
def ticket_list(request):
    now = timezone.now()
    view = request.GET.get("view", "queue")
    if view == "solved":
        tickets = selectors.ticket_list(request.user, status=TicketStatus.SOLVED, limit=QUEUE_SIZE)
    else:
        view = "mine" if view == "mine" else "queue"
        tickets = list(selectors.agent_queue(request.user, mine=view == "mine")[:QUEUE_SIZE])
    return render(request, "service/ticket_list.html", {
        "tickets": [_decorate(t, now) for t in tickets], "view": view,
        "can_work": request.user.can(Capability.TICKETS_WORK),
    })


def _ticket_or_404(request, pk):
    try:
        return selectors.ticket_get(request.user, pk)
    except NotFound:
        raise Http404 from None


@login_required
def ticket_detail(request, pk):
    ticket = _decorate(_ticket_or_404(request, pk), timezone.now())
    now = timezone.now()
    first = countdown(ticket.first_response_due_at, now) if ticket.first_responded_at is None else None
    following = countdown(ticket.next_response_due_at, now)
    resolution = countdown(ticket.resolution_due_at, now, ticket.is_paused) \
        if ticket.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED) else None
    buttons = [(value, TicketStatus(value).label, icon, css) for value, icon, css in STATUS_BUTTONS
               if value != ticket.status]
    messages_list, surveys = selectors.ticket_feedback(ticket)
    return render(request, "service/ticket_detail.html", {
        "ticket": ticket, "messages_list": messages_list, "surveys": surveys,
        "attachment_mb": round(services.attachment_max_bytes() / 1024 / 1024, 1),
        "changes": _log(ticket), "loose_attachments": [a for a in selectors.ticket_attachments(ticket)
                                                         if a.message_id is None],
        "first_clock": first, "next_clock": following, "resolution_clock": resolution, "status_buttons": buttons,
        "can_work": request.user.can(Capability.TICKETS_WORK) and ticket.status != TicketStatus.CLOSED,
    })


def _log(ticket) -> list[dict]:
    """The ticket's status changes and escalations, oldest first."""
    clocks = {"first_response": _("first response"), "next_response": _("next response"),
              "resolution": _("resolution")}
    rows = [{"at": c.at, "kind": "status", "text": (f"{c.get_from_status_display()} → " if c.from_status else "")
             + str(c.get_to_status_display()), "who": c.actor.display_name if c.actor_id else _("system")}
            for c in ticket.status_changes.select_related("actor")]
    for e in selectors.ticket_escalations(ticket):
        rows.append({"at": e.at, "kind": "escalation", "who": _("system"), "text": _(
            "Escalated to %(level)s %(person)s: %(clock)s at %(percent)s %%") % {
            "level": e.get_level_display(), "person": e.target.display_name,
            "clock": clocks.get(e.clock, e.clock), "percent": e.percent}})
    return sorted(rows, key=lambda r: r["at"])


def _flash_error(request, exc):
    if isinstance(exc, ValidationFailed) and exc.errors:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        messages.error(request, str(exc))


@login_required
@require_POST
def ticket_reply(request, pk):
    ticket = _ticket_or_404(request, pk)
    kind = MessageKind.NOTE if request.POST.get("kind") == "note" else MessageKind.REPLY
    files = [(f.name, f.chunks()) for f in request.FILES.getlist("attachment")]
    try:
        services.ticket_reply(actor=request.user, ticket=ticket, body=request.POST.get("body", ""), kind=kind,
                              files=files)
        then = request.POST.get("then", "")
        if then in (TicketStatus.SOLVED, TicketStatus.WAITING):
            services.ticket_update(actor=request.user, ticket=ticket, data={"status": then})
        messages.success(request, _("Note added.") if kind == MessageKind.NOTE else _("Reply sent."))
    except (ValidationFailed, PermissionDenied, Conflict) as exc:
        _flash_error(request, exc)
    return redirect("ticket-detail", pk=ticket.pk)


@login_required
def attachment_download(request, pk):
    """A ticket's file, for those who can see the ticket; always as a download (never rendered inline)."""
    from django.http import FileResponse

    try:
        found = selectors.attachment_get(request.user, pk)
    except NotFound:
        raise Http404 from None
    path = services.attachments_root() / found.path
    if not path.is_file():
        raise Http404
    response = FileResponse(path.open("rb"), as_attachment=True, filename=found.name,
                            content_type=found.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def ticket_status(request, pk):
    ticket = _ticket_or_404(request, pk)
    try:
        services.ticket_update(actor=request.user, ticket=ticket, data={"status": request.POST.get("status")})
        messages.success(request, _("Status changed."))
    except (ValidationFailed, PermissionDenied, Conflict) as exc:
        _flash_error(request, exc)
    return redirect("ticket-detail", pk=ticket.pk)


@login_required
def ticket_create(request):
    values = {"customer_id": request.GET.get("customer", ""), "priority": Priority.NORMAL,
              "channel": Channel.PHONE}
    errors = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in
                  ("customer_id", "subject", "description", "priority", "channel", "category", "team_id", "tags")}
        data = {**values, "is_complaint": request.POST.get("is_complaint") == "on",
                "tags": [t.strip() for t in values["tags"].replace("，", ",").split(",") if t.strip()]}
        try:
            ticket = services.ticket_create(actor=request.user, data=data)
            messages.success(request, _("Ticket #%(id)s opened.") % {"id": ticket.pk})
            return redirect("ticket-detail", pk=ticket.pk)
        except ValidationFailed as exc:
            errors = exc.errors or {}
        except PermissionDenied as exc:
            messages.error(request, str(exc))
    from valuecrm.accounts.models import Team

    return render(request, "service/ticket_form.html", {
        "values": values, "errors": errors, "priorities": Priority.choices, "channels": Channel.choices,
        "teams": list(Team.objects.order_by("name").values_list("pk", "name")),
    })


@login_required
def routing(request):
    """Teams' routing and escalation people; agents' skills, working hours and out-of-office."""
    from valuecrm.accounts.models import Team, User
    from valuecrm.service.models import AgentProfile, BusinessCalendar, RoutingMode, ServiceTeam

    can_change = request.user.can(Capability.POLICIES_CHANGE)
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("form") == "team":
                team = selectors.team_get(int(request.POST.get("team") or 0))
                services.service_team_save(actor=request.user, team=team, data={
                    "routing": request.POST.get("routing", ""),
                    "queue_boost": request.POST.get("queue_boost") == "on",
                    "lead_id": request.POST.get("lead_id") or None,
                    "manager_id": request.POST.get("manager_id") or None})
            else:
                user = selectors.user_get(int(request.POST.get("user") or 0))
                services.agent_profile_save(actor=request.user, user=user, data={
                    "skills": [x.strip() for x in request.POST.get("skills", "").replace("，", ",").split(",")
                               if x.strip()],
                    "calendar_id": int(request.POST["calendar_id"]) if request.POST.get(
                        "calendar_id", "").isdigit() else None,
                    "away_until": request.POST.get("away_until") or None})
            messages.success(request, _("Routing saved."))
            return redirect("service-routing")
        except (ValueError, NotFound):
            raise Http404 from None
        except (ValidationFailed, PermissionDenied) as exc:
            _flash_error(request, exc)
            status = 422 if isinstance(exc, ValidationFailed) else 403
    settings_by_team = {s.team_id: s for s in ServiceTeam.objects.all()}
    teams = [(t, settings_by_team.get(t.pk)) for t in Team.objects.order_by("name")]
    agents = [u for u in User.objects.filter(is_active=True).select_related("team").order_by("username")
              if u.can(Capability.TICKETS_WORK) and u.username != "automation"]
    profiles = {p.user_id: p for p in AgentProfile.objects.filter(user__in=agents)}
    now = timezone.now()
    rows = []
    for u in agents:
        p = profiles.get(u.pk)
        rows.append({"user": u, "profile": p, "skills": ", ".join(p.skills) if p else "",
                     "available": services.agent_available(u, now, profiles)})
    people = [(u.pk, u.display_name) for u in User.objects.filter(is_active=True).exclude(
        username="automation").order_by("username")]
    return render(request, "service/routing.html", {
        "teams": teams, "agents": rows, "people": people, "modes": RoutingMode.choices,
        "calendars": list(BusinessCalendar.objects.values_list("pk", "name")), "can_change": can_change,
        "tab": "routing",
    }, status=status)


@login_required
def dashboard(request):
    period = request.GET.get("period", "30d")
    if period not in selectors.PERIODS:
        period = "30d"
    return render(request, "service/dashboard.html", {
        "kpis": selectors.service_kpis(request.user, period=period), "period": period,
        "periods": [("7d", _("7 days")), ("30d", _("30 days")), ("90d", _("90 days")), ("365d", _("12 months"))],
    })


SENTIMENT_CHOICES = (("negative", _("Negative")), ("neutral", _("Neutral")), ("positive", _("Positive")),
                     ("unscored", _("Not scored")))


@login_required
def topics(request):
    """Feedback topics: counts, share negative, trend by month; ?topic= drills down to the texts."""
    language, label = request.GET.get("language", ""), request.GET.get("sentiment", "")
    topic = request.GET.get("topic")
    status, problem = 200, ""
    try:
        selectors.feedback_filters(language=language, label=label)
    except ValidationFailed as exc:
        status, problem = 400, " ".join(f"{field}: {' '.join(m)}" for field, m in exc.errors.items())
        language = label = ""
    overview = selectors.feedback_topics(request.user, language=language, label=label)
    other = _("Other")
    for entry in overview["topics"]:
        entry["label"] = entry["topic"] or other
    texts = selectors.feedback_texts(request.user, topic=topic, language=language, label=label, limit=50) \
        if topic is not None else []
    chart = {"months": overview["months"], "series": [
        {"name": e["label"], "data": e["by_month"]} for e in overview["topics"][:8]],
        "empty": _("No analysed feedback yet.")}
    base = {k: v for k, v in (("language", language), ("sentiment", label)) if v}
    return render(request, "service/topics.html", {
        "overview": overview, "texts": texts, "topic": topic, "topic_label": (topic or other) if topic is not None
        else "", "language": language, "sentiment": label, "problem": problem, "chart": chart, "base": base,
        "languages": (("zh", _("Chinese")), ("en", _("English"))), "sentiments": SENTIMENT_CHOICES,
    }, status=status)


def survey_answer(request, token):
    """The public, mobile-first response page of a survey link (no login), in the customer's language."""
    from django.utils import translation

    from valuecrm.service import surveys

    try:
        survey = surveys.survey_from_token(token)
    except surveys.Expired as exc:
        return render(request, "service/survey.html", {"state": "gone", "problem": str(exc)}, status=410)
    except NotFound:
        raise Http404 from None
    with translation.override(survey.language):
        context = {"survey": survey, "state": "ask", "scores": range(*{"csat": (1, 6), "nps": (0, 11)}[survey.kind])}
        status = 200
        if survey.answered_at is not None:
            context["state"] = "thanks"
        elif request.method == "POST":
            try:
                surveys.survey_answer(token=token, score=request.POST.get("score", ""),
                                      comment=request.POST.get("comment", ""), user=request.user)
                context["state"] = "thanks"
            except ValidationFailed as exc:
                context["error"], status = " ".join(m for msgs in exc.errors.values() for m in msgs), 422
            except PermissionDenied as exc:
                context["error"], status = str(exc), 403
            except Conflict:
                context["state"] = "thanks"
        response = render(request, "service/survey.html", context, status=status)
    return response
