"""The engine: an outbox subscriber that runs the active rules on each batch of events.

For one batch and one rule, a constant number of queries: the runs already logged
(re-delivery never acts twice: a run is unique per rule and event id), the audience
(the list filters over the batch's customers), the loop guards, the facts, then one
bulk call per action. Loop protection, in this order:
1. causation depth: an event at depth ≥ MAX_DEPTH (five automated generations) is not
   acted on — the run is logged as blocked with the reason;
2. once per chain: a rule acts on a record at most once per causation chain (the
   chain's first event), so A → B → A on the same customer stops at the second A;
3. rate limit: more than the rule's runs per hour pauses it ("paused: too many
   runs") until someone switches it on again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from valuecrm.automation import facts as facts_module
from valuecrm.automation.models import Rule, Run, RunStatus
from valuecrm.automation.rules import audience_filters, event_condition_holds, event_conditions
from valuecrm.common import events
from valuecrm.common.actions import ActionContext, action_class
from valuecrm.common.events.context import ActorKind, Cause, acting, caused_by
from valuecrm.common.events.rows import ids_in
from valuecrm.customers.filters import filters_q, parse_filters
from valuecrm.customers.models import Customer

log = logging.getLogger(__name__)

MAX_DEPTH = 5
CHUNK = 2000

# Customers who refused decisions about them by automated means (PIPL Art. 24). The app
# that keeps that choice (privacy, a layer above) registers a provider from its ready():
# ids in → the refusing ones out. No rule acts on them, and a dry run says so.
OPT_OUT_PROVIDERS: list = []


def register_opt_out_provider(provider) -> None:
    if provider not in OPT_OUT_PROVIDERS:
        OPT_OUT_PROVIDERS.append(provider)


def opted_out_ids(customer_ids) -> set[int]:
    ids = sorted(set(customer_ids))
    out: set[int] = set()
    for provider in OPT_OUT_PROVIDERS:
        for start in range(0, len(ids), CHUNK):
            out.update(provider(ids[start:start + CHUNK]))
    return out
SUBSCRIBER_KEY = "automation"


@dataclass
class Item:
    """One record a rule is evaluated for: an event, or a record at a scheduled time."""

    event_id: str  # hex
    event_name: str
    customer_id: int | None
    payload: dict
    depth: int = 0
    causation_id: str | None = None
    chain_root: str | None = None
    conditions: list = field(default_factory=list)
    status: str = ""
    reason: str = ""
    outcomes: list = field(default_factory=list)
    error: str = ""
    reason_code: str = ""
    untested_miss: bool = False  # failed the event tests: not worth a run-log row


# ---------------------------------------------------------------- subscriber

def _interests() -> set[str]:
    # order_by(): the model's ordering would put name and id into the DISTINCT.
    return set(Rule.objects.active().on_event().order_by().values_list("trigger_event", flat=True).distinct())


def handle(envelopes: list[events.Envelope]) -> None:
    """One batch of events, set-wise: the rules that trigger on them (one query), the runs
    already logged for any of them (one query for all rules), then per rule only the events
    that pass its event tests — an event a rule's tests refuse costs no copy, no look-up and
    no run-log row."""
    rules = list(Rule.objects.active().on_event().filter(
        trigger_event__in={e.name for e in envelopes}).order_by("pk"))
    if not rules:
        return
    items_by_name: dict[str, list[Item]] = defaultdict(list)
    for env in envelopes:
        items_by_name[env.name].append(Item(
            event_id=env.event_id, event_name=env.name, customer_id=env.event.customer_id,
            payload=env.event.payload(), depth=env.depth, causation_id=env.causation_id))
    all_items = [i for items in items_by_name.values() for i in items]
    _assign_chain_roots(all_items)
    done = _runs_logged(rules, all_items)
    for rule in rules:
        tests = event_conditions(rule)
        memo: dict = {}
        mine = [_fresh_copy(i) for i in items_by_name.get(rule.trigger_event, [])
                if i.event_id not in done[rule.pk] and _event_tests_pass(tests, i.payload, memo)]
        run_rule(rule, mine, already_run=set())


def _runs_logged(rules: list[Rule], items: list[Item]) -> dict[int, set[str]]:
    """(rule → event ids hex) of the runs already logged for these events: re-delivery never
    acts twice. One query per chunk of events for all the rules."""
    done: dict[int, set[str]] = {rule.pk: set() for rule in rules}
    ids = [i.event_id for i in items]
    for start in range(0, len(ids), CHUNK):
        for rule_id, event_id in Run.objects.filter(
                rule_id__in=list(done), event_id__in=ids_in(Run, "event_id", ids[start:start + CHUNK])) \
                .values_list("rule_id", "event_id"):
            done[rule_id].add(event_id.hex)
    return done


def _event_tests_pass(tests: list[dict], payload: dict, memo: dict) -> bool:
    """All of a rule's conditions on the event's own fields hold. Results are remembered per
    (condition, value) for one batch: a bulk action's events mostly carry the same values."""
    for index, cond in enumerate(tests):
        if not _event_test(index, cond, payload, memo):
            return False
    return True


