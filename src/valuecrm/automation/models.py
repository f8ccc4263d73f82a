"""Automation rules (trigger → conditions → ordered actions) and their run log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RuleQuerySet(models.QuerySet):
    def active(self):
        return self.filter(enabled=True, paused_at__isnull=True)

    def on_event(self, name: str | None = None):
        qs = self.exclude(trigger_event="")
        return qs if name is None else qs.filter(trigger_event=name)

    def scheduled(self):
        return self.filter(trigger_event="")


class Rule(models.Model):
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, default="")
    enabled = models.BooleanField(_("on"), default=False)
    # {"event": "customer.stage_changed"} or {"schedule": {"cron": "0 9 * * *"}} or
    # {"schedule": {"date_field": "birthday", "offset_days": 0, "at": "09:00"}}
    trigger = models.JSONField(_("trigger"), default=dict)
    # The event name, copied out of `trigger` so the engine selects rules by index.
    trigger_event = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # [{"filter": "tier", "value": "A"}, {"field": "to_stage", "op": "eq", "value": "at_risk"}]
    conditions = models.JSONField(_("conditions"), default=list)
    # [{"type": "create_task", "title": "…", "due_in_days": 2, "assignee": "owner"}, …]
    actions = models.JSONField(_("actions"), default=list)
    max_runs_per_hour = models.PositiveIntegerField(_("most runs per hour"), default=1000)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    paused_reason = models.CharField(_("paused because"), max_length=200, blank=True, default="")
    # Set on rules the product seeds (e.g. "value_alert_task"), so an upgrade can find them.
    system_key = models.CharField(max_length=50, blank=True, default="", db_index=True)
    last_fired_at = models.DateTimeField(_("last fired"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RuleQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("automation rule")

    def __str__(self):
        return self.name

    @property
    def is_scheduled(self) -> bool:
        return "schedule" in (self.trigger or {})

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class RunStatus(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Conditions not met")
    BLOCKED = "blocked", _("Blocked")


REASONS = {
    "event": _("The event does not match the conditions."),
    "audience": _("The customer is not in the rule's audience (list filters)."),
    "depth": _("Loop protection: the causation depth limit (%(n)s) is reached."),
    "chain": _("Loop protection: this rule already acted on this customer in this chain of events."),
    "rate": _("Paused: too many runs (more than %(n)s in an hour)."),
    "opted_out": _("The person refused automated decisions (PIPL Art. 24)."),
}


class RunQuerySet(models.QuerySet):
    def acted(self):
        return self.filter(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED])


class Run(models.Model):
    """One rule evaluated against one event (or one record at one scheduled time)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    event_id = models.UUIDField()
    event_name = models.CharField(max_length=64)
    customer_id = models.BigIntegerField(null=True, blank=True)
    # The first event of the causation chain: a rule acts on a record once per chain.
    chain_root = models.UUIDField(null=True, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=RunStatus.choices)
    reason = models.CharField(max_length=300, blank=True, default="")  # in the site language
    reason_code = models.CharField(max_length=20, blank=True, default="")  # shown translated
    inputs = models.JSONField(default=dict)
    conditions_result = models.JSONField(default=list)
    outcomes = models.JSONField(default=list)  # per action: {"type", "status", "summary", "error"}
    error = models.TextField(blank=True, default="")
    duration_ms = models.FloatField(default=0)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = RunQuerySet.as_manager()

    @property
    def reason_display(self) -> str:
        """The reason in the reader's language (the stored text is in the site's)."""
        template = REASONS.get(self.reason_code)
        if template is None:
            return self.reason
        n = 5 if self.reason_code == "depth" else self.rule.max_runs_per_hour
        return str(template) % {"n": n} if "%(n)s" in str(template) else str(template)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["rule", "event_id"], name="automation_run_once_per_event")]
        indexes = [
            models.Index(fields=["rule", "started_at"], name="automation_run_rule_time"),
            models.Index(fields=["rule", "customer_id", "chain_root"], name="automation_run_chain"),
            models.Index(fields=["event_id"], name="automation_run_event"),
        ]
