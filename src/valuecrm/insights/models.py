"""Customer value: scoring runs, per-run score snapshots, the current value view,
stage history, value alerts and the editable policies that drive them.

A ScoreRun writes one CustomerScore per customer (history, for sparklines and
audits) and — when it is the newest run — replaces the CustomerValue rows (the
"current" view that the customer list filters and sorts on). Both are written in
one transaction at the end of a run, so a failed run never leaves half a picture.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.common.money import MoneyField


class Stage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    NEW = "new", pgettext_lazy("customer stage", "New")
    GROWING = "growing", _("Growing")
    LOYAL = "loyal", _("Mature / loyal")
    AT_RISK = "at_risk", _("At risk")
    CHURNED = "churned", _("Churned")
    REACTIVATED = "reactivated", _("Reactivated")


# Funnel order, for the lifecycle funnel and stage paths.
STAGE_ORDER = [s.value for s in Stage]


class Tier(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    # Too little history to rank by predicted CLV (one order, or a first order less than
    # one usual interval ago): the model's number would be the population prior.
    N = "N", _("N — new, not yet tiered")


# The tiers that come from ranking by CLV (policies, warnings and the playbook use these).
RANKED_TIERS = (Tier.A.value, Tier.B.value, Tier.C.value)


class Segment(models.TextChoices):
    # The codes come from valuecrm.engine.rfm.SEGMENTS; labels are translated here.
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALISTS = "potential_loyalists", _("Potential loyalists")
    NEW = "new", pgettext_lazy("customer stage", "New")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need attention")
    ABOUT_TO_SLEEP = "about_to_sleep", _("About to sleep")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    NONE = "", _("Not scored")


class ValueReason(models.TextChoices):
    FREQUENCY = "frequency", _("Buys often")
    SPEND = "spend", _("High spend")
    MARGIN = "margin", _("High margin contribution")
    LOYALTY = "loyalty", _("Loyal (long tenure, repeat orders)")
    REFERRALS = "referrals", _("Refers other customers")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    # A later run for the same as_of replaced this run's snapshot.
    SUPERSEDED = "superseded", _("Superseded")


class ScoringUnit(models.TextChoices):
    DAY = "D", pgettext_lazy("time unit", "Days")
    WEEK = "W", _("Weeks")


class ModelChoice(models.TextChoices):
    AUTO = "auto", _("Best on holdout")
    BGNBD = "bgnbd", "BG/NBD"
    PARETONBD = "paretonbd", "Pareto/NBD"


class ScoreRunQuerySet(models.QuerySet):
    def succeeded(self):
        return self.filter(status=RunStatus.SUCCEEDED)


class ScoreRun(models.Model):
    status = models.CharField(
        _("status"), max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    as_of = models.DateField(_("as of"), db_index=True)
    unit = models.CharField(_("time unit"), max_length=1, choices=ScoringUnit.choices, default="D")
    model_choice = models.CharField(
        _("model choice"), max_length=12, choices=ModelChoice.choices, default=ModelChoice.AUTO
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    current_step = models.CharField(_("current step"), max_length=40, blank=True, default="")
    error = models.TextField(_("error"), blank=True, default="")
    # Set when a worker takes the run and at each step; the live heartbeat is a file
    # (common.heartbeat), so a crashed worker's run is failed within a minute.
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=120, blank=True, default="")
    # Customers scored by this run but deleted (or merged into another) before its
    # write-back: their rows were skipped instead of failing the run.
    n_skipped_gone = models.PositiveIntegerField(_("customers gone during the run"), default=0)
    # Where the BTYD summary was computed: the CRM's own database or a warehouse engine.
    engine = models.CharField(_("engine"), max_length=12, blank=True, default="database")

    transaction_model = models.CharField(_("transaction model"), max_length=20, blank=True, default="")
    model_params = models.JSONField(_("parameters"), default=dict, blank=True)
    model_standard_errors = models.JSONField(_("standard errors"), default=dict, blank=True)
    model_log_likelihood = models.FloatField(_("log-likelihood"), null=True, blank=True)
    spend_params = models.JSONField(_("spend model parameters"), default=dict, blank=True)
    # [{model, mae, rmse, total_expected, total_actual, ...}], best first
    holdout_comparison = models.JSONField(_("holdout comparison"), default=list, blank=True)
    # {"period_end": [...], "actual": [...], "expected": [...], "holdout": [...]}
    tracking = models.JSONField(_("tracking"), default=dict, blank=True)
    # {"method": "classifier"|"p_alive", "metrics": {...}, "calibration": [...]}
    churn_metrics = models.JSONField(_("churn metrics"), default=dict, blank=True)
    # {"pairs": [{"code", "disagree", "explained", "unexplained", "rules": {rule: n}}], "total": {...}}
    consistency = models.JSONField(_("signal consistency"), default=dict, blank=True)

    data_start = models.DateField(_("first order"), null=True, blank=True)
    data_end = models.DateField(_("last order"), null=True, blank=True)
    calibration_end = models.DateField(_("calibration end"), null=True, blank=True)
    clv_basis = models.CharField(_("CLV basis"), max_length=10, blank=True, default="")
    n_customers = models.PositiveIntegerField(_("customers"), default=0)
    n_buyers = models.PositiveIntegerField(_("buyers"), default=0)
    n_orders = models.PositiveIntegerField(_("orders"), default=0)
    n_alerts = models.PositiveIntegerField(_("new alerts"), default=0)
    n_stage_changes = models.PositiveIntegerField(_("stage changes"), default=0)
    customer_equity = MoneyField(_("customer equity"))
    timings = models.JSONField(_("step timings (s)"), default=dict, blank=True)

    objects = ScoreRunQuerySet.as_manager()

    class Meta:
        ordering = ["-as_of", "-id"]
        verbose_name = _("score run")
        verbose_name_plural = _("score runs")

    def __str__(self):
        return f"#{self.pk} {self.as_of} {self.status}"

    @property
    def error_text(self) -> str:
        """The error in the reader's language when it is one of ours (they are stored in
        English, e.g. the sweep's "worker stopped"); other errors as they were written."""
        from django.utils.translation import gettext

        return gettext(self.error) if self.error else ""


