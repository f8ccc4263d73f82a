"""Policy writes: admins only, validated as a whole, nothing half-applied."""

import pytest

from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.insights.models import LifecycleRules, PlaybookEntry, WarningPolicy
from valuecrm.insights.services import ensure_default_playbook, playbook_entry_set, policy_update


def test_admin_updates_lifecycle_rules(admin_user):
    rules = policy_update(actor=admin_user, policy="lifecycle_rules", data={"new_days": 60, "at_risk_p_alive": 0.4})
    assert (rules.new_days, rules.at_risk_p_alive) == (60, 0.4)
    assert LifecycleRules.current().new_days == 60


def test_bad_values_name_the_field_and_change_nothing(admin_user):
    with pytest.raises(ValidationFailed) as info:
        policy_update(actor=admin_user, policy="lifecycle_rules",
                      data={"new_days": 30, "at_risk_p_alive": 1.5, "churned_gap_factor": 0})
    assert set(info.value.errors) == {"at_risk_p_alive", "churned_gap_factor"}
    assert LifecycleRules.current().new_days == 90
    with pytest.raises(ValidationFailed) as info:
        policy_update(actor=admin_user, policy="warning_policy", data={"tiers": "AX"})
    assert list(info.value.errors) == ["tiers"]
    with pytest.raises(ValidationFailed) as info:
        policy_update(actor=admin_user, policy="tier_policy", data={"share_a": 0.8, "share_b": 0.5})
    assert list(info.value.errors) == ["share_b"]
    with pytest.raises(ValidationFailed) as info:
        policy_update(actor=admin_user, policy="tier_policy", data={"colour": "red"})
    assert list(info.value.errors) == ["colour"]


def test_only_admins_change_policies(rep_north):
    with pytest.raises(PermissionDenied):
        policy_update(actor=rep_north, policy="warning_policy", data={"tiers": "A"})
    assert WarningPolicy.current().tiers == "AB"


def test_playbook_defaults_and_edits(admin_user):
    ensure_default_playbook()
    assert PlaybookEntry.objects.get(stage="at_risk", tier="A").action_code == "owner_call_48h"
    assert PlaybookEntry.objects.count() == 10
    playbook_entry_set(actor=admin_user, stage="at_risk", tier="A", action_code="ceo_visit",
                       text_en="CEO visits", text_zh="总经理拜访")
    ensure_default_playbook()  # never overwrites an edited entry
    assert PlaybookEntry.objects.get(stage="at_risk", tier="A").action_code == "ceo_visit"
    with pytest.raises(ValidationFailed) as info:
        playbook_entry_set(actor=admin_user, stage="sleepy", tier="D", action_code="x", text_en="x", text_zh="x")
    assert set(info.value.errors) == {"stage", "tier"}


@pytest.mark.django_db
def test_a_removed_default_action_stays_removed(admin_user):
    """Defaults seed an empty playbook only: a tier sent back to its stage's all-tiers
    action is not given its default again by the next lookup."""
    from valuecrm.insights.services import playbook_entry_clear
    from valuecrm.insights.services.playbook import playbook_lookup

    ensure_default_playbook()
    assert PlaybookEntry.objects.filter(stage="loyal", tier="A").exists()
    playbook_entry_clear(actor=admin_user, stage="loyal", tier="A")
    table = playbook_lookup()
    assert ("loyal", "A") not in table
    assert table[("loyal", "")].action_code == "referral_invite"
