"""Rule templates an administrator can start a rule from: the value playbook
(stage × tier next-best actions, editable under Value settings) and the common ones."""

from __future__ import annotations

from django.utils.translation import gettext as _

from valuecrm.insights.models import Stage
from valuecrm.insights.services.playbook import action_text, playbook_lookup


def rule_templates() -> list[dict]:
    """[{"key", "name", "data"}]: data is what the editor is pre-filled with."""
    out = []
    labels = dict(Stage.choices)
    for (stage, tier), entry in sorted(playbook_lookup().items()):
        text = action_text(entry)
        stage_label = str(labels.get(stage, stage))
        name = f"{stage_label} · {tier}: {text}" if tier else f"{stage_label}: {text}"
        conditions = [{"field": "to_stage", "op": "eq", "value": stage}]
        if tier:
            conditions.append({"field": "tier", "op": "eq", "value": tier})
        out.append({"key": f"playbook:{stage}:{tier or 'any'}", "name": name[:100], "data": {
            "name": name[:100], "enabled": False, "trigger": {"event": "customer.stage_changed"},
            "conditions": conditions,
            "actions": [{"type": "create_task", "title": f"{text[:150]}: {{customer}}", "assignee": "owner",
                         "due_in_days": 2}]}})
    out.append({"key": "birthday", "name": _("Birthday greeting task"), "data": {
        "name": _("Birthday greeting task"), "enabled": False,
        "trigger": {"schedule": {"date_field": "birthday", "offset_days": 0, "at": "09:00"}}, "conditions": [],
        "actions": [{"type": "create_task", "title": _("Send birthday wishes to {customer}"), "assignee": "owner",
                     "due_in_days": 0}]}})
    out.extend(greeting_templates())
    return out


def greeting_templates() -> list[dict]:
    """Birthday (09:00) and festival (10:00) greetings: tier A gets the gift-coupon template,
    everyone else the plain one, in the admin's language. Disabled until enabled."""
    from django.utils.translation import get_language

    from valuecrm.automation.festivals import FESTIVALS
    from valuecrm.marketing.greetings import template_name
    from valuecrm.marketing.models import MessageTemplate

    language = "zh-hans" if (get_language() or "").startswith("zh") else "en"
    ids = dict(MessageTemplate.objects.values_list("name", "pk"))
    occasions = [("birthday", _("Birthday"), {"date_field": "birthday", "offset_days": 0, "at": "09:00"})]
    occasions += [(f.key, f.name, {"festival": f.key, "at": "10:00"}) for f in FESTIVALS]
    out = []
    for key, label, schedule in occasions:
        plain, gift = (ids.get(template_name(key, v, language)) for v in ("plain", "gift"))
        if plain is None or gift is None:
            continue  # the seeded templates were deleted or renamed
        name = _("%(occasion)s greeting (gift coupon for tier A)") % {"occasion": label}
        out.append({"key": f"greeting:{key}", "name": name, "data": {
            "name": name, "enabled": False, "trigger": {"schedule": schedule}, "conditions": [],
            "actions": [{"type": "send_greeting", "template_id": str(plain), "gift_template_id": str(gift),
                         "gift_tier": "A"}]}})
    return out


def template_data(key: str) -> dict | None:
    return next((t["data"] for t in rule_templates() if t["key"] == key), None)
