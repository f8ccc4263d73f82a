"""API v1 shapes for tickets, replies, business calendars, SLA policies and KPIs."""

from datetime import date, datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import StrictBool

from valuecrm.common.schemas import Day, Id, Moment, Text, choices_literal
from valuecrm.service.models import Channel, MessageKind, Priority, TicketStatus

ChannelValue = choices_literal(Channel)
PriorityValue = choices_literal(Priority)
StatusValue = choices_literal(TicketStatus)
Tag = Annotated[Text, Field(min_length=1, max_length=40)]
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$", examples=["09:00"])]


class TicketIn(Schema):
    customer_id: Id
    subject: Annotated[Text, Field(min_length=1, max_length=200)]
    description: Annotated[Text, Field(max_length=20000)] = ""
    channel: ChannelValue = Channel.API.value
    category: Annotated[Text, Field(max_length=60)] = ""
    priority: PriorityValue = Priority.NORMAL.value
    status: StatusValue = TicketStatus.NEW.value
    assignee_id: Id | None = Field(None, description="Empty: routed by the team's routing setting "
                                                    "(else to the least busy agent).")
    team_id: Id | None = Field(None, description="The service team; empty: the assignee's team.")
    tags: list[Tag] = Field(default_factory=list, max_length=20, description="Stored lower-case, de-duplicated.")
    is_complaint: StrictBool = False
    order_id: Id | None = None
    opened_at: Moment | None = Field(None, description="Defaults to now; set it when migrating history.")


class TicketPatch(Schema):
    subject: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[Text, Field(max_length=20000)] | None = None
    channel: ChannelValue | None = None
    category: Annotated[Text, Field(max_length=60)] | None = None
    priority: PriorityValue | None = None
    status: StatusValue | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    tags: list[Tag] | None = Field(None, max_length=20)
    is_complaint: StrictBool | None = None


TICKET_PATCH_NOT_NULL = ("subject", "description", "channel", "category", "priority", "status", "is_complaint",
                         "tags")


class TicketOut(Schema):
    id: int
    customer_id: int
    subject: str
    description: str
    channel: str
    category: str
    priority: str
    status: str
    assignee_id: int | None
    team_id: int | None
    tags: list[str]
    is_complaint: bool
    order_id: int | None
    opened_at: datetime
    queue_reason: str
    escalation_level: int = Field(..., description="0 none, 1 escalated to the team lead, 2 to the manager")
    sla_policy_id: int | None
    first_response_due_at: datetime | None
    first_responded_at: datetime | None
    resolution_due_at: datetime | None
    next_response_due_at: datetime | None
    resolution_consumed_minutes: int = Field(..., alias="resolution_consumed")
    solved_at: datetime | None


class TicketPage(Schema):
    items: list[TicketOut]


class ReplyIn(Schema):
    body: Annotated[Text, Field(min_length=1, max_length=20000)]
    kind: Literal["reply", "note"] = MessageKind.REPLY.value


class MessageOut(Schema):
    id: int
    ticket_id: int
    kind: str
    body: str
    author_id: int | None
    created_at: datetime
    message_id: str


class HoursRow(Schema):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    start: Clock
    end: Clock


class CalendarIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    timezone: Annotated[Text, Field(max_length=64)] = "Asia/Shanghai"
    hours: list[HoursRow] = Field(default_factory=list, max_length=70)
    holidays: Literal["CN"] | None = None
    closures: list[Day] = Field(default_factory=list, max_length=1000)


class CalendarOut(Schema):
    id: int
    name: str
    timezone: str
    hours: list[HoursRow]
    holidays: Literal["CN"] | None
    closures: list[date]

    @staticmethod
    def resolve_holidays(obj):
        return obj.holidays or None


class PolicyIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    calendar_id: Id
    priority: PriorityValue
    tier: Literal["A", "B", "C", "N"] | None = Field(None, description="Empty: any tier.")
    first_response_minutes: Annotated[int, Field(ge=1, le=525600)]
    resolution_minutes: Annotated[int, Field(ge=1, le=525600)]
    next_response_minutes: Annotated[int, Field(ge=1, le=525600)] | None = Field(
        None, description="Business minutes from a customer's message after an agent reply to the next reply; "
                          "empty: no target.")
    escalate_lead_at: Literal[0, 90, 100] = Field(
        100, description="Escalate to the team lead at this % of a clock's target (100 = on breach, 0 = never).")
    escalate_manager_after: Annotated[int, Field(ge=0, le=525600)] | None = Field(
        None, description="Escalate to the manager this many business minutes after a breach; empty: never.")