def _event_test(index: int, cond: dict, payload: dict, memo: dict) -> bool:
    actual = payload.get(cond["field"])
    try:
        key = (index, type(actual), tuple(actual) if isinstance(actual, list) else actual)
        hit = memo.get(key)
    except TypeError:  # an unhashable value (a dict): not remembered
        return event_condition_holds(cond, payload)
    if hit is None:
        hit = memo[key] = event_condition_holds(cond, payload)
    return hit


def _fresh_copy(item: Item) -> Item:
    """The item for one more rule: same event, no results yet (cheaper than Item(**…))."""
    copy = object.__new__(Item)
    copy.__dict__.update(item.__dict__)
    copy.conditions, copy.outcomes = [], []
    return copy


def register() -> None:
    events.subscribe(SUBSCRIBER_KEY, handle, interests=_interests, inline=True)


def _assign_chain_roots(items: list[Item]) -> None:
    """An event caused by a rule's action inherits the chain of the run that caused it.
    Events that start a chain in the same batch share one root (the batch's first), so a
    bulk action over them is one call and its consequences still trace back to it."""
    caused = {i.causation_id for i in items if i.causation_id}
    roots: dict[str, str] = {}
    ids = sorted(caused)
    for start in range(0, len(ids), CHUNK):
        for event_id, root in Run.objects.filter(event_id__in=ids_in(Run, "event_id", ids[start:start + CHUNK])) \
                .exclude(chain_root=None).values_list("event_id", "chain_root"):
            roots[event_id.hex] = root.hex
    fresh_root = None
    for item in items:
        if item.causation_id:
            item.chain_root = roots.get(item.causation_id, item.causation_id)
        else:
            fresh_root = fresh_root or item.event_id
            item.chain_root = fresh_root


# ---------------------------------------------------------------- one rule, many items

def automation_actor():
    """The user the rules act as: an administrator account that cannot sign in."""
    from valuecrm.accounts.models import User
    from valuecrm.accounts.roles import Role
    from valuecrm.customers.automation_actions import AUTOMATION_USERNAME

    user = User.objects.filter(username=AUTOMATION_USERNAME).first()
    if user is None:
        user = User(username=AUTOMATION_USERNAME, role=Role.ADMIN, first_name="Automation",
                    is_active=True)
        user.set_unusable_password()
        user.save()
    return user


def run_rule(rule: Rule, items: list[Item], *, now=None, already_run: set[str] | None = None) -> list[Item]:
    """Evaluate `rule` for `items`, act on those that pass, log one run each (returns the
    items logged, with their status, reason and outcomes). Texts the run
    log keeps (reasons, outcomes, the tasks' titles) are written in the site's language,
    whoever's request happened to trigger the rule. `already_run`: the event ids (hex)
    among `items` this rule has logged runs for, when the caller looked them up (None: look
    them up here)."""
    if not items:
        return []
    with translation.override(settings.LANGUAGE_CODE):
        return _run_rule(rule, items, now=now, already_run=already_run)


def _run_rule(rule: Rule, items: list[Item], *, now=None, already_run=None) -> list[Item]:
    now = now or timezone.now()
    started = time.perf_counter()
    items = _not_yet_run(rule, items, already_run)
    if not items:
        return []
    passing = _evaluate(rule, items)
    acting = _guard_loops(rule, passing)
    acting = _rate_limit(rule, acting, now)
    if acting:
        _act(rule, acting)
        after = AFTER_ACTIONS.get(rule.trigger_event)
        if after is not None:
            after(acting)
    elapsed_ms = (time.perf_counter() - started) * 1000
    per_item = elapsed_ms / max(len(items), 1)
    # An event that fails the rule's own event tests is not logged (most events of a busy
    # type are not for a given rule); audience misses and everything after are.
    items = [i for i in items if not i.untested_miss]
    # One prepared multi-row INSERT (no model instance per run); the unique (rule, event id)
    # constraint still makes a concurrent re-delivery's duplicate a no-op.
    per_item = round(per_item, 3)
    events.insert_rows(Run, _RUN_FIELDS, (
        (rule.pk, i.event_id, i.event_name, i.customer_id, i.chain_root,
         i.depth, i.status, i.reason[:300], i.reason_code, _inputs(i), i.conditions, i.outcomes, i.error, per_item, now)
        for i in items), ignore_conflicts=True)
    return items


