"""Writes of the value policies: lifecycle rules, tier policy, warning policy and the playbook.

Each change is validated as a whole (model clean) and saved in one go, so a bad
value never leaves a half-applied policy; the next scoring run uses it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability
from valuecrm.common import events
from valuecrm.common.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
    validation_failed_from_django,
)
from valuecrm.insights.models import (
    RANKED_TIERS,
    LifecycleRules,
    PlaybookEntry,
    Stage,
    TierPolicy,
    WarningPolicy,
)

EDITABLE = {
    "lifecycle_rules": (LifecycleRules, [f.name for f in LifecycleRules._meta.fields if f.name not in ("id", "updated_at")]),
    "tier_policy": (TierPolicy, [f.name for f in TierPolicy._meta.fields if f.name not in ("id", "updated_at")]),
    "warning_policy": (WarningPolicy, [f.name for f in WarningPolicy._meta.fields if f.name not in ("id", "updated_at")]),
}


def can_change_policies(actor) -> bool:
    """Administrators change the value policies; everyone else may read them."""
    return has_capability(actor, Capability.POLICIES_CHANGE)


def _check_admin(actor) -> None:
    if not can_change_policies(actor):
        raise PermissionDenied(_("Only administrators can change value policies."))


@transaction.atomic
def policy_update(*, actor, policy: str, data: dict):
    """Update one of the singleton policies (``lifecycle_rules``, ``tier_policy``, ``warning_policy``)."""
    _check_admin(actor)
    if policy not in EDITABLE:
        raise NotFound(_("No such policy."))
    model, fields = EDITABLE[policy]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValidationFailed(_("Unknown setting."), errors={k: [_("Unknown setting.")] for k in unknown})
    obj = model.current()
    for key, value in data.items():
        setattr(obj, key, value)
    if policy == "warning_policy":
        bad = set(str(obj.tiers).upper()) - set(RANKED_TIERS)
        if bad:
            raise ValidationFailed(_("Invalid value."), errors={"tiers": [_("Use the tier letters A, B and C.")]})
        obj.tiers = str(obj.tiers).upper()
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise validation_failed_from_django(exc) from None
    obj.save()
    events.emit(events.ConfigChanged(kind="policy", object_id=str(policy), action="updated"), actor=actor)
    return obj


@transaction.atomic
def playbook_entry_set(*, actor, stage: str, tier: str, action_code: str, text_en: str, text_zh: str) -> PlaybookEntry:
    """Create or replace the action for a stage and tier ('' = any tier)."""
    _check_admin(actor)
    errors = {}
    if stage not in Stage.values:
        errors["stage"] = [_("Unknown stage.")]
    if tier not in ("", *RANKED_TIERS):
        errors["tier"] = [_("Use A, B, C or leave empty for any tier.")]
    if errors:
        raise ValidationFailed(_("Invalid value."), errors=errors)
    entry = PlaybookEntry.objects.filter(stage=stage, tier=tier).first() or PlaybookEntry(stage=stage, tier=tier)
    entry.action_code, entry.text_en, entry.text_zh = action_code, text_en, text_zh
    try:
        entry.full_clean()
    except ValidationError as exc:
        raise validation_failed_from_django(exc) from None
    entry.save()
    events.emit(events.ConfigChanged(kind="playbook", object_id=str(f"{stage}/{tier}"), action="updated"), actor=actor)
    return entry


def playbook_entry_clear(*, actor, stage: str, tier: str) -> None:
    """Remove a tier's own action for a stage, so the stage's all-tiers action applies
    again. The all-tiers action itself cannot be removed, only changed."""
    _check_admin(actor)
    if stage not in Stage.values:
        raise ValidationFailed(_("Invalid value."), errors={"stage": [_("Unknown stage.")]})
    if tier not in RANKED_TIERS:
        raise ValidationFailed(_("Invalid value."), errors={
            "tier": [_("Only a tier's own action can be removed; the all-tiers action can be changed.")]})
    PlaybookEntry.objects.filter(stage=stage, tier=tier).delete()
    events.emit(events.ConfigChanged(kind="playbook", object_id=f"{stage}/{tier}", action="deleted"),
                actor=actor)
