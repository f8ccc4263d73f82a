"""A rule's definition: validation of trigger, conditions and actions, and condition tests.

Conditions come in two kinds, in one list:
- ``{"filter": "tier", "value": "A"}`` — a customer-list filter (customers.filters),
  so a rule's audience means exactly what the list shows for the same chips;
- ``{"field": "to_stage", "op": "eq", "value": "at_risk"}`` — a test on the
  triggering event's own fields (``changed_fields contains owner_id``,
  ``churn_risk gte 0.6``).
"""

from __future__ import annotations

import re
from dataclasses import fields as dataclass_fields

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common import events
from valuecrm.common.actions import action_class
from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.filters import filter_specs, parse_filters

MAX_CONDITIONS = 20
MAX_ACTIONS = 10
OPS = {
    "eq": gettext_lazy("is"), "ne": gettext_lazy("is not"), "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
    "in": gettext_lazy("is one of"), "contains": gettext_lazy("contains"),
}
DATE_FIELDS = {
    "birthday": gettext_lazy("Birthday (every year)"),
    "last_order": gettext_lazy("Last order"),
    "created": gettext_lazy("Customer created"),
}
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def event_fields(name: str) -> list[str]:
    cls = events.EVENT_TYPES.get(name)
    return [] if cls is None else [f.name for f in dataclass_fields(cls)]


def clean_cron(expr: str) -> str:
    """Five fields (minute hour day month weekday); raises ValueError naming the problem."""
    from huey import crontab

    parts = (expr or "").split()
    if len(parts) != 5:
        raise ValueError(_("Enter five fields: minute hour day month weekday."))
    try:
        crontab(*parts)
    except (ValueError, TypeError) as exc:
        raise ValueError(_("Not a valid schedule: %(error)s") % {"error": exc}) from exc
    return " ".join(parts)


def _clean_trigger(trigger, errors: dict) -> dict:
    if not isinstance(trigger, dict) or len(trigger) != 1 or not ({"event", "schedule"} & set(trigger)):
        errors["trigger"] = [_('Give either {"event": name} or {"schedule": {...}}.')]
        return {}
    if "event" in trigger:
        name = trigger["event"]
        if not isinstance(name, str) or name not in events.EVENT_TYPES:
            errors["trigger.event"] = [_("Unknown event.")]
            return {}
        return {"event": name}
    schedule = trigger["schedule"]
    if not isinstance(schedule, dict):
        errors["trigger.schedule"] = [_("Give a cron expression or a date field.")]
        return {}
    if "cron" in schedule:
        try:
            return {"schedule": {"cron": clean_cron(str(schedule["cron"]))}}
        except ValueError as exc:
            errors["trigger.schedule.cron"] = [str(exc)]
            return {}
    if "festival" in schedule:
        from valuecrm.automation.festivals import BY_KEY

        key = schedule["festival"]
        if not isinstance(key, str) or key not in BY_KEY:
            errors["trigger.schedule.festival"] = [_("Unknown festival.")]
            return {}
        at = str(schedule.get("at") or "10:00")
        if not _TIME.match(at):
            errors["trigger.schedule.at"] = [_("Enter a time as HH:MM.")]
            return {}
        return {"schedule": {"festival": key, "at": at}}
    field = schedule.get("date_field")
    if field not in DATE_FIELDS:
        errors["trigger.schedule.date_field"] = [_("Choose birthday, last_order or created.")]
        return {}
    try:
        offset = int(schedule.get("offset_days", 0))
    except (TypeError, ValueError, OverflowError):
        errors["trigger.schedule.offset_days"] = [_("Enter a whole number.")]
        return {}
    if not -366 <= offset <= 3650:
        errors["trigger.schedule.offset_days"] = [_("Enter between -366 and 3650 days.")]
        return {}
    at = str(schedule.get("at") or "09:00")
    if not _TIME.match(at):
        errors["trigger.schedule.at"] = [_("Enter a time as HH:MM.")]
        return {}
    return {"schedule": {"date_field": field, "offset_days": offset, "at": at}}


def _clean_conditions(conditions, event_name: str | None, user, errors: dict) -> list[dict]:
    if conditions in (None, ""):
        return []
    if not isinstance(conditions, list):
        errors["conditions"] = [_("Give a list of conditions.")]
        return []
    if len(conditions) > MAX_CONDITIONS:
        errors["conditions"] = [_("At most %(n)s conditions.") % {"n": MAX_CONDITIONS}]
        return []
    specs = filter_specs()
    known_fields = event_fields(event_name) if event_name else []
    out = []
    for i, cond in enumerate(conditions):
        key = f"conditions.{i}"
        if not isinstance(cond, dict):
            errors[key] = [_("Give an object.")]
            continue
        if "filter" in cond:
            raw = "" if cond.get("value") is None else str(cond.get("value"))
            _active, problems = parse_filters({str(cond["filter"]): raw}, user=user, specs=specs)
            if problems:
                errors[f"{key}.filter" if str(cond["filter"]) not in specs else f"{key}.value"] = \
                    next(iter(problems.values()))
            elif not raw.strip():
                errors[f"{key}.value"] = [_("Enter a value.")]
            else:
                out.append({"filter": str(cond["filter"]), "value": raw})
        elif "field" in cond:
            field, op = cond.get("field"), cond.get("op", "eq")
            if event_name is None:
                errors[f"{key}.field"] = [_("A scheduled rule has no event fields; use list filters.")]
            elif field not in known_fields:
                errors[f"{key}.field"] = [_("%(event)s has no field %(field)s.") % {
                    "event": event_name, "field": field}]
            elif op not in OPS:
                errors[f"{key}.op"] = [_("Unknown operator.")]
            elif "value" not in cond or cond["value"] in (None, ""):
                errors[f"{key}.value"] = [_("Enter a value.")]
            elif op in {"gt", "gte", "lt", "lte"} and _number(cond["value"]) is None:
                errors[f"{key}.value"] = [_("Enter a number.")]
            elif len(str(cond["value"])) > 200:
                errors[f"{key}.value"] = [_("Enter at most 200 characters.")]
            else:
                value = cond["value"]
                if op == "in" and isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                out.append({"field": field, "op": op, "value": value})
        else:
            errors[key] = [_('Give "filter" (a list filter) or "field" (an event field).')]
    return out