_RUN_FIELDS = ("rule", "event_id", "event_name", "customer_id", "chain_root", "depth", "status", "reason",
               "reason_code", "inputs", "conditions_result", "outcomes", "error", "duration_ms", "started_at")


def _inputs(item: Item) -> dict:
    return {"event": item.payload, "depth": item.depth, "causation_id": item.causation_id}


def _not_yet_run(rule: Rule, items: list[Item], done: set[str] | None = None) -> list[Item]:
    if done is None:
        done = _runs_logged([rule], items)[rule.pk]
    seen, out = set(), []
    for item in items:
        if item.event_id not in done and item.event_id not in seen:
            seen.add(item.event_id)
            out.append(item)
    return out


def audience_ids(rule: Rule, customer_ids: list[int]) -> set[int]:
    """Which of `customer_ids` the rule's list filters select (all of them without filters)."""
    raw = audience_filters(rule)
    if not raw:
        return set(customer_ids)
    active, errors = parse_filters(raw, user=rule.created_by)
    if errors:
        # A filter that became invalid (a custom field was removed): select nobody.
        return set()
    q = filters_q(active)
    found: set[int] = set()
    for start in range(0, len(customer_ids), CHUNK):
        found.update(Customer.objects.filter(pk__in=ids_in(Customer, "id", customer_ids[start:start + CHUNK])).filter(q)
                     .values_list("pk", flat=True))
    return found


def _evaluate(rule: Rule, items: list[Item]) -> list[Item]:
    tests = event_conditions(rule)
    filters = audience_filters(rule)
    candidates = []
    no_match = _("The event does not match the conditions.")  # translated once, not per item
    memo: dict = {}
    for item in items:
        results = [{"condition": c, "ok": _event_test(n, c, item.payload, memo)} for n, c in enumerate(tests)]
        item.conditions = results
        if all(r["ok"] for r in results):
            candidates.append(item)
        else:
            item.status, item.reason = RunStatus.SKIPPED, no_match
            item.reason_code = "event"
            item.untested_miss = True
    if filters:
        ids = sorted({i.customer_id for i in candidates if i.customer_id is not None})
        selected = audience_ids(rule, ids)
        passing = []
        not_in_audience = _("The customer is not in the rule's audience (list filters).")
        for item in candidates:
            ok = item.customer_id in selected
            item.conditions.append({"condition": {"filters": filters}, "ok": ok})
            if ok:
                passing.append(item)
            else:
                item.status = RunStatus.SKIPPED
                item.reason = not_in_audience
                item.reason_code = "audience"
        candidates = passing
    return _without_opted_out(candidates)


def _without_opted_out(items: list[Item]) -> list[Item]:
    refusing = opted_out_ids(i.customer_id for i in items if i.customer_id is not None)
    if not refusing:
        return items
    kept = []
    for item in items:
        if item.customer_id in refusing:
            item.status = RunStatus.SKIPPED
            item.reason = _("The person refused automated decisions (PIPL Art. 24).")
            item.reason_code = "opted_out"
        else:
            kept.append(item)
    return kept


def _guard_loops(rule: Rule, items: list[Item]) -> list[Item]:
    out = []
    too_deep = _("Loop protection: the causation depth limit (%(n)s) is reached.") % {"n": MAX_DEPTH}
    for item in items:
        if item.depth >= MAX_DEPTH:
            item.status = RunStatus.BLOCKED
            item.reason = too_deep
            item.reason_code = "depth"
        else:
            out.append(item)
    keys = {(i.customer_id, i.chain_root) for i in out if i.customer_id is not None and i.chain_root}
    acted: set[tuple] = set()
    if keys:
        customers = sorted({k[0] for k in keys})
        roots = sorted({k[1] for k in keys})
        for start in range(0, len(customers), CHUNK):
            acted.update((cid, root.hex) for cid, root in Run.objects.filter(
                rule=rule, customer_id__in=ids_in(Run, "customer_id", customers[start:start + CHUNK]),
                chain_root__in=ids_in(Run, "chain_root", roots),
                status=RunStatus.SUCCEEDED).values_list("customer_id", "chain_root"))
    passing = []
    once_per_chain = _("Loop protection: this rule already acted on this customer in this chain of events.")
    for item in out:
        key = (item.customer_id, item.chain_root)
        if item.customer_id is not None and key in acted:
            item.status = RunStatus.BLOCKED
            item.reason = once_per_chain
            item.reason_code = "chain"
            continue
        acted.add(key)
        passing.append(item)
    return passing


