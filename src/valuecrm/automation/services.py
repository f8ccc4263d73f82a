"""Writes on rules (create, change, switch on/off, delete), the dry run and run retention.

Every write needs `automation.manage`; the dry run too (it reveals the audience).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.automation import facts as facts_module
from valuecrm.automation.engine import Item, audience_ids, opted_out_ids
from valuecrm.automation.models import Rule, Run
from valuecrm.automation.rules import (
    audience_filters,
    clean_rule,
    event_condition_holds,
    event_conditions,
)
from valuecrm.automation.schedules import due_times, scheduled_customers
from valuecrm.common import events
from valuecrm.common.actions import ActionContext, WriteAttempted, action_class, no_writes
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.common.models import OutboxEvent

DRY_RUN_LIMIT = 20


def _require_manager(actor) -> None:
    require(actor, Capability.AUTOMATION_MANAGE)


@transaction.atomic
def rule_create(*, actor, data: dict) -> Rule:
    """Create a rule from API/page input (see rules.clean_rule). Raises ValidationFailed
    (errors by field path, e.g. ``actions.0.title``), PermissionDenied."""
    _require_manager(actor)
    fields = clean_rule(data, user=actor)
    rule = Rule.objects.create(**fields, created_by=actor, updated_by=actor)
    events.emit(events.AutomationRuleChanged(rule_id=rule.pk, action="created"), actor=actor)
    return rule


@transaction.atomic
def rule_update(*, actor, rule: Rule, data: dict) -> Rule:
    """Change the keys present in `data`. Switching a paused rule on again resumes it."""
    _require_manager(actor)
    fresh = Rule.objects.select_for_update().filter(pk=rule.pk).first()
    if fresh is None:
        raise NotFound(_("Rule not found."))
    fields = clean_rule(data, user=actor, partial_of=fresh)
    was_on = fresh.enabled and not fresh.paused
    for key, value in fields.items():
        setattr(fresh, key, value)
    if "enabled" in data and fresh.enabled:
        fresh.paused_at, fresh.paused_reason = None, ""
    if fresh.is_scheduled and fresh.enabled and not was_on:
        fresh.last_fired_at = timezone.now()  # start from now, not from when it was switched off
    fresh.updated_by = actor
    fresh.save()
    events.emit(events.AutomationRuleChanged(rule_id=fresh.pk, action="updated"), actor=actor)
    return fresh


def rule_set_enabled(*, actor, rule: Rule, enabled: bool) -> Rule:
    return rule_update(actor=actor, rule=rule, data={"enabled": bool(enabled)})


@transaction.atomic
def rule_delete(*, actor, rule: Rule) -> None:
    _require_manager(actor)
    if rule.system_key:
        raise Conflict(_("A rule the product ships with can be switched off or edited, not deleted."))
    rule_id = rule.pk
    Rule.objects.filter(pk=rule_id).delete()
    events.emit(events.AutomationRuleChanged(rule_id=rule_id, action="deleted"), actor=actor)


# ---------------------------------------------------------------- dry run

def _recent_items(rule: Rule, limit: int) -> list[Item]:
    rows = (OutboxEvent.objects.filter(name=rule.trigger_event).order_by("-seq")
            .values("event_id", "name", "customer_id", "payload", "depth", "causation_id")[:limit])
    return [Item(event_id=r["event_id"].hex, event_name=r["name"], customer_id=r["customer_id"],
                 payload=r["payload"], depth=r["depth"],
                 causation_id=r["causation_id"].hex if r["causation_id"] else None) for r in rows]


def _audience_items(rule: Rule, limit: int) -> list[Item]:
    now = timezone.localtime()
    if rule.is_scheduled:
        upcoming = due_times(rule, now, now + dt.timedelta(days=1))
        ids = scheduled_customers(rule, upcoming[0] if upcoming else now)
    else:
        from valuecrm.customers.models import Customer

        ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    chosen = sorted(audience_ids(rule, ids))[:limit]
    return [Item(event_id=uuid.uuid4().hex, event_name=rule.trigger_event or "schedule", customer_id=cid,
                 payload={"customer_id": cid}) for cid in chosen]


def rule_dry_run(*, actor, data: dict | None = None, rule: Rule | None = None, mode: str = "events",
                 limit: int = DRY_RUN_LIMIT) -> dict:
    """What the rule would do: against its trigger's most recent events ("events") or the
    customers its list filters select now ("audience"). Changes nothing — every action
    is only planned, under `no_writes()`, which refuses any INSERT/UPDATE/DELETE.

    `data` (unsaved editor input) wins over `rule`. Returns {"mode", "items": [...],
    "matched", "evaluated", "duration_ms"}.
    """
    _require_manager(actor)
    if mode not in ("events", "audience"):
        raise ValidationFailed(_("Validation failed"), errors={"mode": [_("Choose events or audience.")]})
    if data is not None:
        fields = clean_rule(data, user=actor, partial_of=rule)
        probe = Rule(**fields, created_by=actor)
        probe.pk = rule.pk if rule else None
    elif rule is not None:
        probe = rule
    else:
        raise ValidationFailed(_("Validation failed"), errors={"rule": [_("Give a rule.")]})
    if probe.is_scheduled and mode == "events":
        mode = "audience"
    started = time.perf_counter()
    try:
        # A savepoint around it: a refused write leaves the caller's transaction usable.
        with transaction.atomic(), no_writes():
            items = _recent_items(probe, limit) if mode == "events" else _audience_items(probe, limit)
            out = _plan_items(probe, items, check_event=mode == "events")
    except WriteAttempted as exc:
        # An action (or a fact it reads) wrote during plan(): refused, and said so.
        raise Conflict(_("The dry run was stopped: something tried to change data. %(detail)s") % {
            "detail": exc}) from exc
    return {"mode": mode, "items": out, "evaluated": len(out), "matched": sum(1 for i in out if i["matched"]),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


def _plan_items(rule: Rule, items: list[Item], *, check_event: bool = True) -> list[dict]:
    # Against the audience there is no event: its tests are assumed to hold, so the plan
    # shows what would happen to each selected customer when such an event comes.
    tests = event_conditions(rule) if check_event else []
    in_audience = audience_ids(rule, sorted({i.customer_id for i in items if i.customer_id is not None})) \
        if audience_filters(rule) else None
    refusing = opted_out_ids(i.customer_id for i in items if i.customer_id is not None)
    customer_facts = facts_module.customer_facts([i.customer_id for i in items if i.customer_id])
    event_facts = facts_module.event_facts(items)
    out = []
    for item in items:
        checks = [{"condition": c, "ok": event_condition_holds(c, item.payload)} for c in tests]
        if in_audience is not None:
            checks.append({"condition": {"filters": audience_filters(rule)}, "ok": item.customer_id in in_audience})
        if item.customer_id is not None:
            checks.append({"condition": {"automated_decisions": "allowed"},
                           "ok": item.customer_id not in refusing})
        matched = all(c["ok"] for c in checks)
        blocked = item.depth >= 5
        plans = []
        if matched and not blocked:
            ctx = ActionContext(rule_id=rule.pk, rule_name=rule.name, event_name=item.event_name,
                                event_id=item.event_id, customer_id=item.customer_id,
                                facts={**item.payload, **customer_facts.get(item.customer_id, {}),
                                       **event_facts.get(item.event_id, {})})
            for config in rule.actions:
                cls = action_class(config["type"])
                plan = cls({k: v for k, v in config.items() if k != "type"}).plan(ctx)
                plans.append({"type": cls.type, "summary": plan.summary, "changes": plan.changes})
        out.append({"event_id": item.event_id, "event_name": item.event_name, "customer_id": item.customer_id,
                    "customer": customer_facts.get(item.customer_id, {}).get("customer", ""),
                    "matched": matched and not blocked, "conditions": checks,
                    "blocked": _("Loop protection: depth limit") if matched and blocked else "",
                    "actions": plans})
    return out


# ---------------------------------------------------------------- retention

def runs_purge(*, older_than_days: int | None = None) -> int:
    """Delete run-log rows older than the retention (VALUECRM_AUTOMATION_RUN_RETENTION_DAYS)."""
    days = older_than_days if older_than_days is not None else settings.VALUECRM_AUTOMATION_RUN_RETENTION_DAYS
    cutoff = timezone.now() - dt.timedelta(days=days)
    deleted, _rows = Run.objects.filter(started_at__lt=cutoff).delete()
    return deleted