class ScoreFields(models.Model):
    """The numbers a run gives one customer (shared by snapshots and the current view)."""

    as_of = models.DateField(_("as of"))
    clv = MoneyField(_("predicted CLV (12 months)"))
    # Tier N only: the 10-90 % range of 12-month value among customers who were at the
    # same point (engine.cohorts.first_repeat_quantiles); NULL when not shown as a range.
    clv_low = MoneyField(_("CLV range from"), null=True, blank=True, default=None)
    clv_high = MoneyField(_("CLV range to"), null=True, blank=True, default=None)
    clv_range_basis = models.JSONField(_("CLV range basis"), default=dict, blank=True)
    historical_revenue = MoneyField(_("historical revenue"))
    historical_margin = MoneyField(_("historical margin"))
    n_orders = models.PositiveIntegerField(_("orders"), default=0)
    first_order_on = models.DateField(_("first order"), null=True, blank=True)
    last_order_on = models.DateField(_("last order"), null=True, blank=True)
    interval_days = models.FloatField(_("usual days between orders"), null=True, blank=True)
    # NULL for prospects: no purchase history to judge.
    p_alive = models.FloatField(_("P(alive)"), null=True, blank=True)
    expected_purchases_90d = models.FloatField(_("expected purchases (90 days)"), default=0.0)
    churn_risk = models.FloatField(_("churn risk"), null=True, blank=True)
    value_at_risk = MoneyField(_("value at risk"))
    r_score = models.PositiveSmallIntegerField("R", default=0)
    f_score = models.PositiveSmallIntegerField("F", default=0)
    m_score = models.PositiveSmallIntegerField("M", default=0)
    segment = models.CharField(_("RFM segment"), max_length=20, choices=Segment.choices, blank=True, default="")
    tier = models.CharField(_("value tier"), max_length=1, choices=Tier.choices, default=Tier.C)
    stage = models.CharField(_("lifecycle stage"), max_length=12, choices=Stage.choices, default=Stage.PROSPECT)
    stage_since = models.DateField(_("in stage since"), null=True, blank=True)
    is_value_customer = models.BooleanField(_("value customer"), default=False)
    value_reasons = models.JSONField(_("value reasons"), default=list, blank=True)
    next_best_action = models.CharField(_("next-best action"), max_length=40, blank=True, default="")
    # {"code": "...", "params": {...}} rendered in the reader's language by selectors
    nba_reason = models.JSONField(_("action reason"), default=dict, blank=True)

    class Meta:
        abstract = True


