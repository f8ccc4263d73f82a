"""Writes on tickets, business calendars and SLA policies.

Every write checks TICKETS_WORK (policies and calendars: POLICIES_CHANGE), reads a
locked fresh copy, validates by field, logs status changes and emits its event in
the same transaction. SLA clocks:

- first response runs from ``opened_at`` and never pauses; the first public reply stops it;
- resolution runs while the ticket is new/open, pauses in waiting-on-customer and
  on-hold (its consumed business minutes are kept), stops at solved/closed;
- next response starts at the customer's first message after an agent's public reply
  and stops at the next public reply (or at solved/closed); like first response it
  never pauses — waiting-on-customer and on-hold pause resolution only;
- a priority change picks the policy again and keeps the consumed minutes.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability, require
from valuecrm.accounts.models import User
from valuecrm.common import events
from valuecrm.common.datetimes import parse_aware_datetime
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.customers.visibility import visible_customers
from valuecrm.service import clocks
from valuecrm.service.models import (
    ACTIVE_STATUSES,
    DONE_STATUSES,
    PAUSED_STATUSES,
    AgentProfile,
    BusinessCalendar,
    Channel,
    EscalationLevel,
    MessageKind,
    Priority,
    RoutingMode,
    ServiceTeam,
    SlaPolicy,
    Ticket,
    TicketAttachment,
    TicketEscalation,
    TicketMessage,
    TicketStatus,
    TicketStatusChange,
)

TICKET_FIELDS = ("customer_id", "subject", "description", "channel", "category", "priority", "status",
                 "assignee_id", "team_id", "opened_at", "is_complaint", "order_id", "tags")
UPDATABLE = ("subject", "description", "channel", "category", "priority", "status", "assignee_id", "team_id",
             "is_complaint", "tags")
MAX_TAGS = 20
MAX_BODY = 20_000
TIERS = ("A", "B", "C", "N")


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


def _text(errors, key, value, *, required=False, limit=200) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(_("Enter text."))
        return ""
    value = value.strip()
    if "\x00" in value:
        errors.setdefault(key, []).append(_("Null characters are not allowed."))
    elif required and not value:
        errors.setdefault(key, []).append(_("This field is required."))
    elif len(value) > limit:
        errors.setdefault(key, []).append(_("Enter at most %(n)s characters.") % {"n": limit})
    return value


def _choice(errors, key, value, choices):
    if value not in choices.values:
        errors.setdefault(key, []).append(_("Not a valid choice."))
    return value


def _agent(errors, value):
    if value in (None, ""):
        return None
    try:
        user = User.objects.filter(pk=int(value), is_active=True).first()
    except (TypeError, ValueError, OverflowError):
        user = None
    if user is None or not has_capability(user, Capability.TICKETS_WORK):
        errors.setdefault("assignee_id", []).append(_("Choose an active user who works tickets."))
        return None
    return user


# ---------------------------------------------------------------- value-aware SLA and queue

def customer_value_facts(customer_id: int) -> tuple[str, str]:
    """(tier, stage) of the customer's current value picture; ("N", "") before any scoring."""
    from valuecrm.insights.models import CustomerValue

    row = CustomerValue.objects.filter(customer_id=customer_id).values("tier", "stage").first()
    return (row["tier"], row["stage"]) if row else ("N", "")


def policy_for(priority: str, tier: str) -> SlaPolicy | None:
    """The policy of this priority for this tier, else the one for any tier."""
    rows = {p.tier: p for p in SlaPolicy.objects.select_related("calendar").filter(
        priority=priority, tier__in=[tier, ""])}
    return rows.get(tier) or rows.get("")


def _queue(ticket: Ticket, tier: str, stage: str) -> None:
    ticket.queue_rank, ticket.queue_reason = 0, ""
    if not getattr(settings, "VALUECRM_SERVICE_QUEUE_BOOST", True):
        return
    setting = team_settings(ticket.team_id)
    if setting is not None and not setting.queue_boost:
        return
    if tier == "A":
        ticket.queue_rank, ticket.queue_reason = 2, "tier_a"
    elif stage == "at_risk":
        ticket.queue_rank, ticket.queue_reason = 1, "at_risk"


def _apply_policy(ticket: Ticket, policy: SlaPolicy | None, now: datetime) -> None:
    ticket.sla_policy = policy
    ticket.sla_alert_level = 0
    if policy is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        return
    ticket.first_response_due_at = clocks.due_at(policy.calendar, ticket.opened_at, policy.first_response_minutes)
    _resolution_due(ticket)
    _next_response_due(ticket)


def _resolution_due(ticket: Ticket) -> None:
    policy = ticket.sla_policy
    if policy is None or ticket.resolution_running_since is None:
        ticket.resolution_due_at = None
        return
    left = max(0, policy.resolution_minutes - ticket.resolution_consumed)
    ticket.resolution_due_at = clocks.due_at(policy.calendar, ticket.resolution_running_since, left)


def _next_response_due(ticket: Ticket) -> None:
    """The next-response deadline: it never pauses, so the minutes consumed since its start
    are the business minutes since then under the current policy's calendar."""
    policy = ticket.sla_policy
    if policy is None or ticket.next_response_started_at is None or not policy.next_response_minutes:
        ticket.next_response_due_at = None
        return
    ticket.next_response_due_at = clocks.due_at(policy.calendar, ticket.next_response_started_at,
                                                policy.next_response_minutes)


def _start_next_response(ticket: Ticket, now: datetime) -> None:
    """The customer wrote. After an agent's public reply that starts the next-response clock;
    further messages before the next reply leave it running from the first."""
    if ticket.first_responded_at is None or ticket.next_response_started_at is not None:
        return
    ticket.next_response_started_at = now
    ticket.next_response_alert_level = 0
    ticket.next_response_started += 1
    _next_response_due(ticket)


def _stop_next_response(ticket: Ticket) -> None:
    ticket.next_response_started_at = ticket.next_response_due_at = None
    ticket.next_response_alert_level = 0