class PolicyOut(Schema):
    id: int
    name: str
    calendar_id: int
    priority: str
    tier: str | None
    first_response_minutes: int
    resolution_minutes: int
    next_response_minutes: int | None
    escalate_lead_at: int
    escalate_manager_after: int | None

    @staticmethod
    def resolve_tier(obj):
        return obj.tier or None


class Quantiles(Schema):
    p50: float | None
    p90: float | None
    n: int


class Share(Schema):
    value: float | None
    low: float | None
    high: float | None
    n: int


class PolicyCompliance(Schema):
    policy_id: int
    name: str
    met: int
    n: int
    compliance: float | None


class Nps(Schema):
    value: float | None = Field(..., description="% promoters (9–10) − % detractors (0–6)")
    low: float | None
    high: float | None
    n: int


class SurveyOut(Schema):
    id: int
    kind: str
    customer_id: int
    ticket_id: int | None
    agent_id: int | None
    language: str
    sent_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    score: int | None
    comment: str


class SurveyPage(Schema):
    items: list[SurveyOut]


class NextResponseKpi(Schema):
    started: int = Field(..., description="Next-response clocks started (a customer wrote after an agent's reply)")
    breached: int
    tickets_breached: int
    compliance: Share = Field(..., description="Share of those clocks not breached, with its 95 % Wilson interval")


class KpisOut(Schema):
    period: str
    csat: Share = Field(..., description="Share of CSAT answers 4–5, with its 95 % Wilson interval")
    nps: Nps
    tickets: int
    open: int
    first_response_minutes: Quantiles
    resolution_minutes: Quantiles
    sla_compliance: Share
    next_response: NextResponseKpi
    sla_by_policy: list[PolicyCompliance]


class TopicOut(Schema):
    topic: str = Field(..., description='The topic word; "" for texts matching no topic word (other)')
    count: int
    share: float
    scored: int = Field(..., description="Texts with a sentiment (English texts are not scored)")
    negative: int
    share_negative: float | None
    by_month: list[int] = Field(..., description="Texts per month, aligned with `months`")


class TopicsOut(Schema):
    months: list[str]
    total: int
    topics: list[TopicOut]


RoutingValue = Literal["round_robin", "least_open", "skills"]


class ServiceTeamIn(Schema):
    routing: RoutingValue = "least_open"
    queue_boost: StrictBool = Field(True, description="Tier-A and at-risk customers' tickets first.")
    lead_id: Id | None = Field(None, description="Escalation level 1.")
    manager_id: Id | None = Field(None, description="Escalation level 2.")


class ServiceTeamOut(Schema):
    team_id: int
    team_name: str = Field(..., alias="team.name")
    routing: str
    queue_boost: bool
    lead_id: int | None
    manager_id: int | None


class AgentProfileIn(Schema):
    skills: list[Annotated[Text, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=30, description="Matched (case-insensitively) to ticket categories.")
    calendar_id: Id | None = Field(None, description="Working hours; empty: always on.")
    away_from: Moment | None = None
    away_until: Moment | None = Field(None, description="Out of office until; routing skips the agent.")


class AgentProfileOut(Schema):
    user_id: int
    skills: list[str]
    calendar_id: int | None
    away_from: datetime | None
    away_until: datetime | None


class EscalationOut(Schema):
    id: int
    level: int = Field(..., description="1 team lead, 2 manager")
    target_id: int
    clock: str
    percent: int
    task_id: int | None
    at: datetime


class AttachmentOut(Schema):
    id: int
    ticket_id: int
    message_id: int | None
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    url: str = Field(..., description="The permission-checked download (signed-in session)")

    @staticmethod
    def resolve_url(obj):
        from django.urls import reverse

        return reverse("ticket-attachment", args=[obj.pk])
