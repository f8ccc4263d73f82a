"""The automation rule loyalty ships with: VIP care overdue → a care task for the care owner.

Seeded by loyalty's data migration into automation's rule table (the rule is data, so
loyalty does not import automation). Shipped ON: the VIPs are few (value tier A and the top
membership tier), the task goes to the customer's own owner, and a VIP gets at most one per
care cadence — the point of VIP care is that nobody has to remember to look. An administrator
can edit it or switch it off, not delete it (so an upgrade never seeds it again)."""

VIP_CARE_RULE_KEY = "loyalty_vip_care"

VIP_CARE_RULE = {
    "name": "VIP care overdue → care task for the owner",
    "description": "Every day at 09:00: a VIP with no interaction within the programme's care cadence "
                   "(Loyalty → Programme settings → VIP care) gets a care task for their owner, "
                   "at most once per cadence.",
    "enabled": True,
    "trigger": {"schedule": {"cron": "0 9 * * *"}},
    "trigger_event": "",
    "conditions": [{"filter": "vip_care_due", "value": "yes"}],
    "actions": [{"type": "vip_care_task", "due_in_days": 2}],
}


def ensure_vip_care_rule(rule_model) -> None:
    """Create the rule when missing (by system key); leave an existing one as edited."""
    if not rule_model.objects.filter(system_key=VIP_CARE_RULE_KEY).exists():
        rule_model.objects.create(system_key=VIP_CARE_RULE_KEY, **VIP_CARE_RULE)