class CustomerScore(ScoreFields):
    """One run's snapshot for one customer (history)."""

    run = models.ForeignKey(ScoreRun, on_delete=models.CASCADE, related_name="scores")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="value_scores")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="customer_score_run_customer"),
        ]
        indexes = [models.Index(fields=["customer", "as_of"])]


class CustomerValue(ScoreFields):
    """The current value picture, one row per customer (replaced by the newest run)."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, primary_key=True, related_name="value"
    )
    run = models.ForeignKey(ScoreRun, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["tier", "customer"]),
            models.Index(fields=["stage", "customer"]),
            models.Index(fields=["segment", "customer"]),
            models.Index(fields=["clv"]),
            models.Index(fields=["p_alive"]),
            models.Index(fields=["churn_risk"]),
            models.Index(fields=["value_at_risk"]),
            models.Index(fields=["is_value_customer", "tier"]),
        ]


class StageChange(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(_("from"), max_length=12, choices=Stage.choices, blank=True, default="")
    to_stage = models.CharField(_("to"), max_length=12, choices=Stage.choices)
    changed_on = models.DateField(_("changed on"))
    run = models.ForeignKey(ScoreRun, on_delete=models.CASCADE, related_name="stage_changes")

    class Meta:
        ordering = ["changed_on", "id"]
        indexes = [
            models.Index(fields=["customer", "changed_on"]),
            models.Index(fields=["changed_on", "from_stage", "to_stage"]),
        ]


class AlertKind(models.TextChoices):
    SLOWING = "slowing", _("Buys less often")
    SPEND_DROP = "spend_drop", _("Spends less")
    P_ALIVE_DROP = "p_alive_drop", _("Likely to stop buying")
    NEGATIVE_FEEDBACK = "negative_feedback", _("Negative feedback")


# The kinds a scoring run raises and resolves; the others (raised by a service through
# services.alerts.raise_alert) stay open until someone resolves them.
SCORING_ALERT_KINDS = (AlertKind.SLOWING, AlertKind.SPEND_DROP, AlertKind.P_ALIVE_DROP)


class ValueAlertQuerySet(models.QuerySet):
    def open(self):
        return self.filter(resolved_at__isnull=True)


class ValueAlert(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="value_alerts")
    kind = models.CharField(_("kind"), max_length=20, choices=AlertKind.choices)
    # One alert per episode: kind + the last order date it is about. A new order
    # ends the episode; the next slowdown is a new episode with a new key.
    episode_key = models.CharField(max_length=60)
    reason = models.TextField(_("reason"))
    reason_params = models.JSONField(default=dict, blank=True)
    tier = models.CharField(_("value tier"), max_length=1, choices=Tier.choices, default=Tier.C)
    run = models.ForeignKey(ScoreRun, null=True, on_delete=models.SET_NULL, related_name="alerts")
    task = models.ForeignKey("customers.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_on = models.DateField(_("raised on"))
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    objects = ValueAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "episode_key"], name="value_alert_episode_unique"),
        ]
        indexes = [models.Index(fields=["resolved_at", "created_on"])]


# ----------------------------------------------------------------------------- policies
def check_ranges(obj, *, shares=(), positives=()):
    """Probabilities and shares lie in [0, 1]; multipliers are positive."""
    from django.core.exceptions import ValidationError

    errors = {}
    for name in shares:
        value = getattr(obj, name)
        if value is None or not 0 <= value <= 1:
            errors[name] = [_("Enter a number between 0 and 1.")]
    for name in positives:
        value = getattr(obj, name)
        if value is None or value <= 0:
            errors[name] = [_("Enter a number greater than 0.")]
    if errors:
        raise ValidationError(errors)


class SingletonPolicy(models.Model):
    """A settings row; `current()` creates it with the defaults on first use."""

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @classmethod
    def current(cls):
        obj = cls.objects.order_by("pk").first()
        return obj if obj is not None else cls.objects.create()


class LifecycleRules(SingletonPolicy):
    new_days = models.PositiveIntegerField(_("new: first order within (days)"), default=90)
    loyal_min_orders = models.PositiveIntegerField(_("loyal: at least orders"), default=3)
    loyal_min_tenure_days = models.PositiveIntegerField(_("loyal: tenure at least (days)"), default=365)
    at_risk_gap_factor = models.FloatField(_("at risk: gap > × own interval"), default=2.0)
    at_risk_p_alive = models.FloatField(_("at risk: P(alive) below"), default=0.5)
    at_risk_spend_drop = models.FloatField(_("at risk: spend down more than (share)"), default=0.5)
    # A signal above only makes a customer "at risk" when the churn model agrees; otherwise
    # they are "slowing down" in their active stage (docs/metrics.md, "One story").
    at_risk_min_churn_risk = models.FloatField(_("at risk: churn risk at least"), default=0.5)
    churned_p_alive = models.FloatField(_("churned: P(alive) below"), default=0.1)
    churned_gap_factor = models.FloatField(_("churned: gap > × own interval"), default=4.0)
    churned_min_gap_days = models.PositiveIntegerField(_("churned: gap at least (days)"), default=365)
    reactivated_days = models.PositiveIntegerField(_("reactivated: for (days)"), default=90)
    trend_window_days = models.PositiveIntegerField(_("spend trend window (days)"), default=180)

    class Meta:
        verbose_name = _("lifecycle rules")
        verbose_name_plural = _("lifecycle rules")

    def clean(self):
        check_ranges(self, shares=("at_risk_p_alive", "at_risk_spend_drop", "churned_p_alive",
                                   "at_risk_min_churn_risk"),
                     positives=("at_risk_gap_factor", "churned_gap_factor"))


class TierPolicy(SingletonPolicy):
    name_a = models.CharField(_("tier A name"), max_length=40, default="A")
    name_b = models.CharField(_("tier B name"), max_length=40, default="B")
    name_c = models.CharField(_("tier C name"), max_length=40, default="C")
    share_a = models.FloatField(_("tier A: top share of buyers"), default=0.2)
    share_b = models.FloatField(_("tier B: next share of buyers"), default=0.3)
    value_min_reasons = models.PositiveSmallIntegerField(_("value customer: at least reasons"), default=2)
    referral_tag = models.CharField(
        _("tag marking referrers"), max_length=50, blank=True, default="referrer",
        help_text=_("Customers with this tag get the 'refers other customers' reason."),
    )

    class Meta:
        verbose_name = _("tier policy")
        verbose_name_plural = _("tier policy")

    def clean(self):
        from django.core.exceptions import ValidationError

        if not (0 < self.share_a < 1) or not (0 <= self.share_b < 1) or self.share_a + self.share_b > 1:
            raise ValidationError({"share_b": _("Tier shares must be between 0 and 1 and add up to at most 1.")})


class WarningPolicy(SingletonPolicy):
    enabled = models.BooleanField(_("enabled"), default=True)
    tiers = models.CharField(_("warn for tiers"), max_length=10, default="AB", help_text=_("e.g. AB"))
    gap_factor = models.FloatField(_("slowing: gap > × own interval"), default=1.5)
    spend_drop = models.FloatField(_("spend drop: below baseline by (share)"), default=0.4)
    p_alive_threshold = models.FloatField(_("P(alive) falls below"), default=0.5)
    task_due_days = models.PositiveIntegerField(_("task due in (days)"), default=2)

    class Meta:
        verbose_name = _("warning policy")
        verbose_name_plural = _("warning policy")

    def clean(self):
        check_ranges(self, shares=("spend_drop", "p_alive_threshold"), positives=("gap_factor",))


class PlaybookEntry(models.Model):
    """Next-best action for a stage and tier; tier blank = any tier."""

    stage = models.CharField(_("lifecycle stage"), max_length=12, choices=Stage.choices)
    tier = models.CharField(_("value tier"), max_length=1, choices=Tier.choices, blank=True, default="")
    action_code = models.SlugField(_("action code"), max_length=40)
    text_en = models.CharField(_("action (English)"), max_length=200)
    text_zh = models.CharField(_("action (Chinese)"), max_length=200)

    class Meta:
        ordering = ["stage", "tier"]
        verbose_name = _("playbook entry")
        verbose_name_plural = _("playbook")
        constraints = [models.UniqueConstraint(fields=["stage", "tier"], name="playbook_stage_tier")]

    def __str__(self):
        return f"{self.stage}/{self.tier or '*'} → {self.action_code}"
