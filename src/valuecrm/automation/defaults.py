"""Rules the product ships with. Seeded by a data migration; an administrator can edit
them or switch them off, not delete them (so an upgrade never seeds them again)."""

from __future__ import annotations

VALUE_ALERT_RULE_KEY = "value_alert_task"

VALUE_ALERT_RULE = {
    "name": "Value alert → task for the owner",
    "description": "A valuable customer slows down (early warning): their owner gets a follow-up, due as set "
                   "in Value settings → Early warnings.",
    "enabled": True,
    "trigger": {"event": "value_alert.raised"},
    "trigger_event": "value_alert.raised",
    "conditions": [],
    # No due_in_days: the warning policy's "task due in" applies (a fact of the alert).
    "actions": [{"type": "create_task", "title": "{alert_title}", "description": "{alert_reason}",
                 "assignee": "owner"}],
    # Scoring raises thousands of alerts at once; the limit is for runaway loops, not for that.
    "max_runs_per_hour": 1_000_000,
}


def ensure_default_rules(rule_model=None) -> None:
    """Create the shipped rules that are missing (by system key); leave existing ones as edited."""
    if rule_model is None:
        from valuecrm.automation.models import Rule as rule_model
    if not rule_model.objects.filter(system_key=VALUE_ALERT_RULE_KEY).exists():
        rule_model.objects.create(system_key=VALUE_ALERT_RULE_KEY, **VALUE_ALERT_RULE)