def _stop_resolution_clock(ticket: Ticket, now: datetime) -> None:
    if ticket.resolution_running_since is not None and ticket.sla_policy is not None:
        ticket.resolution_consumed += clocks.minutes_between(
            ticket.sla_policy.calendar, ticket.resolution_running_since, max(now, ticket.resolution_running_since))
    ticket.resolution_running_since = None
    ticket.resolution_due_at = None


def agent_available(user: User, now: datetime, profiles: dict | None = None) -> bool:
    """Whether routing may give `user` a ticket now: not out of office, and inside their
    working calendar's hours (an agent without a profile or calendar is always on)."""
    profile = (profiles or {}).get(user.pk) if profiles is not None else AgentProfile.objects.select_related(
        "calendar").filter(user=user).first()
    if profile is None:
        return True
    if profile.is_away(now):
        return False
    return profile.calendar is None or clocks.is_business_time(profile.calendar, now)


def _open_counts(agents) -> dict[int, int]:
    return dict(Ticket.objects.filter(assignee__in=agents, status__in=ACTIVE_STATUSES)
                .order_by().values_list("assignee_id").annotate(n=Count("id")))


def _available_agents(agents: list[User], now: datetime) -> tuple[list[User], dict]:
    profiles = {p.user_id: p for p in AgentProfile.objects.select_related("calendar").filter(user__in=agents)}
    return [u for u in agents if agent_available(u, now, profiles)], profiles


def least_busy_agent(now: datetime | None = None) -> User | None:
    """Routing without a team: the available support agent with the fewest active tickets
    (ties: lowest id)."""
    now = now or timezone.now()
    agents, _profiles = _available_agents(list(User.objects.filter(is_active=True, role="support_agent")), now)
    if not agents:
        return None
    counts = _open_counts(agents)
    return min(agents, key=lambda u: (counts.get(u.pk, 0), u.pk))


def team_settings(team_id: int | None) -> ServiceTeam | None:
    if not team_id:
        return None
    return ServiceTeam.objects.filter(team_id=team_id).first()


def route_ticket(ticket: Ticket, now: datetime) -> User | None:
    """The agent a new ticket goes to: its team's members who work tickets and are on their
    calendar, chosen by the team's routing (round-robin, least open tickets, or the skill its
    category needs — nobody with the skill leaves it unassigned for the lead). Without a team
    setting: the least busy support agent."""
    setting = ServiceTeam.objects.select_for_update().filter(team_id=ticket.team_id).first() \
        if ticket.team_id else None
    if setting is None:
        return least_busy_agent(now)
    members = [u for u in User.objects.filter(team_id=ticket.team_id, is_active=True).order_by("id")
               if has_capability(u, Capability.TICKETS_WORK)]
    agents, profiles = _available_agents(members, now)
    if setting.routing == RoutingMode.SKILLS and ticket.category:
        need = ticket.category.strip().lower()
        agents = [u for u in agents if need in (profiles[u.pk].skills if u.pk in profiles else [])]
    if not agents:
        return None
    if setting.routing == RoutingMode.ROUND_ROBIN:
        last = setting.last_assigned_id or 0
        chosen = next((u for u in agents if u.pk > last), agents[0])
        setting.last_assigned = chosen
        setting.save(update_fields=["last_assigned"])
        return chosen
    counts = _open_counts(agents)
    return min(agents, key=lambda u: (counts.get(u.pk, 0), u.pk))


# ---------------------------------------------------------------- tickets

def _validate(data: dict, ticket: Ticket, errors: dict, *, creating: bool) -> dict:
    allowed = TICKET_FIELDS if creating else UPDATABLE
    out = {}
    for key in data:
        if key not in allowed:
            errors.setdefault(key, []).append(_("Unknown field."))
    if "subject" in data or creating:
        out["subject"] = _text(errors, "subject", data.get("subject"), required=True)
    if "description" in data:
        out["description"] = _text(errors, "description", data["description"], limit=MAX_BODY)
    if "category" in data:
        out["category"] = _text(errors, "category", data["category"], limit=60)
    for key, choices in (("channel", Channel), ("priority", Priority), ("status", TicketStatus)):
        if key in data and data[key] is not None:
            out[key] = _choice(errors, key, data[key], choices)
    if "is_complaint" in data:
        if not isinstance(data["is_complaint"], bool):
            errors.setdefault("is_complaint", []).append(_("Enter true or false."))
        out["is_complaint"] = bool(data["is_complaint"])
    if "assignee_id" in data:
        out["assignee"] = _agent(errors, data["assignee_id"])
    if "team_id" in data:
        out["team"] = _team(errors, data["team_id"])
    if "tags" in data:
        out["tags"] = _tags(errors, data["tags"])
    return out


def _tags(errors, raw) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TAGS:
        errors.setdefault("tags", []).append(_("Expected a list of at most %(n)s tags.") % {"n": MAX_TAGS})
        return []
    tags: list[str] = []
    for i, tag in enumerate(raw):
        value = _text(errors, f"tags.{i}", tag, required=True, limit=40).lower()
        if value and value not in tags:
            tags.append(value)
    return tags


def _team(errors, value):
    from valuecrm.accounts.models import Team

    if value in (None, ""):
        return None
    try:
        team = Team.objects.filter(pk=int(value)).first()
    except (TypeError, ValueError, OverflowError):
        team = None
    if team is None:
        errors.setdefault("team_id", []).append(_("Unknown team."))
    return team


