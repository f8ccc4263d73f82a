"""API v1: automation rules (CRUD, dry run) and their run log.

The contract later apps and outside tools rely on:
POST /api/v1/automation/rules {"name", "enabled", "trigger": {"event": "customer.updated"} |
{"schedule": {"cron": "0 9 * * *"}} | {"schedule": {"date_field": "birthday", "offset_days": 0,
"at": "09:00"}}, "conditions": [{"filter": "tier", "value": "A"}, {"field": "to_stage", "op": "eq",
"value": "at_risk"}], "actions": [{"type": "add_tag", "tag": "…"}, {"type": "create_task", …}]};
GET /api/v1/automation/runs?rule_id= lists runs with status and event_id.
"""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import field_validator

from valuecrm.automation import selectors, services
from valuecrm.common.actions import action_types
from valuecrm.common.schemas import MAX_ID, ProblemOut

router = Router(tags=["automation"])
ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)

TRIGGER_HELP = ('{"event": "<event name>"} or {"schedule": {"cron": "m h dom mon dow"}} or '
                '{"schedule": {"date_field": "birthday|last_order|created", "offset_days": N, "at": "HH:MM"}} or '
                '{"schedule": {"festival": "spring_festival|lantern|dragon_boat|qixi|mid_autumn|double_ninth|'
                'new_year|national_day|singles_day", "at": "HH:MM"}}')
CONDITIONS_HELP = ('List filters as on the customer list, {"filter": "tier", "value": "A"}, and tests on the '
                   'event\'s own fields, {"field": "to_stage", "op": "eq|ne|gt|gte|lt|lte|in|contains", '
                   '"value": "at_risk"}. All must hold.')
ACTIONS_HELP = ('Ordered actions, each {"type": ..., settings}: see GET /automation/actions for the types '
                'and their settings.')


class RuleIn(Schema):
    name: str = Field(..., max_length=100)
    enabled: bool = False
    description: str = ""
    trigger: dict[str, Any] = Field(..., description=TRIGGER_HELP)
    conditions: list[dict[str, Any]] = Field(default_factory=list, description=CONDITIONS_HELP)
    actions: list[dict[str, Any]] = Field(..., description=ACTIONS_HELP)
    max_runs_per_hour: int = Field(1000, ge=1, le=1_000_000)


class RulePatch(Schema):
    name: str | None = Field(None, max_length=100)
    enabled: bool | None = None
    description: str | None = None
    trigger: dict[str, Any] | None = Field(None, description=TRIGGER_HELP)
    conditions: list[dict[str, Any]] | None = Field(None, description=CONDITIONS_HELP)
    actions: list[dict[str, Any]] | None = Field(None, description=ACTIONS_HELP)
    max_runs_per_hour: int | None = Field(None, ge=1, le=1_000_000)


class RuleOut(Schema):
    id: int
    name: str
    description: str
    enabled: bool
    paused: bool
    paused_reason: str
    paused_at: datetime | None
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    max_runs_per_hour: int
    system_key: str
    created_at: datetime
    updated_at: datetime


class RunOut(Schema):
    id: int
    rule_id: int
    event_id: str = Field(description="The domain event's id (hex), or a scheduled firing's id.")
    event_name: str
    customer_id: int | None
    status: Literal["succeeded", "failed", "skipped", "blocked"]
    reason: str = Field(description="Why it was skipped or blocked, in the site's language.")
    reason_code: str = Field(description="event | audience | depth | chain | rate, or empty.")
    depth: int
    conditions_result: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    error: str
    duration_ms: float
    started_at: datetime

    @staticmethod
    def resolve_event_id(obj):
        return obj.event_id.hex


class RunPage(Schema):
    items: list[RunOut]
    total: int


class DryRunIn(Schema):
    mode: Literal["events", "audience"] = "events"
    limit: int = Field(20, ge=1, le=100)
    rule: RulePatch | None = Field(None, description="Unsaved changes to try instead of the stored rule.")

    @field_validator("rule", mode="before")
    @classmethod
    def _rule_is_an_object(cls, value):
        # ninja's Schema reads attributes from any object, so a list would pass as an
        # all-empty RulePatch: only a JSON object (or null) is a rule.
        if value is not None and not isinstance(value, dict):
            raise ValueError("Send a JSON object.")
        return value


class DryRunItem(Schema):
    event_id: str
    event_name: str
    customer_id: int | None
    customer: str
    matched: bool
    blocked: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]


class DryRunOut(Schema):
    mode: str
    evaluated: int
    matched: int
    duration_ms: float
    items: list[DryRunItem]


class ParamOut(Schema):
    name: str
    label: str
    widget: str
    required: bool


class ActionTypeOut(Schema):
    type: str
    label: str
    params: list[ParamOut]


@router.get("/automation/rules", response={200: list[RuleOut], **ERRORS})
def list_rules(request):
    return list(selectors.rules_for(request.user))


@router.post("/automation/rules", response={201: RuleOut, **ERRORS})
def create_rule(request, payload: RuleIn):
    return Status(201, services.rule_create(actor=request.user, data=payload.model_dump()))


@router.get("/automation/rules/{rule_id}", response={200: RuleOut, **ERRORS})
def get_rule(request, rule_id: int = PathId):
    return selectors.rule_get(request.user, rule_id)


@router.patch("/automation/rules/{rule_id}", response={200: RuleOut, **ERRORS})
def update_rule(request, payload: RulePatch, rule_id: int = PathId):
    rule = selectors.rule_get(request.user, rule_id)
    return services.rule_update(actor=request.user, rule=rule, data=payload.model_dump(exclude_unset=True))


@router.delete("/automation/rules/{rule_id}", response={204: None, **ERRORS})
def delete_rule(request, rule_id: int = PathId):
    services.rule_delete(actor=request.user, rule=selectors.rule_get(request.user, rule_id))
    return Status(204, None)


@router.post("/automation/rules/{rule_id}/dry-run", response={200: DryRunOut, **ERRORS})
def dry_run_rule(request, payload: DryRunIn, rule_id: int = PathId):
    rule = selectors.rule_get(request.user, rule_id)
    data = payload.rule.model_dump(exclude_unset=True) if payload.rule is not None else None
    return services.rule_dry_run(actor=request.user, rule=rule, data=data, mode=payload.mode, limit=payload.limit)


class RunFilters(Schema):
    rule_id: int | None = Field(None, ge=1, le=MAX_ID)
    status: Literal["succeeded", "failed", "skipped", "blocked"] | None = None
    customer_id: int | None = Field(None, ge=1, le=MAX_ID)
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)


@router.get("/automation/runs", response={200: RunPage, **ERRORS})
def list_runs(request, filters: Query[RunFilters]):
    qs = selectors.runs_for(request.user, rule_id=filters.rule_id, status=filters.status,
                            customer_id=filters.customer_id)
    return {"items": list(qs[filters.offset:filters.offset + filters.limit]), "total": qs.count()}


@router.get("/automation/actions", response={200: list[ActionTypeOut], **ERRORS})
def list_action_types(request):
    selectors.require_automation_reader(request.user)
    return [{"type": cls.type, "label": str(cls.label),
             "params": [{"name": p.name, "label": str(p.label), "widget": p.widget, "required": p.required}
                        for p in cls.params]} for cls in action_types()]


