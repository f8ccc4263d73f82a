"""Service tickets, their messages and status log, business calendars and SLA policies.

A ticket keeps its SLA clocks as plain columns: the due instants, and for the
resolution clock the business minutes consumed so far plus the instant it last
started running (NULL while paused in waiting-on-customer / on-hold). A policy
change replaces the targets and keeps the consumed minutes.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.common.models import TimeStampedModel
from valuecrm.customers.visibility import AboutCustomerQuerySet


class Channel(models.TextChoices):
    EMAIL = "email", pgettext_lazy("channel", "E-mail")
    WEB = "web", _("Web form")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    SOCIAL = "social", _("Social")
    API = "api", _("API")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TicketStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("ticket status", "New")
    OPEN = "open", pgettext_lazy("ticket status", "Open")
    WAITING = "waiting", _("Waiting on customer")
    ON_HOLD = "on_hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


# The resolution clock stops in these; the first- and next-response clocks never pause.
PAUSED_STATUSES = (TicketStatus.WAITING, TicketStatus.ON_HOLD)
DONE_STATUSES = (TicketStatus.SOLVED, TicketStatus.CLOSED)
ACTIVE_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING, TicketStatus.ON_HOLD)


class BusinessCalendar(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    # [{"weekday": 0-6, "start": "09:00", "end": "18:00"}, …]; 0 = Monday.
    hours = models.JSONField(_("weekly hours"), default=list)
    holidays = models.CharField(_("public holidays"), max_length=8, blank=True, default="")  # "CN" or ""
    closures = models.JSONField(_("closures"), default=list, blank=True)  # ["2026-06-01", …]

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SlaPolicy(TimeStampedModel):
    """Targets for a priority and (optionally) a value tier; tier blank = any tier."""

    name = models.CharField(_("name"), max_length=100)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies",
                                 verbose_name=_("calendar"))
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices)
    tier = models.CharField(_("value tier"), max_length=1, blank=True, default="")
    first_response_minutes = models.PositiveIntegerField(_("first response (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (business minutes)"))
    # Empty: no next-response target (the clock is not kept).
    next_response_minutes = models.PositiveIntegerField(_("next response (business minutes)"), null=True,
                                                        blank=True)
    # Escalation: to the team lead when a clock reaches this share of its target (90 or 100 =
    # on breach; 0 = never), then to the manager this many business minutes after the breach
    # (NULL = never; 0 = at the breach too).
    escalate_lead_at = models.PositiveSmallIntegerField(_("escalate to the team lead at (%)"), default=100)
    escalate_manager_after = models.PositiveIntegerField(
        _("escalate to the manager after the breach (business minutes)"), null=True, blank=True)

    class Meta:
        ordering = ["priority", "tier", "id"]
        constraints = [models.UniqueConstraint(fields=["priority", "tier"], name="sla_policy_priority_tier")]

    def __str__(self):
        return self.name


class TicketQuerySet(AboutCustomerQuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)


class Ticket(TimeStampedModel):
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="tickets",
                                 verbose_name=_("customer"))
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.WEB)
    category = models.CharField(_("category"), max_length=60, blank=True, default="")
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=8, choices=TicketStatus.choices, default=TicketStatus.NEW)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_tickets", verbose_name=_("assignee"))
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="tickets", verbose_name=_("team"))
    is_complaint = models.BooleanField(_("complaint"), default=False)
    tags = models.JSONField(_("tags"), default=list, blank=True)  # lower-case words
    order = models.ForeignKey("sales.Order", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="tickets", verbose_name=_("order"))
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # Queue order: tier-A and at-risk customers first (the reason is shown in the queue).
    queue_rank = models.PositiveSmallIntegerField(default=0)
    queue_reason = models.CharField(max_length=20, blank=True, default="")  # "tier_a", "at_risk"
    # SLA clocks.
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="tickets")
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolution_consumed = models.PositiveIntegerField(default=0)  # business minutes
    resolution_running_since = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    # Next response: runs from the customer's first message after an agent's public reply
    # to the next public reply; NULL while no such message waits for an answer.
    next_response_started_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    # The highest warning sent for the running clock: 0, 75, 90 or 100 (breached);
    # the next-response clock has its own, reset each time that clock starts again.
    sla_alert_level = models.PositiveSmallIntegerField(default=0)
    next_response_alert_level = models.PositiveSmallIntegerField(default=0)
    # Next-response clocks started and breached over the ticket's life (the KPIs count them;
    # the clock's own columns reset each time it starts again).
    next_response_started = models.PositiveSmallIntegerField(default=0)
    next_response_breaches = models.PositiveSmallIntegerField(default=0)
    # The highest escalation made: 0 none, 1 team lead, 2 manager (TicketEscalation holds each).
    escalation_level = models.PositiveSmallIntegerField(default=0)

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["status", "queue_rank", "opened_at"]),
            models.Index(fields=["customer", "opened_at"]),
            models.Index(fields=["assignee", "status"]),
        ]

    def __str__(self):
        return f"#{self.pk} {self.subject}"

    @property
    def is_paused(self) -> bool:
        return self.status in PAUSED_STATUSES


class RoutingMode(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round-robin")
    LEAST_OPEN = "least_open", _("Least open tickets")
    SKILLS = "skills", _("Skills (ticket category)")


class ServiceTeam(models.Model):
    """A team's service settings: how its tickets are routed, who they escalate to."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="service",
                                verbose_name=_("team"))
    routing = models.CharField(_("routing"), max_length=12, choices=RoutingMode.choices,
                               default=RoutingMode.LEAST_OPEN)
    # Tier-A and at-risk customers' tickets jump this team's queue.
    queue_boost = models.BooleanField(_("tier-A and at-risk customers first"), default=True)
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", verbose_name=_("team lead"))
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("manager"))
    # Round-robin: the agent who got the last ticket (the next goes to the one after).
    last_assigned = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["team__name"]


