"""Writes of the insights app: scoring runs and the policies that steer them."""

from .alerts import raise_alert
from .playbook import ensure_default_playbook
from .policies import can_change_policies, playbook_entry_clear, playbook_entry_set, policy_update
from .scoring import (
    ensure_not_running,
    score_now,
    score_run_create,
    score_run_execute,
    score_runs_recover,
    score_runs_resume_stale,
)

__all__ = [
    "ensure_default_playbook",
    "raise_alert",
    "ensure_not_running",
    "can_change_policies",
    "playbook_entry_clear",
    "playbook_entry_set",
    "policy_update",
    "score_now",
    "score_run_create",
    "score_run_execute",
    "score_runs_recover",
    "score_runs_resume_stale",
]