def _clean_actions(actions, errors: dict) -> list[dict]:
    if not isinstance(actions, list) or not actions:
        errors["actions"] = [_("Add at least one action.")]
        return []
    if len(actions) > MAX_ACTIONS:
        errors["actions"] = [_("At most %(n)s actions.") % {"n": MAX_ACTIONS}]
        return []
    out = []
    for i, config in enumerate(actions):
        if not isinstance(config, dict):
            errors[f"actions.{i}"] = [_("Give an object.")]
            continue
        cls = action_class(str(config.get("type", "")))
        if cls is None:
            errors[f"actions.{i}.type"] = [_("Unknown action.")]
            continue
        try:
            out.append({"type": cls.type, **cls.clean(config)})
        except ValidationFailed as exc:
            for param, msgs in exc.errors.items():
                errors[f"actions.{i}.{param}"] = msgs
    return out


def clean_rule(data: dict, *, user, partial_of=None) -> dict:
    """Validated rule fields from API/page input. With ``partial_of`` (a Rule), missing
    keys keep that rule's values. Raises ValidationFailed with errors by field path."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("Validation failed"), errors={"body": [_("Give an object.")]})
    base = {} if partial_of is None else {
        "name": partial_of.name, "description": partial_of.description, "enabled": partial_of.enabled,
        "trigger": partial_of.trigger, "conditions": partial_of.conditions, "actions": partial_of.actions,
        "max_runs_per_hour": partial_of.max_runs_per_hour}
    merged = {**base, **data}
    errors: dict[str, list[str]] = {}
    unknown = set(data) - {"name", "description", "enabled", "trigger", "conditions", "actions",
                           "max_runs_per_hour"}
    for key in sorted(unknown):
        errors[key] = [_("Unknown field.")]
    name = merged.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = [_("This field is required.")]
    elif len(name) > 100 or "\x00" in name:
        errors["name"] = [_("Enter at most 100 characters.")]
    description = merged.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000 or "\x00" in description:
        errors["description"] = [_("Enter at most 2000 characters.")]
    enabled = merged.get("enabled", False)
    if not isinstance(enabled, bool):
        errors["enabled"] = [_("Enter true or false.")]
    limit = merged.get("max_runs_per_hour", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
        errors["max_runs_per_hour"] = [_("Enter a whole number from 1 to 1000000.")]
    trigger = _clean_trigger(merged.get("trigger"), errors)
    event_name = trigger.get("event") if trigger else None
    conditions = _clean_conditions(merged.get("conditions"), event_name if "schedule" not in trigger else None,
                                   user, errors) if trigger else []
    actions = _clean_actions(merged.get("actions"), errors)
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    return {"name": name.strip(), "description": description, "enabled": enabled, "trigger": trigger,
            "trigger_event": event_name or "", "conditions": conditions, "actions": actions,
            "max_runs_per_hour": limit}


# ---------------------------------------------------------------- evaluating

def _number(value):
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def event_condition_holds(cond: dict, payload: dict) -> bool:
    actual, op, expected = payload.get(cond["field"]), cond["op"], cond["value"]
    if op == "contains":
        return isinstance(actual, (list, tuple)) and str(expected) in [str(a) for a in actual]
    if op == "in":
        options = expected if isinstance(expected, list) else [expected]
        return str(actual) in [str(o) for o in options]
    if op in {"gt", "gte", "lt", "lte"}:
        a, b = _number(actual), _number(expected)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    a, b = _number(actual), _number(expected)
    same = (a == b) if a is not None and b is not None else str("" if actual is None else actual) == str(expected)
    return same if op == "eq" else not same


def audience_filters(rule) -> dict[str, str]:
    return {c["filter"]: c["value"] for c in rule.conditions if "filter" in c}


def event_conditions(rule) -> list[dict]:
    return [c for c in rule.conditions if "field" in c]


def condition_text(cond: dict) -> str:
    if "filter" in cond:
        spec = filter_specs().get(cond["filter"])
        return f"{spec.label if spec else cond['filter']}: {cond['value']}"
    return f"{cond['field']} {OPS.get(cond['op'], cond['op'])} {cond['value']}"