@transaction.atomic
def ticket_create(*, actor, data: dict, now: datetime | None = None) -> Ticket:
    require(actor, Capability.TICKETS_WORK, _("Your role cannot work service tickets."))
    now = now or timezone.now()
    data = dict(data)
    errors: dict[str, list[str]] = {}
    ticket = Ticket(created_by=actor if getattr(actor, "pk", None) else None)
    values = _validate(data, ticket, errors, creating=True)
    customer = None
    if data.get("customer_id") in (None, ""):
        errors.setdefault("customer_id", []).append(_("This field is required."))
    else:
        try:
            customer = visible_customers(actor).filter(pk=int(data["customer_id"])).first()
        except (TypeError, ValueError, OverflowError):
            customer = None
        if customer is None:
            errors.setdefault("customer_id", []).append(_("Unknown customer."))
    if data.get("order_id") not in (None, ""):
        from valuecrm.orders.models import Order

        try:
            order = Order.objects.filter(pk=int(data["order_id"]), customer=customer).first()
        except (TypeError, ValueError, OverflowError):
            order = None
        if order is None:
            errors.setdefault("order_id", []).append(_("Unknown order of this customer."))
        ticket.order = order
    opened_at = now
    if data.get("opened_at") not in (None, ""):
        opened_at = parse_aware_datetime(data["opened_at"], "opened_at", errors) or now
        if opened_at > now:
            errors.setdefault("opened_at", []).append(_("A ticket cannot open in the future."))
    _raise_if(errors)
    for key, value in values.items():
        setattr(ticket, key, value)
    ticket.customer = customer
    ticket.opened_at = opened_at
    if ticket.team is None and ticket.assignee is not None:
        ticket.team_id = ticket.assignee.team_id
    if ticket.assignee is None and getattr(settings, "VALUECRM_SERVICE_AUTO_ASSIGN", True):
        ticket.assignee = route_ticket(ticket, now)
    tier, stage = customer_value_facts(customer.pk)
    _queue(ticket, tier, stage)
    status = ticket.status
    ticket.resolution_running_since = opened_at if status not in PAUSED_STATUSES + DONE_STATUSES else None
    policy = policy_for(ticket.priority, tier)
    ticket.sla_policy = policy
    if status in PAUSED_STATUSES + DONE_STATUSES and policy is not None:
        ticket.resolution_consumed = clocks.minutes_between(policy.calendar, opened_at, now)
    if status in DONE_STATUSES:
        ticket.solved_at = now
    _apply_policy(ticket, policy, now)
    ticket.save()
    TicketStatusChange.objects.create(ticket=ticket, from_status="", to_status=status, actor=ticket.created_by,
                                      at=now)
    if ticket.description:
        TicketMessage.objects.create(ticket=ticket, kind=MessageKind.INBOUND, body=ticket.description,
                                     created_at=opened_at)
    events.emit(events.TicketCreated(customer_id=customer.pk, ticket_id=ticket.pk, channel=ticket.channel,
                                     priority=ticket.priority, is_complaint=ticket.is_complaint), actor=actor)
    return ticket


def _locked(ticket: Ticket) -> Ticket:
    fresh = Ticket.objects.select_for_update(of=("self",)).select_related("sla_policy__calendar", "customer").filter(
        pk=ticket.pk).first()
    if fresh is None:
        raise NotFound(_("Ticket not found."))
    return fresh


def _move(ticket: Ticket, to: str, actor, now: datetime) -> str:
    """Change the status and its clocks; returns the previous status."""
    before = ticket.status
    if before == to:
        return before
    if before == TicketStatus.CLOSED:
        raise Conflict(_("A closed ticket cannot change; open a new one."),
                       errors={"status": [_("A closed ticket cannot change; open a new one.")]})
    if to in DONE_STATUSES:
        _stop_next_response(ticket)
    if to in PAUSED_STATUSES + DONE_STATUSES:
        _stop_resolution_clock(ticket, now)
    elif ticket.resolution_running_since is None:
        ticket.resolution_running_since = now
        ticket.sla_alert_level = min(ticket.sla_alert_level, 0) if before in DONE_STATUSES else ticket.sla_alert_level
        _resolution_due(ticket)
    ticket.solved_at = now if to in DONE_STATUSES and ticket.solved_at is None else (
        ticket.solved_at if to in DONE_STATUSES else None)
    ticket.status = to
    TicketStatusChange.objects.create(ticket=ticket, from_status=before, to_status=to,
                                      actor=actor if getattr(actor, "pk", None) else None, at=now)
    return before


@transaction.atomic
def ticket_update(*, actor, ticket: Ticket, data: dict, now: datetime | None = None) -> Ticket:
    require(actor, Capability.TICKETS_WORK, _("Your role cannot work service tickets."))
    now = now or timezone.now()
    fresh = _locked(ticket)
    if not visible_customers(actor).filter(pk=fresh.customer_id).exists():
        raise NotFound(_("Ticket not found."))
    errors: dict[str, list[str]] = {}
    values = _validate(dict(data), fresh, errors, creating=False)
    _raise_if(errors)
    status = values.pop("status", None)
    changed = [k for k, v in values.items() if getattr(fresh, k) != v]
    for key in changed:
        setattr(fresh, key, values[key])
    if "priority" in changed:
        # Keep what the resolution clock has consumed; the new targets apply to the rest.
        if fresh.resolution_running_since is not None:
            _stop_resolution_clock(fresh, now)
            fresh.resolution_running_since = now
        tier, _stage = customer_value_facts(fresh.customer_id)
        _apply_policy(fresh, policy_for(fresh.priority, tier), now)
    before = None
    if status is not None and status != fresh.status:
        before = _move(fresh, status, actor, now)
    fresh.save()
    if changed:
        events.emit(events.TicketUpdated(customer_id=fresh.customer_id, ticket_id=fresh.pk,
                                         changed_fields=tuple(sorted(c.removesuffix("_id") for c in changed))),
                    actor=actor)
    if before is not None:
        events.emit(events.TicketStatusChanged(customer_id=fresh.customer_id, ticket_id=fresh.pk,
                                               from_status=before, to_status=fresh.status), actor=actor)
    return fresh


def _thread_headers(ticket: Ticket) -> dict:
    ids = [m for m in ticket.messages.exclude(message_id="").values_list("message_id", flat=True)]
    if not ids:
        return {}
    return {"In-Reply-To": ids[-1], "References": " ".join(ids[-10:])}


