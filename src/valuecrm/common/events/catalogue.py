"""The domain events: one frozen dataclass per business fact, named `<record>.<verb>`.

An event carries ids and the few values a rule may test (a stage, a tag, a
changed field's name), never a copy of the record: subscribers read the record
fresh, so a payload can never disagree with what is stored. Apps above the
customers layer (deals, service, marketing, …) declare their own events the same
way, in their own `events.py`; subclassing `Event` registers the name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import ClassVar

EVENT_TYPES: dict[str, type[Event]] = {}
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_SCALARS = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True, kw_only=True)
class Event:
    name: ClassVar[str] = ""
    # The customer the event is about, when there is one: automation rules and
    # the timeline select on it without parsing each payload.
    customer_id: int | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.name or "." not in cls.name:
            raise TypeError(f"{cls.__name__} needs a dotted name")
        if cls.name in EVENT_TYPES and EVENT_TYPES[cls.name] is not cls:
            raise TypeError(f"event name {cls.name!r} is taken by {EVENT_TYPES[cls.name].__name__}")
        EVENT_TYPES[cls.name] = cls

    def payload(self) -> dict:
        # What dataclasses.asdict gives for these flat events (ids, strings, tuples), without
        # its recursive deep copy — a bulk action serialises one payload per record.
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))
        out = {key: getattr(self, key) for key in names}
        for v in out.values():
            kind = type(v)
            if kind in _SCALARS or (kind is tuple and all(type(x) in _SCALARS for x in v)):
                continue  # the common case, decided by type alone
            if isinstance(v, (dict, list, set)) or is_dataclass(v) or (isinstance(v, tuple) and any(
                    isinstance(x, (dict, list, set, tuple)) or is_dataclass(x) for x in v)):
                return asdict(self)
        return out

    @classmethod
    def from_payload(cls, payload: dict) -> Event:
        known = _FIELD_NAMES.get(cls)
        if known is None:
            known = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
        # Lists come back from JSON where tuples went in; tuples keep events hashable.
        return cls(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in payload.items() if k in known})


# ---------------------------------------------------------------- customers

@dataclass(frozen=True, kw_only=True)
class CustomerCreated(Event):
    name: ClassVar[str] = "customer.created"


@dataclass(frozen=True, kw_only=True)
class CustomerUpdated(Event):
    name: ClassVar[str] = "customer.updated"
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CustomerDeleted(Event):
    name: ClassVar[str] = "customer.deleted"


@dataclass(frozen=True, kw_only=True)
class CustomerArchived(Event):
    name: ClassVar[str] = "customer.archived"


@dataclass(frozen=True, kw_only=True)
class CustomerUnarchived(Event):
    name: ClassVar[str] = "customer.unarchived"


@dataclass(frozen=True, kw_only=True)
class CustomerMerged(Event):
    """`customer_id` is the survivor."""

    name: ClassVar[str] = "customer.merged"
    merge_id: int
    merged_id: int


@dataclass(frozen=True, kw_only=True)
class CustomerOwnerChanged(Event):
    name: ClassVar[str] = "customer.owner_changed"
    from_owner_id: int | None
    to_owner_id: int | None


@dataclass(frozen=True, kw_only=True)
class CustomerTagged(Event):
    name: ClassVar[str] = "customer.tagged"
    tags: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class CustomerUntagged(Event):
    name: ClassVar[str] = "customer.untagged"
    tags: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class CustomersBulkChanged(Event):
    """One event for a bulk action, beside the per-customer events it caused."""

    name: ClassVar[str] = "customers.bulk_changed"
    action: str  # "tag", "untag", "assign"
    count: int


@dataclass(frozen=True, kw_only=True)
class ContactPointAdded(Event):
    name: ClassVar[str] = "contact_point.added"
    contact_point_id: int
    kind: str


@dataclass(frozen=True, kw_only=True)
class ContactPointDeleted(Event):
    name: ClassVar[str] = "contact_point.deleted"
    contact_point_id: int
    kind: str


# ---------------------------------------------------------------- timeline

@dataclass(frozen=True, kw_only=True)
class InteractionLogged(Event):
    name: ClassVar[str] = "interaction.logged"
    interaction_id: int
    kind: str


@dataclass(frozen=True, kw_only=True)
class InteractionUpdated(Event):
    name: ClassVar[str] = "interaction.updated"
    interaction_id: int


@dataclass(frozen=True, kw_only=True)
class InteractionDeleted(Event):
    name: ClassVar[str] = "interaction.deleted"
    interaction_id: int


@dataclass(frozen=True, kw_only=True)
class NoteAdded(Event):
    name: ClassVar[str] = "note.added"
    note_id: int


@dataclass(frozen=True, kw_only=True)
class TaskCreated(Event):
    name: ClassVar[str] = "task.created"
    task_id: int
    assignee_id: int | None


@dataclass(frozen=True, kw_only=True)
class TaskUpdated(Event):
    name: ClassVar[str] = "task.updated"
    task_id: int
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TaskCompleted(Event):
    name: ClassVar[str] = "task.completed"
    task_id: int


@dataclass(frozen=True, kw_only=True)
class TaskDeleted(Event):
    name: ClassVar[str] = "task.deleted"
    task_id: int


# ---------------------------------------------------------------- orders and products

@dataclass(frozen=True, kw_only=True)
class OrderCreated(Event):
    name: ClassVar[str] = "order.created"
    order_id: int
    status: str
    total: str  # decimal as text: JSON floats would round money


@dataclass(frozen=True, kw_only=True)
class OrderStatusChanged(Event):
    name: ClassVar[str] = "order.status_changed"
    order_id: int
    from_status: str
    to_status: str


@dataclass(frozen=True, kw_only=True)
class ProductChanged(Event):
    name: ClassVar[str] = "product.changed"
    product_id: int
    action: str  # "created", "updated", "deleted"


# ---------------------------------------------------------------- value

@dataclass(frozen=True, kw_only=True)
class CustomerStageChanged(Event):
    name: ClassVar[str] = "customer.stage_changed"
    from_stage: str  # "" when first scored
    to_stage: str
    changed_on: str  # ISO date
    run_id: int
    tier: str = ""
    churn_risk: float | None = None


@dataclass(frozen=True, kw_only=True)
class ValueAlertRaised(Event):
    name: ClassVar[str] = "value_alert.raised"
    alert_id: int
    kind: str
    tier: str = ""


@dataclass(frozen=True, kw_only=True)
class ScoreRunFinished(Event):
    name: ClassVar[str] = "score_run.finished"
    run_id: int
    as_of: str
    status: str
    n_customers: int
    n_stage_changes: int = 0


@dataclass(frozen=True, kw_only=True)
class PolicyChanged(Event):
    name: ClassVar[str] = "policy.changed"
    policy: str  # "stages", "tiers", "warnings", "playbook"


# ---------------------------------------------------------------- data in and out

@dataclass(frozen=True, kw_only=True)
class ImportFinished(Event):
    name: ClassVar[str] = "import.finished"
    run_id: int
    kind: str
    status: str
    created: int = 0
    updated: int = 0
    failed: int = 0


@dataclass(frozen=True, kw_only=True)
class ImportUndone(Event):
    name: ClassVar[str] = "import.undone"
    run_id: int


@dataclass(frozen=True, kw_only=True)
class MergeUndone(Event):
    name: ClassVar[str] = "customer.merge_undone"
    merge_id: int
    merged_id: int


# ---------------------------------------------------------------- configuration

@dataclass(frozen=True, kw_only=True)
class ConfigChanged(Event):
    """A setting-like object changed: value policies, the playbook, saved views, webhook
    endpoints, users and API tokens, dismissed duplicate pairs. For audit and webhooks;
    rules rarely key on these."""

    name: ClassVar[str] = "config.changed"
    kind: str  # "policy", "playbook", "saved_view", "webhook_endpoint", "user", "team", "api_token", "duplicate"
    object_id: str
    action: str  # "created", "updated", "deleted", "revoked", "dismissed"


# ---------------------------------------------------------------- automation

@dataclass(frozen=True, kw_only=True)
class AutomationRuleChanged(Event):
    name: ClassVar[str] = "automation_rule.changed"
    rule_id: int
    action: str  # "created", "updated", "deleted", "enabled", "disabled"


@dataclass(frozen=True, kw_only=True)
class AutomationRulePaused(Event):
    """The engine paused a rule that ran too often (its rate limit)."""

    name: ClassVar[str] = "automation_rule.paused"
    rule_id: int
    reason: str


# ---------------------------------------------------------------- service (tickets and SLAs)

@dataclass(frozen=True, kw_only=True)
class TicketCreated(Event):
    name: ClassVar[str] = "ticket.created"
    ticket_id: int
    channel: str
    priority: str
    is_complaint: bool = False


@dataclass(frozen=True, kw_only=True)
class TicketUpdated(Event):
    name: ClassVar[str] = "ticket.updated"
    ticket_id: int
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TicketStatusChanged(Event):
    name: ClassVar[str] = "ticket.status_changed"
    ticket_id: int
    from_status: str
    to_status: str


@dataclass(frozen=True, kw_only=True)
class TicketReplied(Event):
    name: ClassVar[str] = "ticket.replied"
    ticket_id: int
    kind: str  # "reply", "note", "inbound"


@dataclass(frozen=True, kw_only=True)
class TicketSlaWarning(Event):
    name: ClassVar[str] = "ticket.sla_warning"
    ticket_id: int
    clock: str  # "first_response", "next_response" or "resolution"
    percent: int  # 75 or 90


@dataclass(frozen=True, kw_only=True)
class TicketSlaBreached(Event):
    name: ClassVar[str] = "ticket.sla_breached"
    ticket_id: int
    clock: str  # "first_response", "next_response" or "resolution"


@dataclass(frozen=True, kw_only=True)
class SurveySent(Event):
    name: ClassVar[str] = "survey.sent"
    survey_id: int
    kind: str  # "csat" or "nps"


@dataclass(frozen=True, kw_only=True)
class SurveyAnswered(Event):
    """`low` is True for a detractor (NPS 0–6) or a CSAT of 1–2: the closed loop keys on it."""

    name: ClassVar[str] = "survey.answered"
    survey_id: int
    kind: str
    score: int
    low: bool = False


@dataclass(frozen=True, kw_only=True)
class FeedbackAnalysed(Event):
    """A customer-written text (ticket description, customer message, survey comment) was
    analysed: `label` is positive / neutral / negative / unscored."""

    name: ClassVar[str] = "feedback.analysed"
    analysis_id: int
    source: str  # "ticket", "message" or "survey"
    language: str
    label: str
    topic: str = ""


@dataclass(frozen=True, kw_only=True)
class TicketEscalated(Event):
    """A ticket's SLA clock reached its policy's escalation threshold: level 1 = the team
    lead, 2 = the manager; once per ticket × person × level."""

    name: ClassVar[str] = "ticket.escalated"
    ticket_id: int
    escalation_id: int
    level: int
    target_id: int
    clock: str


@dataclass(frozen=True, kw_only=True)
class TicketAttachmentAdded(Event):
    name: ClassVar[str] = "ticket.attachment_added"
    ticket_id: int
    attachment_id: int
    content_type: str
    size: int


# ---------------------------------------------------------------- loyalty (valuecrm.loyalty)

@dataclass(frozen=True, kw_only=True)
class PointsEarned(Event):
    """Points credited: an order's earn (pending in escrow or available), a referral reward,
    a positive manual adjustment or an automation award."""

    name: ClassVar[str] = "loyalty.points_earned"
    entry_id: int
    points: int
    kind: str  # "earn", "release", "referral", "adjust"
    order_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class PointsRedeemed(Event):
    name: ClassVar[str] = "loyalty.points_redeemed"
    entry_id: int
    points: int
    reference: str


@dataclass(frozen=True, kw_only=True)
class PointsDebited(Event):
    """Points taken back: a refund/cancel reversal or a negative manual adjustment."""

    name: ClassVar[str] = "loyalty.points_debited"
    entry_id: int
    points: int
    kind: str  # "reverse", "adjust"
    order_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class PointsExpired(Event):
    name: ClassVar[str] = "loyalty.points_expired"
    entry_id: int
    points: int


@dataclass(frozen=True, kw_only=True)
class TierChanged(Event):
    name: ClassVar[str] = "loyalty.tier_changed"
    from_tier: str
    to_tier: str
    reason: str  # "qualified", "grace_ended", "override"


@dataclass(frozen=True, kw_only=True)
class MemberEnrolled(Event):
    name: ClassVar[str] = "loyalty.member_enrolled"


@dataclass(frozen=True, kw_only=True)
class ReferralRegistered(Event):
    name: ClassVar[str] = "referral.registered"
    referral_id: int
    referrer_customer_id: int


@dataclass(frozen=True, kw_only=True)
class ReferralRewarded(Event):
    name: ClassVar[str] = "referral.rewarded"
    referral_id: int
    referrer_customer_id: int
    order_id: int


@dataclass(frozen=True, kw_only=True)
class PointsEarnedInBulk(Event):
    """The points an order import's orders earned, as one event per chunk of orders (an import
    raises no event per order, so neither does what it earns): ledger rows first_entry_id …
    last_entry_id, and the members the chunk enrolled."""

    name: ClassVar[str] = "loyalty.points_earned_in_bulk"
    run_id: int | None
    orders: int
    entries: int
    points: int
    members_enrolled: int
    first_entry_id: int | None
    last_entry_id: int | None


# ---------------------------------------------------------------- deals (valuecrm.deals: pipelines, 公海 pool)

@dataclass(frozen=True, kw_only=True)
class DealCreated(Event):
    name: ClassVar[str] = "deal.created"
    deal_id: int
    pipeline_id: int
    stage_id: int
    amount: str  # decimal as text


@dataclass(frozen=True, kw_only=True)
class DealUpdated(Event):
    name: ClassVar[str] = "deal.updated"
    deal_id: int
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DealStageChanged(Event):
    name: ClassVar[str] = "deal.stage_changed"
    deal_id: int
    from_stage_id: int
    to_stage_id: int
    to_stage: str


@dataclass(frozen=True, kw_only=True)
class DealWon(Event):
    name: ClassVar[str] = "deal.won"
    deal_id: int
    amount: str


@dataclass(frozen=True, kw_only=True)
class DealLost(Event):
    name: ClassVar[str] = "deal.lost"
    deal_id: int
    lost_reason: str = ""


@dataclass(frozen=True, kw_only=True)
class PoolClaimed(Event):
    name: ClassVar[str] = "pool.claimed"
    user_id: int


@dataclass(frozen=True, kw_only=True)
class PoolReleased(Event):
    name: ClassVar[str] = "pool.released"
    from_owner_id: int | None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class PoolReclaimed(Event):
    name: ClassVar[str] = "pool.reclaimed"
    from_owner_id: int | None
    days_without_follow_up: int


@dataclass(frozen=True, kw_only=True)
class PoolReclaimWarned(Event):
    """A tier-A customer would have been reclaimed: the owner and manager are warned instead."""

    name: ClassVar[str] = "pool.reclaim_warned"
    owner_id: int | None
    days_without_follow_up: int


# ---------------------------------------------------------------- marketing (valuecrm.marketing)
# Segments, templates and campaigns being created/changed/deleted use ConfigChanged with
# kind "segment", "message_template" or "campaign".

@dataclass(frozen=True, kw_only=True)
class CampaignLaunched(Event):
    name: ClassVar[str] = "campaign.launched"
    campaign_id: int
    n_treatment: int
    n_control: int
    n_excluded: int


@dataclass(frozen=True, kw_only=True)
class CampaignEnrolled(Event):
    """One customer joined a launched campaign (the automation action "enrol in campaign")."""

    name: ClassVar[str] = "campaign.enrolled"
    campaign_id: int
    group: str


@dataclass(frozen=True, kw_only=True)
class MessageSent(Event):
    name: ClassVar[str] = "message.sent"
    message_id: int
    campaign_id: int | None = None
    channel: str


@dataclass(frozen=True, kw_only=True)
class MessageOpened(Event):
    name: ClassVar[str] = "message.opened"
    message_id: int
    campaign_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class MessageClicked(Event):
    name: ClassVar[str] = "message.clicked"
    message_id: int
    campaign_id: int | None = None
    url: str


@dataclass(frozen=True, kw_only=True)
class CustomerUnsubscribed(Event):
    name: ClassVar[str] = "customer.unsubscribed"
    channel: str
    message_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class SegmentSnapshotTaken(Event):
    name: ClassVar[str] = "segment.snapshot_taken"
    segment_id: int
    size: int


@dataclass(frozen=True, kw_only=True)
class UpliftModelTrained(Event):
    """A new uplift model version, with its Qini coefficient on the later evaluation campaign."""

    name: ClassVar[str] = "uplift_model.trained"
    model_id: int
    version: int
    evaluation_campaign_id: int
    qini_coefficient: float


@dataclass(frozen=True, kw_only=True)
class CampaignVariantChosen(Event):
    """An A/B campaign's winner, chosen on the test slice; it now goes to the rest."""

    name: ClassVar[str] = "campaign.variant_chosen"
    campaign_id: int
    winner: str
    criterion: str
    significant: bool
    p_value: float | None = None