class AgentProfile(models.Model):
    """What routing knows of an agent: skills (matched to ticket categories), working calendar
    and an out-of-office span."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    skills = models.JSONField(_("skills"), default=list, blank=True)  # lower-case category names
    calendar = models.ForeignKey(BusinessCalendar, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("working hours"))
    away_from = models.DateTimeField(_("out of office from"), null=True, blank=True)
    away_until = models.DateTimeField(_("out of office until"), null=True, blank=True)

    def is_away(self, now) -> bool:
        return (self.away_until is not None and now < self.away_until
                and (self.away_from is None or self.away_from <= now))


class EscalationLevel(models.IntegerChoices):
    LEAD = 1, _("Team lead")
    MANAGER = 2, _("Manager")


class TicketEscalation(models.Model):
    """One escalation of a ticket to one person at one level (never twice), with the task it gave them."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField(choices=EscalationLevel.choices)
    target = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    clock = models.CharField(max_length=16)  # "first_response", "next_response" or "resolution"
    percent = models.PositiveSmallIntegerField()  # consumed share of the target when escalated
    task = models.ForeignKey("customers.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["ticket", "target", "level"],
                                               name="ticket_escalation_once")]


class MessageKind(models.TextChoices):
    REPLY = "reply", _("Public reply")
    NOTE = "note", _("Internal note")
    INBOUND = "inbound", _("Customer message")


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=8, choices=MessageKind.choices)
    body = models.TextField(_("message"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The e-mail Message-ID this message was sent or received with: replies thread on it.
    message_id = models.CharField(max_length=255, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["created_at", "id"]


class TicketAttachment(models.Model):
    """A file on a ticket (with the message it came with, if any), stored under the data dir
    at `path` (relative to the attachments root); downloads check the ticket's visibility."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(TicketMessage, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="attachments")
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=200, unique=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class TicketStatusChange(models.Model):
    """Every status change, with who made it: the ticket's audit trail."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=8, choices=TicketStatus.choices, blank=True, default="")
    to_status = models.CharField(max_length=8, choices=TicketStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]


class SurveyKind(models.TextChoices):
    CSAT = "csat", _("CSAT (1–5)")
    NPS = "nps", _("NPS (0–10)")


class Survey(TimeStampedModel):
    """One survey sent to one customer; answered once through its signed link."""

    kind = models.CharField(_("kind"), max_length=4, choices=SurveyKind.choices)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="surveys",
                                 verbose_name=_("customer"))
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys")
    # Who is being rated (the ticket's assignee): they may never answer it themselves.
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    language = models.CharField(max_length=10, default="zh-hans")
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")

    objects = AboutCustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["customer", "sent_at"])]


class SourceKind(models.TextChoices):
    TICKET = "ticket", _("Ticket description")
    MESSAGE = "message", _("Customer message")
    SURVEY = "survey", _("Survey comment")


class Sentiment(models.TextChoices):
    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")
    UNSCORED = "unscored", _("Not scored")


class TextAnalysis(models.Model):
    """The stored analysis of one customer-written text: a ticket's description, a customer
    message on a ticket, or a survey comment. Exactly one of the three source links is set;
    a text is analysed again when its model version changes."""

    kind = models.CharField(_("source"), max_length=8, choices=SourceKind.choices)
    ticket = models.OneToOneField(Ticket, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="analysis")
    message = models.OneToOneField(TicketMessage, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="analysis")
    survey = models.OneToOneField(Survey, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="analysis")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="text_analyses",
                                 verbose_name=_("customer"))
    written_at = models.DateTimeField(_("written at"))
    # "YYYY-MM" of written_at in the site's time zone: the topics trend groups on it in SQL.
    month = models.CharField(max_length=7)
    language = models.CharField(_("language"), max_length=2)  # "zh" or "en"
    sentiment = models.FloatField(_("sentiment"), null=True, blank=True)  # P(positive); NULL = not scored
    label = models.CharField(_("sentiment"), max_length=8, choices=Sentiment.choices)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    topic = models.CharField(_("topic"), max_length=40, blank=True, default="")
    model_version = models.CharField(max_length=40)
    analysed_at = models.DateTimeField(default=timezone.now)

    objects = AboutCustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-written_at", "-id"]
        indexes = [
            # Covers the topics page's GROUP BY (topic, label, month) over a period.
            models.Index(fields=["written_at", "topic", "label", "month"], name="text_analysis_topics"),
            models.Index(fields=["topic", "written_at"]),
            models.Index(fields=["customer", "written_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="text_analysis_one_source",
                condition=(models.Q(kind="ticket", ticket__isnull=False, message__isnull=True, survey__isnull=True)
                           | models.Q(kind="message", ticket__isnull=True, message__isnull=False,
                                      survey__isnull=True)
                           | models.Q(kind="survey", ticket__isnull=True, message__isnull=True,
                                      survey__isnull=False))),
            models.CheckConstraint(name="text_analysis_sentiment_range",
                                   condition=models.Q(sentiment__isnull=True)
                                   | models.Q(sentiment__gte=0, sentiment__lte=1)),
        ]

    @property
    def text(self) -> str:
        if self.ticket_id:
            return self.ticket.description
        return self.message.body if self.message_id else self.survey.comment

    @property
    def about_ticket(self) -> Ticket | None:
        """The ticket the text belongs to (a survey's is the rated ticket, if any)."""
        if self.ticket_id:
            return self.ticket
        return self.message.ticket if self.message_id else self.survey.ticket