def ticket_token(ticket: Ticket) -> str:
    return f"[#{ticket.pk}]"


# ---------------------------------------------------------------- attachments

# Extension → (content type, leading bytes the file must start with; None = UTF-8 text).
ATTACHMENT_TYPES = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)), ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)), ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)), ".pdf": ("application/pdf", (b"%PDF-",)),
    ".txt": ("text/plain", None), ".csv": ("text/csv", None),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
}
MAX_ATTACHMENTS = 5


def attachment_max_bytes() -> int:
    return int(getattr(settings, "VALUECRM_SERVICE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))


def attachments_root():
    from pathlib import Path

    return Path(getattr(settings, "VALUECRM_STORAGE_DIR", None) or settings.DATA_DIR) / "service" / "attachments"


def _read_upload(errors: dict, key: str, name, chunks) -> tuple[str, str, bytes] | None:
    """(clean name, content type, content) of an upload, or None with errors[key] saying why:
    a name with an allowed extension, at most the size limit, content that matches the type."""
    import os

    limit = attachment_max_bytes()
    clean = os.path.basename(str(name or "").replace("\\", "/")).strip()
    if not clean or "\x00" in clean or len(clean) > 200:
        errors.setdefault(key, []).append(_("Give the file a name of at most 200 characters."))
        return None
    ext = os.path.splitext(clean)[1].lower()
    kind = ATTACHMENT_TYPES.get(ext)
    if kind is None:
        errors.setdefault(key, []).append(_("Files of this type cannot be attached; allowed: %(types)s.") % {
            "types": ", ".join(sorted(ATTACHMENT_TYPES))})
        return None
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            errors.setdefault(key, []).append(_("The file is larger than %(mb)s MB.") % {
                "mb": round(limit / 1024 / 1024, 1)})
            return None
        parts.append(chunk)
    content = b"".join(parts)
    if not content:
        errors.setdefault(key, []).append(_("The file is empty."))
        return None
    content_type, magic = kind
    if magic is None:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            errors.setdefault(key, []).append(_("The file's content does not match its type."))
            return None
    elif not content.startswith(magic) or (ext == ".webp" and content[8:12] != b"WEBP"):
        errors.setdefault(key, []).append(_("The file's content does not match its type."))
        return None
    return clean, content_type, content


def _store_attachments(ticket: Ticket, files: list[tuple[str, str, bytes]], *, actor, message, now) -> list:
    """Write the files under the data dir and their rows; on any failure remove what was written."""
    import hashlib
    import uuid

    root = attachments_root() / str(ticket.pk)
    root.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    try:
        for name, content_type, content in files:
            ext = name.rsplit(".", 1)[-1].lower()
            rel = f"{ticket.pk}/{uuid.uuid4().hex}.{ext}"
            target = attachments_root() / rel
            target.write_bytes(content)
            written.append(target)
            rows.append(TicketAttachment.objects.create(
                ticket=ticket, message=message, name=name, content_type=content_type, size=len(content),
                sha256=hashlib.sha256(content).hexdigest(), path=rel,
                uploaded_by=actor if getattr(actor, "pk", None) else None, created_at=now))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for row in rows:
        events.emit(events.TicketAttachmentAdded(customer_id=ticket.customer_id, ticket_id=ticket.pk,
                                                 attachment_id=row.pk, content_type=row.content_type,
                                                 size=row.size), actor=actor)
    return rows


def _read_uploads(errors: dict, files) -> list[tuple[str, str, bytes]]:
    files = list(files or [])
    if len(files) > MAX_ATTACHMENTS:
        errors.setdefault("file", []).append(_("Attach at most %(n)s files at once.") % {"n": MAX_ATTACHMENTS})
        return []
    out = []
    for name, chunks in files:
        got = _read_upload(errors, "file", name, chunks)
        if got is not None:
            out.append(got)
    return out


@transaction.atomic
def attachment_add(*, actor, ticket: Ticket, name: str, chunks, now: datetime | None = None) -> TicketAttachment:
    """Attach one file to a ticket (no message): the type and size limits, visibility and
    TICKETS_WORK as for a reply. Bad input is a ValidationFailed naming `file`."""
    require(actor, Capability.TICKETS_WORK, _("Your role cannot work service tickets."))
    now = now or timezone.now()
    fresh = _locked(ticket)
    if not visible_customers(actor).filter(pk=fresh.customer_id).exists():
        raise NotFound(_("Ticket not found."))
    errors: dict[str, list[str]] = {}
    got = _read_upload(errors, "file", name, chunks)
    if fresh.status == TicketStatus.CLOSED:
        errors.setdefault("status", []).append(_("A closed ticket cannot change; open a new one."))
    _raise_if(errors)
    return _store_attachments(fresh, [got], actor=actor, message=None, now=now)[0]


@transaction.atomic
def ticket_reply(*, actor, ticket: Ticket, body, kind: str = MessageKind.REPLY,
                 now: datetime | None = None, files=None) -> TicketMessage:
    """A public reply (sent to the customer by e-mail after commit) or an internal note, with
    the files in `files` ([(name, chunks)]) attached to it; nothing is written when one is refused."""
    require(actor, Capability.TICKETS_WORK, _("Your role cannot work service tickets."))
    now = now or timezone.now()
    fresh = _locked(ticket)
    if not visible_customers(actor).filter(pk=fresh.customer_id).exists():
        raise NotFound(_("Ticket not found."))
    errors: dict[str, list[str]] = {}
    if kind not in (MessageKind.REPLY, MessageKind.NOTE):
        errors.setdefault("kind", []).append(_("Not a valid choice."))
    body = _text(errors, "body", body, required=True, limit=MAX_BODY)
    uploads = _read_uploads(errors, files)
    if fresh.status == TicketStatus.CLOSED:
        errors.setdefault("status", []).append(_("A closed ticket cannot change; open a new one."))
    _raise_if(errors)
    message = TicketMessage(ticket=fresh, kind=kind, body=body, author=actor, created_at=now)
    before = None
    if kind == MessageKind.REPLY:
        message.message_id = make_msgid(domain=getattr(settings, "VALUECRM_SERVICE_MAIL_DOMAIN", "valuecrm.local"))
        headers = _thread_headers(fresh)
        if fresh.first_responded_at is None:
            fresh.first_responded_at = now
        _stop_next_response(fresh)
        if fresh.status == TicketStatus.NEW:
            before = _move(fresh, TicketStatus.OPEN, actor, now)
        fresh.save()
        recipient = fresh.customer.email
        if recipient:
            mail = EmailMessage(
                subject=f"{ticket_token(fresh)} {fresh.subject}", body=body,
                from_email=settings.DEFAULT_FROM_EMAIL, to=[recipient],
                headers={"Message-ID": message.message_id, **headers},
            )
            for name, content_type, content in uploads:
                mail.attach(name, content, content_type)
            transaction.on_commit(lambda: mail.send(fail_silently=False))
    message.save()
    if uploads:
        _store_attachments(fresh, uploads, actor=actor, message=message, now=now)
    events.emit(events.TicketReplied(customer_id=fresh.customer_id, ticket_id=fresh.pk, kind=kind), actor=actor)
    if before is not None:
        events.emit(events.TicketStatusChanged(customer_id=fresh.customer_id, ticket_id=fresh.pk,
                                               from_status=before, to_status=fresh.status), actor=actor)
    return message


# ---------------------------------------------------------------- SLA warnings and breaches

def _percent(consumed: int, target: int) -> int:
    return 100 if target <= 0 else int(consumed * 100 // target)


def _step(level: int) -> int:
    return 100 if level >= 100 else 90 if level >= 90 else 75 if level >= 75 else 0


def _alert(ticket: Ticket, clock: str, step: int) -> None:
    if step == 100:
        events.emit(events.TicketSlaBreached(customer_id=ticket.customer_id, ticket_id=ticket.pk, clock=clock))
    else:
        events.emit(events.TicketSlaWarning(customer_id=ticket.customer_id, ticket_id=ticket.pk, clock=clock,
                                            percent=step))


def _used(ticket: Ticket, policy: SlaPolicy, clock: str, now: datetime) -> tuple[int, int]:
    """(business minutes used, target) of one running clock."""
    cal = policy.calendar
    if clock == "first_response":
        return clocks.minutes_between(cal, ticket.opened_at, max(now, ticket.opened_at)), \
            policy.first_response_minutes
    if clock == "next_response":
        start = ticket.next_response_started_at
        return clocks.minutes_between(cal, start, max(now, start)), policy.next_response_minutes
    start = ticket.resolution_running_since
    return ticket.resolution_consumed + clocks.minutes_between(cal, start, max(now, start)), \
        policy.resolution_minutes


def _running_clocks(ticket: Ticket, policy: SlaPolicy) -> list[str]:
    out = []
    if ticket.first_responded_at is None:
        out.append("first_response")
    if ticket.next_response_started_at is not None and policy.next_response_minutes:
        out.append("next_response")
    if ticket.resolution_running_since is not None:
        out.append("resolution")
    return out


def escalation_targets(ticket: Ticket) -> dict[int, User]:
    """{level: person} of the ticket's team (else its assignee's team): lead, then manager."""
    team_id = ticket.team_id or (ticket.assignee.team_id if ticket.assignee_id else None)
    setting = ServiceTeam.objects.select_related("lead", "manager").filter(team_id=team_id).first() \
        if team_id else None
    if setting is None:
        return {}
    return {level: user for level, user in ((EscalationLevel.LEAD, setting.lead),
                                            (EscalationLevel.MANAGER, setting.manager))
            if user is not None and user.is_active}


def _system_actor() -> User:
    """The account system writes act as (the automation account: an administrator that cannot sign in)."""
    from valuecrm.accounts.roles import Role
    from valuecrm.customers.automation_actions import AUTOMATION_USERNAME

    user = User.objects.filter(username=AUTOMATION_USERNAME).first()
    if user is None:
        user = User(username=AUTOMATION_USERNAME, role=Role.ADMIN, first_name="Automation", is_active=True)
        user.set_unusable_password()
        user.save()
    return user


def _escalation_task(ticket: Ticket, target: User, level: int, clock: str, percent: int, now: datetime):
    from django.utils import translation

    from valuecrm.customers.services import task_create

    names = {"first_response": _("first response"), "next_response": _("next response"),
             "resolution": _("resolution")}
    with translation.override(target.language or settings.LANGUAGE_CODE):
        title = _("Escalated ticket #%(id)s: %(subject)s") % {"id": ticket.pk, "subject": ticket.subject}
        description = _("The %(clock)s clock is at %(percent)s %% of its target; assignee: %(assignee)s.") % {
            "clock": names.get(clock, clock), "percent": percent,
            "assignee": ticket.assignee.display_name if ticket.assignee_id else _("nobody")}
    try:
        return task_create(actor=_system_actor(), title=title[:200], customer=ticket.customer,
                           description=description, due_at=now + timedelta(hours=1), assignee=target)
    except ValidationFailed:
        return None  # the person cannot see the customer: the escalation stands, without a task


def _escalate(ticket: Ticket, policy: SlaPolicy, now: datetime) -> int:
    """Escalate a ticket whose clock has reached the policy's thresholds: the team lead at
    `escalate_lead_at` % (90 or 100), the manager `escalate_manager_after` business minutes
    after a breach. One escalation per ticket × person × level (the unique row says so), each
    with a task for the person and a ticket.escalated event. Returns how many were made."""
    if ticket.escalation_level >= EscalationLevel.MANAGER:
        return 0
    worst_percent, worst_clock, overdue = 0, "", -1
    for clock in _running_clocks(ticket, policy):
        used, target = _used(ticket, policy, clock, now)
        p = _percent(used, target)
        if p > worst_percent:
            worst_percent, worst_clock = p, clock
        if used >= target:
            overdue = max(overdue, used - target)
    due = []
    if policy.escalate_lead_at and worst_percent >= policy.escalate_lead_at:
        due.append(EscalationLevel.LEAD)
    if policy.escalate_manager_after is not None and overdue >= policy.escalate_manager_after:
        due.append(EscalationLevel.MANAGER)
    due = [lv for lv in due if lv > ticket.escalation_level]
    if not due:
        return 0
    targets = escalation_targets(ticket)
    made = 0
    for level in due:
        target = targets.get(level)
        ticket.escalation_level = max(ticket.escalation_level, level)
        if target is None or TicketEscalation.objects.filter(ticket=ticket, target=target, level=level).exists():
            continue
        task = _escalation_task(ticket, target, level, worst_clock, worst_percent, now)
        row = TicketEscalation.objects.create(ticket=ticket, level=level, target=target, clock=worst_clock,
                                              percent=min(worst_percent, 32767), task=task, at=now)
        events.emit(events.TicketEscalated(customer_id=ticket.customer_id, ticket_id=ticket.pk,
                                           escalation_id=row.pk, level=level, target_id=target.pk,
                                           clock=worst_clock))
        made += 1
    Ticket.objects.filter(pk=ticket.pk).update(escalation_level=ticket.escalation_level)
    return made


def _sweep_next_response(ticket: Ticket, policy: SlaPolicy, now: datetime) -> int:
    """The next-response clock's warning or breach, kept apart from the other clocks' level
    because it starts again with every customer message that follows a reply."""
    if ticket.next_response_started_at is None or not policy.next_response_minutes:
        return 0
    used = clocks.minutes_between(policy.calendar, ticket.next_response_started_at,
                                  max(now, ticket.next_response_started_at))
    step = _step(_percent(used, policy.next_response_minutes))
    if step <= ticket.next_response_alert_level:
        return 0
    ticket.next_response_alert_level = step
    ticket.next_response_breaches += int(step == 100)
    ticket.save(update_fields=["next_response_alert_level", "next_response_breaches", "updated_at"])
    _alert(ticket, "next_response", step)
    return 1


@transaction.atomic
def sla_sweep(*, now: datetime | None = None) -> int:
    """Send the 75 % / 90 % warnings and the breaches that are due, and the escalations
    (team lead, then manager); returns how many warnings, breaches and escalations.

    Only inside the policy calendar's business hours, so nobody is woken at midnight
    by a clock that has not moved (Zammad #4432). Runs as the system (the worker).
    """
    now = now or timezone.now()
    sent = 0
    rows = (Ticket.objects.select_for_update(of=("self",)).select_related("sla_policy__calendar", "assignee",
                                                                          "customer")
            .filter(status__in=ACTIVE_STATUSES, sla_policy__isnull=False)
            .filter(Q(sla_alert_level__lt=100)
                    | Q(next_response_due_at__isnull=False, next_response_alert_level__lt=100)
                    | Q(escalation_level__lt=EscalationLevel.MANAGER,
                        sla_policy__escalate_manager_after__isnull=False)))
    for ticket in rows:
        policy = ticket.sla_policy
        if not clocks.is_business_time(policy.calendar, now):
            continue
        sent += _sweep_next_response(ticket, policy, now)
        sent += _sweep_clocks(ticket, policy, now)
        sent += _escalate(ticket, policy, now)
    return sent


def _sweep_clocks(ticket: Ticket, policy: SlaPolicy, now: datetime) -> int:
    """The first-response / resolution warning or breach (one level for both)."""
    if ticket.sla_alert_level >= 100:
        return 0
    level, clock = 0, ""
    if ticket.first_responded_at is None:
        used = clocks.minutes_between(policy.calendar, ticket.opened_at, now)
        level, clock = _percent(used, policy.first_response_minutes), "first_response"
    if ticket.resolution_running_since is not None:
        used = ticket.resolution_consumed + clocks.minutes_between(
            policy.calendar, ticket.resolution_running_since, max(now, ticket.resolution_running_since))
        p = _percent(used, policy.resolution_minutes)
        if p > level:
            level, clock = p, "resolution"
    step = _step(level)
    if step <= ticket.sla_alert_level:
        return 0
    ticket.sla_alert_level = step
    ticket.save(update_fields=["sla_alert_level", "updated_at"])
    _alert(ticket, clock, step)
    return 1


# ---------------------------------------------------------------- calendars and policies

def _hours(errors, raw) -> list[dict]:
    if not isinstance(raw, list):
        errors.setdefault("hours", []).append(_("Expected a list of opening hours."))
        return []
    out = []
    for i, row in enumerate(raw):
        key = f"hours.{i}"
        if not isinstance(row, dict):
            errors.setdefault(key, []).append(_("Expected an object."))
            continue
        weekday, start, end = row.get("weekday"), row.get("start"), row.get("end")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            errors.setdefault(f"{key}.weekday", []).append(_("Enter a weekday from 0 (Monday) to 6 (Sunday)."))
            continue
        try:
            s, e = clocks._minutes(start), clocks._minutes(end)
            ok = len(start) == 5 and len(end) == 5 and 0 <= s < e <= 1440 and int(start[3:]) < 60 \
                and int(end[3:]) < 60
        except (AttributeError, TypeError, ValueError):
            ok = False
        if not ok:
            errors.setdefault(f"{key}.end", []).append(_("Enter HH:MM times with start before end."))
            continue
        out.append({"weekday": weekday, "start": start, "end": end})
    by_day: dict[int, list] = {}
    for row in out:
        by_day.setdefault(row["weekday"], []).append((clocks._minutes(row["start"]), clocks._minutes(row["end"])))
    for spans in by_day.values():
        spans.sort()
        if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
            errors.setdefault("hours", []).append(_("Opening hours of one day overlap."))
    return out


@transaction.atomic
def calendar_save(*, actor, data: dict, calendar: BusinessCalendar | None = None) -> BusinessCalendar:
    require(actor, Capability.POLICIES_CHANGE)
    errors: dict[str, list[str]] = {}
    creating = calendar is None
    target = BusinessCalendar() if creating else BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    for key in data:
        if key not in ("name", "timezone", "hours", "holidays", "closures"):
            errors.setdefault(key, []).append(_("Unknown field."))
    if creating or "name" in data:
        target.name = _text(errors, "name", data.get("name"), required=True, limit=100)
        if BusinessCalendar.objects.filter(name=target.name).exclude(pk=target.pk).exists():
            errors.setdefault("name", []).append(_("A calendar with this name already exists."))
    if "timezone" in data:
        if data["timezone"] not in available_timezones():
            errors.setdefault("timezone", []).append(_("Unknown time zone."))
        else:
            target.timezone = data["timezone"]
            ZoneInfo(target.timezone)
    if "hours" in data:
        target.hours = _hours(errors, data["hours"])
    if "holidays" in data:
        if data["holidays"] not in (None, "", "CN"):
            errors.setdefault("holidays", []).append(_('Use "CN" or null.'))
        target.holidays = data["holidays"] or ""
    if "closures" in data:
        from datetime import date

        closures = []
        raw = data["closures"] if isinstance(data["closures"], list) else None
        for i, day in enumerate(raw or []):
            try:
                closures.append(date.fromisoformat(day).isoformat())
            except (TypeError, ValueError):
                errors.setdefault(f"closures.{i}", []).append(_("Enter a date as YYYY-MM-DD."))
        if raw is None:
            errors.setdefault("closures", []).append(_("Expected a list of dates."))
        target.closures = sorted(set(closures))
    _raise_if(errors)
    target.save()
    events.emit(events.ConfigChanged(kind="business_calendar", object_id=str(target.pk),
                                     action="created" if creating else "updated"), actor=actor)
    return target


@transaction.atomic
def sla_policy_save(*, actor, data: dict, policy: SlaPolicy | None = None) -> SlaPolicy:
    """Create or change a policy. Open tickets keep their policy until their priority changes."""
    require(actor, Capability.POLICIES_CHANGE)
    errors: dict[str, list[str]] = {}
    creating = policy is None
    target = SlaPolicy() if creating else SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    for key in data:
        if key not in ("name", "calendar_id", "priority", "tier", "first_response_minutes", "resolution_minutes",
                       "next_response_minutes", "escalate_lead_at", "escalate_manager_after"):
            errors.setdefault(key, []).append(_("Unknown field."))
    if creating or "name" in data:
        target.name = _text(errors, "name", data.get("name"), required=True, limit=100)
    if creating or "calendar_id" in data:
        cal = BusinessCalendar.objects.filter(pk=data.get("calendar_id")).first() \
            if isinstance(data.get("calendar_id"), int) else None
        if cal is None:
            errors.setdefault("calendar_id", []).append(_("Unknown calendar."))
        target.calendar = cal
    if creating or "priority" in data:
        target.priority = _choice(errors, "priority", data.get("priority"), Priority)
    if "tier" in data:
        if data["tier"] not in (None, "", *TIERS):
            errors.setdefault("tier", []).append(_("Not a valid choice."))
        target.tier = data["tier"] or ""
    for key in ("first_response_minutes", "resolution_minutes"):
        if creating or key in data:
            value = data.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 525_600:
                errors.setdefault(key, []).append(_("Enter whole minutes from 1 to 525600."))
            else:
                setattr(target, key, value)
    if "next_response_minutes" in data:
        value = data["next_response_minutes"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 1 <= value <= 525_600):
            errors.setdefault("next_response_minutes", []).append(
                _("Enter whole minutes from 1 to 525600, or nothing for no target."))
        else:
            target.next_response_minutes = value
    if "escalate_lead_at" in data:
        value = data["escalate_lead_at"]
        if value not in (0, 90, 100) or isinstance(value, bool):
            errors.setdefault("escalate_lead_at", []).append(_("Use 90, 100 (on breach) or 0 (never)."))
        else:
            target.escalate_lead_at = value
    if "escalate_manager_after" in data:
        value = data["escalate_manager_after"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 <= value <= 525_600):
            errors.setdefault("escalate_manager_after", []).append(
                _("Enter whole minutes from 0 to 525600, or nothing for never."))
        else:
            target.escalate_manager_after = value
    if not errors and SlaPolicy.objects.filter(priority=target.priority, tier=target.tier).exclude(
            pk=target.pk).exists():
        errors.setdefault("tier", []).append(_("A policy for this priority and tier already exists."))
    _raise_if(errors)
    target.save()
    events.emit(events.ConfigChanged(kind="sla_policy", object_id=str(target.pk),
                                     action="created" if creating else "updated"), actor=actor)
    return target


# ---------------------------------------------------------------- routing and escalation settings

def _person(errors, key, value) -> User | None:
    if value in (None, ""):
        return None
    try:
        user = User.objects.filter(pk=int(value), is_active=True).first()
    except (TypeError, ValueError, OverflowError):
        user = None
    if user is None:
        errors.setdefault(key, []).append(_("Choose an active user."))
    return user


@transaction.atomic
def service_team_save(*, actor, team, data: dict) -> ServiceTeam:
    """A team's routing mode, queue boost, lead and manager (created on first save)."""
    require(actor, Capability.POLICIES_CHANGE)
    errors: dict[str, list[str]] = {}
    target = ServiceTeam.objects.select_for_update().filter(team=team).first()
    creating = target is None
    if creating:
        target = ServiceTeam(team=team)
    for key in data:
        if key not in ("routing", "queue_boost", "lead_id", "manager_id"):
            errors.setdefault(key, []).append(_("Unknown field."))
    if "routing" in data:
        target.routing = _choice(errors, "routing", data["routing"], RoutingMode)
    if "queue_boost" in data:
        if not isinstance(data["queue_boost"], bool):
            errors.setdefault("queue_boost", []).append(_("Enter true or false."))
        else:
            target.queue_boost = data["queue_boost"]
    if "lead_id" in data:
        target.lead = _person(errors, "lead_id", data["lead_id"])
    if "manager_id" in data:
        target.manager = _person(errors, "manager_id", data["manager_id"])
    _raise_if(errors)
    target.save()
    events.emit(events.ConfigChanged(kind="service_team", object_id=str(team.pk),
                                     action="created" if creating else "updated"), actor=actor)
    return target


MAX_SKILLS = 30


@transaction.atomic
def agent_profile_save(*, actor, user: User, data: dict) -> AgentProfile:
    """An agent's skills, working calendar and out-of-office span (routing reads them)."""
    if not (has_capability(actor, Capability.POLICIES_CHANGE) or (actor.pk == user.pk and has_capability(
            actor, Capability.TICKETS_WORK))):
        require(actor, Capability.POLICIES_CHANGE)
    errors: dict[str, list[str]] = {}
    target = AgentProfile.objects.select_for_update().filter(user=user).first()
    creating = target is None
    if creating:
        target = AgentProfile(user=user)
    for key in data:
        if key not in ("skills", "calendar_id", "away_from", "away_until"):
            errors.setdefault(key, []).append(_("Unknown field."))
    if "skills" in data:
        raw = data["skills"]
        if not isinstance(raw, list) or len(raw) > MAX_SKILLS:
            errors.setdefault("skills", []).append(_("Expected a list of at most %(n)s skills.") % {"n": MAX_SKILLS})
        else:
            skills = []
            for i, skill in enumerate(raw):
                value = _text(errors, f"skills.{i}", skill, required=True, limit=60)
                if value and value.lower() not in skills:
                    skills.append(value.lower())
            target.skills = skills
    if "calendar_id" in data:
        value = data["calendar_id"]
        cal = None
        if value is not None:
            cal = BusinessCalendar.objects.filter(pk=value).first() if isinstance(value, int) else None
            if cal is None:
                errors.setdefault("calendar_id", []).append(_("Unknown calendar."))
        target.calendar = cal
    for key in ("away_from", "away_until"):
        if key in data:
            value = data[key]
            setattr(target, key, None if value in (None, "") else parse_aware_datetime(value, key, errors))
    if target.away_from and target.away_until and target.away_until <= target.away_from:
        errors.setdefault("away_until", []).append(_("The end must come after the start."))
    _raise_if(errors)
    target.save()
    events.emit(events.ConfigChanged(kind="agent_profile", object_id=str(user.pk),
                                     action="created" if creating else "updated"), actor=actor)
    return target


# ---------------------------------------------------------------- channels without a signed-in user

def _system_ticket(customer, subject: str, body: str, channel: str, now: datetime) -> Ticket:
    ticket = Ticket(customer=customer, subject=subject[:200], description=body, channel=channel, opened_at=now,
                    resolution_running_since=now)
    if getattr(settings, "VALUECRM_SERVICE_AUTO_ASSIGN", True):
        ticket.assignee = least_busy_agent(now)
    tier, stage = customer_value_facts(customer.pk)
    _queue(ticket, tier, stage)
    _apply_policy(ticket, policy_for(ticket.priority, tier), now)
    ticket.save()
    TicketStatusChange.objects.create(ticket=ticket, from_status="", to_status=ticket.status, at=now)
    return ticket


@transaction.atomic
def ticket_create_from_channel(*, customer, subject: str, body: str, channel: str, message_id: str = "",
                               now: datetime | None = None) -> Ticket:
    """A ticket the customer opened themselves (an e-mail, the public form): no actor."""
    now = now or timezone.now()
    ticket = _system_ticket(customer, subject, body, channel, now)
    TicketMessage.objects.create(ticket=ticket, kind=MessageKind.INBOUND, body=body, created_at=now,
                                 message_id=message_id)
    events.emit(events.TicketCreated(customer_id=customer.pk, ticket_id=ticket.pk, channel=channel,
                                     priority=ticket.priority, is_complaint=False))
    return ticket


@transaction.atomic
def ticket_customer_message(*, ticket: Ticket, body: str, message_id: str = "",
                            now: datetime | None = None) -> TicketMessage:
    """The customer wrote on their ticket (an e-mail reply): no actor. A waiting or solved
    ticket opens again and, after an agent's reply, the next-response clock starts."""
    now = now or timezone.now()
    fresh = _locked(ticket)
    if fresh.status == TicketStatus.CLOSED:
        raise Conflict(_("A closed ticket cannot change; open a new one."),
                       errors={"status": [_("A closed ticket cannot change; open a new one.")]})
    message = TicketMessage.objects.create(ticket=fresh, kind=MessageKind.INBOUND, body=body, created_at=now,
                                           message_id=message_id)
    before = None
    if fresh.status in (TicketStatus.WAITING, TicketStatus.SOLVED):
        before = _move(fresh, TicketStatus.OPEN, None, now)
    _start_next_response(fresh, now)
    fresh.save()
    events.emit(events.TicketReplied(customer_id=fresh.customer_id, ticket_id=fresh.pk, kind=MessageKind.INBOUND))
    if before is not None:
        events.emit(events.TicketStatusChanged(customer_id=fresh.customer_id, ticket_id=fresh.pk,
                                               from_status=before, to_status=fresh.status))
    return message


@transaction.atomic
def system_status_change(ticket: Ticket, to: str, *, now: datetime | None = None) -> Ticket:
    """A status change the system makes (a customer's e-mail reopens a waiting ticket)."""
    now = now or timezone.now()
    fresh = _locked(ticket)
    before = _move(fresh, to, None, now)
    fresh.save()
    if before != fresh.status:
        events.emit(events.TicketStatusChanged(customer_id=fresh.customer_id, ticket_id=fresh.pk,
                                               from_status=before, to_status=fresh.status))
    return fresh
