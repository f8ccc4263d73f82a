"""Pages: the rule list (on/off, last runs), the rule editor with its dry run, the run log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from valuecrm.automation import selectors, services
from valuecrm.automation.festivals import BY_KEY as FESTIVALS
from valuecrm.automation.festivals import festival_choices
from valuecrm.automation.models import Rule, RunStatus
from valuecrm.automation.rules import DATE_FIELDS, OPS, condition_text
from valuecrm.automation.templates_catalogue import rule_templates, template_data
from valuecrm.common import events
from valuecrm.common.actions import action_types
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.filters import filter_specs

FILTER_SLOTS, FIELD_SLOTS, ACTION_SLOTS = 5, 4, 5


def _forbidden(request):
    return render(request, "automation/forbidden.html", status=403)


def _trigger_text(rule) -> str:
    trigger = rule.trigger or {}
    if "event" in trigger:
        return trigger["event"]
    schedule = trigger.get("schedule", {})
    if "cron" in schedule:
        return _("Schedule: %(cron)s") % {"cron": schedule["cron"]}
    if "festival" in schedule:
        festival = FESTIVALS.get(schedule["festival"])
        return _("%(festival)s, at %(at)s") % {"festival": festival.name if festival else schedule["festival"],
                                               "at": schedule.get("at")}
    offset = schedule.get("offset_days", 0)
    label = DATE_FIELDS.get(schedule.get("date_field"), schedule.get("date_field"))
    return _("%(field)s %(offset)+d days, at %(at)s") % {"field": label, "offset": offset, "at": schedule.get("at")}


@login_required
def rule_list(request):
    try:
        rules = list(selectors.rules_for(request.user))
    except PermissionDenied:
        return _forbidden(request)
    recent = selectors.last_runs([r.pk for r in rules])
    rows = [{"rule": r, "trigger": _trigger_text(r), "runs": recent.get(r.pk, [])} for r in rules]
    return render(request, "automation/rules.html", {"rows": rows, "templates": rule_templates()})


@login_required
@require_POST
def rule_toggle(request, pk):
    try:
        rule = selectors.rule_get(request.user, pk)
        services.rule_set_enabled(actor=request.user, rule=rule, enabled=request.POST.get("enabled") == "1")
    except PermissionDenied:
        return HttpResponseForbidden(_("Your role cannot change automation rules."))
    except NotFound:
        return redirect("automation-rules")
    return redirect(request.POST.get("next") or "automation-rules")


# ---------------------------------------------------------------- the editor form ↔ rule data

def _form_to_data(post) -> dict:
    kind = post.get("trigger_kind", "event")
    if kind == "cron":
        trigger = {"schedule": {"cron": post.get("schedule_cron", "")}}
    elif kind == "festival":
        trigger = {"schedule": {"festival": post.get("schedule_festival", ""),
                                "at": post.get("schedule_festival_at") or "10:00"}}
    elif kind == "date":
        trigger = {"schedule": {"date_field": post.get("schedule_field", ""),
                                "offset_days": post.get("schedule_offset") or 0,
                                "at": post.get("schedule_at") or "09:00"}}
    else:
        trigger = {"event": post.get("trigger_event", "")}
    conditions = []
    for i in range(FILTER_SLOTS):
        key, value = post.get(f"f{i}_key", ""), post.get(f"f{i}_value", "")
        if key:
            conditions.append({"filter": key, "value": value})
    for i in range(FIELD_SLOTS):
        field = post.get(f"c{i}_field", "").strip()
        if field:
            conditions.append({"field": field, "op": post.get(f"c{i}_op", "eq"), "value": post.get(f"c{i}_value", "")})
    actions = []
    for i in range(ACTION_SLOTS):
        type_name = post.get(f"a{i}_type", "")
        cls = next((c for c in action_types() if c.type == type_name), None)
        if cls is None:
            continue
        config = {"type": type_name}
        for p in cls.params:
            value = post.get(f"a{i}_{type_name}_{p.name}", "")
            if value != "":
                config[p.name] = value
        actions.append(config)
    try:
        limit = int(post.get("max_runs_per_hour") or 1000)
    except ValueError:
        limit = -1
    return {"name": post.get("name", ""), "description": post.get("description", ""),
            "enabled": post.get("enabled") == "on", "trigger": trigger, "conditions": conditions,
            "actions": actions, "max_runs_per_hour": limit}


def _editor_state(data: dict) -> dict:
    """Rule data → what each slot of the form shows."""
    trigger = data.get("trigger") or {}
    schedule = trigger.get("schedule") or {}
    kind = ("cron" if "cron" in schedule else "festival" if "festival" in schedule
            else "date" if schedule else "event")
    conditions = data.get("conditions") or []
    filters = [c for c in conditions if "filter" in c]
    tests = [c for c in conditions if "field" in c]
    actions = data.get("actions") or []
    specs = filter_specs()
    return {
        "trigger_kind": kind, "trigger_event": trigger.get("event", ""), "schedule": schedule,
        "filters": [filters[i] if i < len(filters) else {} for i in range(FILTER_SLOTS)],
        "chips": [{"label": str(specs[c["filter"]].label) if c["filter"] in specs else c["filter"],
                   "value": c["value"]} for c in filters],
        "tests": [tests[i] if i < len(tests) else {} for i in range(FIELD_SLOTS)],
        "actions": [actions[i] if i < len(actions) else {} for i in range(ACTION_SLOTS)],
    }


def _editor_context(request, rule, data, errors=None, dry=None):
    specs = filter_specs()
    return {
        "rule": rule, "data": data, "state": _editor_state(data), "errors": errors or {},
        "event_names": sorted(events.EVENT_TYPES), "date_fields": list(DATE_FIELDS.items()),
        "festivals": festival_choices(),
        "filter_choices": sorted(((k, str(s.label)) for k, s in specs.items()), key=lambda kv: kv[1]),
        "ops": [(k, str(v)) for k, v in OPS.items()],
        "action_types": [{"type": c.type, "label": str(c.label),
                          "params": [{"name": p.name, "label": str(p.label), "widget": p.widget,
                                      "required": p.required, "help": str(p.help),
                                      "choices": p.choices() if p.choices else []} for p in c.params]}
                         for c in action_types()],
        "users": _users(request.user), "teams": _teams(), "dry": dry,
        "condition_text": condition_text,
    }


def _users(user):
    from valuecrm.customers.followups import visible_users

    return list(visible_users(user).filter(is_active=True).order_by("username").values_list("pk", "username"))


def _teams():
    from valuecrm.accounts.models import Team

    return list(Team.objects.order_by("name").values_list("pk", "name"))


def _blank_rule_data():
    return {"name": "", "enabled": False, "trigger": {"event": "customer.stage_changed"}, "conditions": [],
            "actions": [{"type": "create_task", "assignee": "owner", "due_in_days": 2}], "max_runs_per_hour": 1000}


def _rule_data(rule: Rule) -> dict:
    return {"name": rule.name, "description": rule.description, "enabled": rule.enabled, "trigger": rule.trigger,
            "conditions": rule.conditions, "actions": rule.actions, "max_runs_per_hour": rule.max_runs_per_hour}


@login_required
def rule_edit(request, pk=None):
    if not request.user.can("automation.manage"):
        return _forbidden(request)
    rule = None
    if pk is not None:
        try:
            rule = selectors.rule_get(request.user, pk)
        except NotFound:
            return render(request, "404.html", status=404)
    if request.method != "POST":
        data = _rule_data(rule) if rule else (template_data(request.GET.get("template", "")) or _blank_rule_data())
        return render(request, "automation/editor.html", _editor_context(request, rule, data))
    data = _form_to_data(request.POST)
    if request.POST.get("do") == "dry_run":
        try:
            dry = services.rule_dry_run(actor=request.user, data=data, rule=rule,
                                        mode=request.POST.get("mode", "events"))
            errors = {}
        except ValidationFailed as exc:
            dry, errors = None, exc.errors
        template = "automation/_dry_run.html" if request.headers.get("HX-Request") else "automation/editor.html"
        return render(request, template, _editor_context(request, rule, data, errors, dry))
    try:
        if rule is None:
            rule = services.rule_create(actor=request.user, data=data)
        else:
            rule = services.rule_update(actor=request.user, rule=rule, data=data)
    except ValidationFailed as exc:
        return render(request, "automation/editor.html", _editor_context(request, rule, data, exc.errors),
                      status=422)
    return redirect(reverse("automation-rule", args=[rule.pk]) + "?saved=1")


@login_required
@require_POST
def rule_delete(request, pk):
    try:
        services.rule_delete(actor=request.user, rule=selectors.rule_get(request.user, pk))
    except PermissionDenied:
        return HttpResponseForbidden(_("Your role cannot change automation rules."))
    except NotFound:
        pass
    except Conflict as exc:
        messages.error(request, str(exc))
        return redirect("automation-rule", pk=pk)
    return redirect("automation-rules")


@login_required
def run_log(request):
    try:
        selectors.require_automation_reader(request.user)
    except PermissionDenied:
        return _forbidden(request)
    rule_id = request.GET.get("rule", "")
    status = request.GET.get("status", "")
    rule_id = int(rule_id) if rule_id.isdigit() and len(rule_id) < 12 else None
    status = status if status in RunStatus.values else ""
    qs = selectors.runs_for(request.user, rule_id=rule_id, status=status or None)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "automation/runs.html", {
        "page": page, "rules": Rule.objects.order_by("name").values_list("pk", "name"),
        "rule_id": rule_id, "status": status, "statuses": RunStatus.choices})