def _rate_limit(rule: Rule, items: list[Item], now) -> list[Item]:
    recent = Run.objects.acted().filter(rule=rule, started_at__gte=now - timedelta(hours=1)).count()
    room = max(rule.max_runs_per_hour - recent, 0)
    if len(items) <= room:
        return items
    reason = _("Paused: too many runs (more than %(n)s in an hour).") % {"n": rule.max_runs_per_hour}
    for item in items[room:]:
        item.status, item.reason, item.reason_code = RunStatus.BLOCKED, reason, "rate"
    Rule.objects.filter(pk=rule.pk).update(paused_at=now, paused_reason=reason[:200])
    rule.paused_at, rule.paused_reason = now, reason
    events.emit(events.AutomationRulePaused(rule_id=rule.pk, reason=reason[:200]))
    return items[:room]


def _act(rule: Rule, items: list[Item]) -> None:
    actor = automation_actor()
    customer_facts = facts_module.customer_facts([i.customer_id for i in items if i.customer_id])
    event_facts = facts_module.event_facts(items)
    # One bulk call per action and per (chain, depth): events an action emits name one
    # cause whose run carries the same chain root.
    groups: dict[tuple, list[Item]] = defaultdict(list)
    for item in items:
        groups[(item.chain_root, item.depth)].append(item)
    with acting(ActorKind.AUTOMATION, "automation"), events.collecting():
        for (_root, depth), group in groups.items():
            contexts = {i.event_id: ActionContext(
                rule_id=rule.pk, rule_name=rule.name, event_name=i.event_name, event_id=i.event_id,
                customer_id=i.customer_id, actor=actor,
                facts={**i.payload, **customer_facts.get(i.customer_id, {}), **event_facts.get(i.event_id, {})})
                for i in group}
            with caused_by(Cause(event_id=group[0].event_id, depth=depth)):
                _act_group(rule, group, contexts)
    for item in items:
        if not item.status:
            item.status = RunStatus.FAILED if item.error else RunStatus.SUCCEEDED


def _act_group(rule: Rule, group: list[Item], contexts: dict) -> None:
    alive = list(group)
    for index, config in enumerate(rule.actions):
        cls = action_class(config.get("type", ""))
        if not alive:
            return
        if cls is None:
            for item in alive:
                item.error = _("Action %(n)s: unknown type %(type)s") % {"n": index + 1, "type": config.get("type")}
                item.outcomes.append({"type": config.get("type"), "status": "failed", "error": item.error})
            return
        action = cls({k: v for k, v in config.items() if k != "type"})
        try:
            with transaction.atomic():
                outcomes = action.apply_batch([contexts[i.event_id] for i in alive])
            for item, outcome in zip(alive, outcomes, strict=True):
                item.outcomes.append({"type": cls.type, "status": "ok", "summary": outcome.summary,
                                      "changes": outcome.changes})
            continue
        except Exception:  # noqa: BLE001 — isolate the failing records below
            log.info("rule %s action %s failed in bulk; retrying one by one", rule.pk, cls.type, exc_info=True)
        still = []
        for item in alive:
            try:
                with transaction.atomic():
                    (outcome,) = action.apply_batch([contexts[item.event_id]])
                item.outcomes.append({"type": cls.type, "status": "ok", "summary": outcome.summary,
                                      "changes": outcome.changes})
                still.append(item)
            except Exception as exc:  # noqa: BLE001 — the run log keeps the error
                message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
                details = getattr(exc, "errors", None)
                if details:
                    message = f"{message}: {details}"
                item.error = _("Action %(n)s (%(type)s): %(error)s") % {
                    "n": index + 1, "type": cls.type, "error": message}
                item.outcomes.append({"type": cls.type, "status": "failed", "error": str(message)[:500]})
        alive = still


def run_for_items(rule: Rule, items: list[Item], *, now=None) -> list[Item]:
    """Scheduled firings: items carry deterministic event ids (rule, time, customer)."""
    return run_rule(rule, items, now=now)


def scheduled_event_id(rule_id: int, fire_at_iso: str, customer_id: int) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"valuecrm.automation:{rule_id}:{fire_at_iso}:{customer_id}").hex


def _link_value_alert_tasks(items: list[Item]) -> None:
    """The follow-up a value-alert rule created is the alert's task (shown with the alert)."""
    from valuecrm.insights.services.warnings import alerts_link_tasks

    links = {}
    for item in items:
        task_id = next((o.get("changes", {}).get("task_id") for o in item.outcomes
                        if o.get("type") == "create_task" and o.get("status") == "ok"), None)
        if task_id and item.payload.get("alert_id"):
            links[item.payload["alert_id"]] = task_id
    if links:
        alerts_link_tasks(links)


# Bookkeeping an event's owner wants after a rule acted on it, in bulk.
AFTER_ACTIONS = {"value_alert.raised": _link_value_alert_tasks}
