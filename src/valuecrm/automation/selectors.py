"""Reads: rules and the run log, for those who may manage automation (admins hold it)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability
from valuecrm.automation.models import Rule, Run, RunStatus
from valuecrm.common.errors import NotFound, PermissionDenied


def can_see_automation(user) -> bool:
    return has_capability(user, Capability.AUTOMATION_MANAGE) or has_capability(user, Capability.ADMIN_USERS)


def require_automation_reader(user) -> None:
    if not can_see_automation(user):
        raise PermissionDenied(_("Your role cannot see automation rules."))


def rules_for(user):
    require_automation_reader(user)
    since = timezone.now() - timedelta(hours=24)
    return Rule.objects.annotate(
        runs_24h=Count("runs", filter=Q(runs__started_at__gte=since, runs__status__in=[
            RunStatus.SUCCEEDED, RunStatus.FAILED])),
        failed_24h=Count("runs", filter=Q(runs__started_at__gte=since, runs__status=RunStatus.FAILED)),
    ).order_by("name", "pk")


def rule_get(user, pk) -> Rule:
    require_automation_reader(user)
    try:
        rule = Rule.objects.filter(pk=int(pk)).first()
    except (TypeError, ValueError, OverflowError):
        rule = None
    if rule is None:
        raise NotFound(_("Rule not found."))
    return rule


def last_runs(rule_ids, per_rule: int = 5) -> dict[int, list[Run]]:
    out: dict[int, list[Run]] = {pk: [] for pk in rule_ids}
    for pk in rule_ids:
        out[pk] = list(Run.objects.filter(rule_id=pk).order_by("-started_at", "-pk")[:per_rule])
    return out


def runs_for(user, *, rule_id=None, status=None, customer_id=None, event_id=None):
    require_automation_reader(user)
    qs = Run.objects.select_related("rule").order_by("-started_at", "-pk")
    if rule_id is not None:
        qs = qs.filter(rule_id=rule_id)
    if status:
        qs = qs.filter(status=status)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if event_id is not None:
        qs = qs.filter(event_id=event_id)
    return qs
