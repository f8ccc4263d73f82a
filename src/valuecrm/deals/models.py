"""Pipelines with ordered stages, deals, the stage log, and the 公海 pool's rules and moves.

Every stage change of a deal appends one `DealStageLog` row (from, to, when, who), so
time in stage and cycle length are read from the log, never estimated.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from valuecrm.common.models import TimeStampedModel
from valuecrm.common.money import CurrencyField, MoneyField
from valuecrm.customers.visibility import AboutCustomerQuerySet, customer_visibility_q


def _localised(en: str, zh: str) -> str:
    return zh if zh and (get_language() or "").lower().startswith("zh") else en


class Pipeline(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100)
    name_zh = models.CharField(_("name (中文)"), max_length=100, blank=True, default="")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "id"]

    @property
    def label(self) -> str:
        return _localised(self.name, self.name_zh)

    def __str__(self):
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", pgettext_lazy("deal status", "Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=100)
    name_zh = models.CharField(_("name (中文)"), max_length=100, blank=True, default="")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # Default win probability of a deal in this stage, 0–1.
    probability = models.FloatField(_("default probability"), default=0.1)
    kind = models.CharField(_("kind"), max_length=4, choices=StageKind.choices, default=StageKind.OPEN)
    rotting_days = models.PositiveSmallIntegerField(_("rotting after (days)"), null=True, blank=True)

    class Meta:
        ordering = ["pipeline", "position", "id"]

    @property
    def label(self) -> str:
        return _localised(self.name, self.name_zh)

    def __str__(self):
        return self.name


class LostReason(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_zh = models.CharField(_("name (中文)"), max_length=100, blank=True, default="")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]

    @property
    def label(self) -> str:
        return _localised(self.name, self.name_zh)

    def __str__(self):
        return self.name


class DealStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("deal status", "Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    CLOSED = "closed", pgettext_lazy("forecast category", "Closed")
    OMITTED = "omitted", _("Omitted")


class DealSource(models.TextChoices):
    INBOUND = "inbound", pgettext_lazy("lead source", "Inbound")
    REFERRAL = "referral", _("Referral")
    OUTBOUND = "outbound", pgettext_lazy("lead source", "Outbound")
    EXISTING = "existing", pgettext_lazy("deal type", "Existing customer")
    EVENT = "event", _("Trade show / event")
    PARTNER = "partner", _("Partner")
    OTHER = "other", _("Other")


class DealQuerySet(models.QuerySet):
    def visible_to(self, user):
        # A deal has its own owner and team: the customers' rule applied to them.
        return self.filter(customer_visibility_q(user))

    def open(self):
        return self.filter(status=DealStatus.OPEN)


class Deal(TimeStampedModel):
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="deals",
                                 verbose_name=_("customer"))
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    name = models.CharField(_("name"), max_length=200)
    amount = MoneyField(_("amount"))
    currency = CurrencyField(_("currency"))
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="deals", verbose_name=_("owner"))
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="deals", verbose_name=_("team"))
    source = models.CharField(_("source"), max_length=20, choices=DealSource.choices, default=DealSource.INBOUND)
    status = models.CharField(_("status"), max_length=4, choices=DealStatus.choices, default=DealStatus.OPEN)
    lost_reason = models.ForeignKey(LostReason, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="deals", verbose_name=_("lost reason"))
    next_step = models.CharField(_("next step"), max_length=200, blank=True, default="")
    # Set by a person; the model never overwrites it. NULL = use the prediction.
    probability = models.FloatField(_("probability (manual)"), null=True, blank=True)
    predicted_probability = models.FloatField(_("predicted probability"), null=True, blank=True)
    # [{"feature": "source", "value": "referral", "effect": +0.12}, ...] best first
    prediction_factors = models.JSONField(_("prediction factors"), default=list, blank=True)
    forecast_category = models.CharField(_("forecast category"), max_length=10, choices=ForecastCategory.choices,
                                         default=ForecastCategory.PIPELINE)
    stage_entered_at = models.DateTimeField(_("in stage since"), default=timezone.now)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    order = models.OneToOneField("sales.Order", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="deal", verbose_name=_("order"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    history = HistoricalRecords(excluded_fields=["updated_at", "predicted_probability", "prediction_factors"])
    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["pipeline", "status", "stage"]),
            models.Index(fields=["customer", "opened_at"]),
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["status", "expected_close_date"]),
            models.Index(fields=["status", "closed_at"]),
            # The board's cards: a column's biggest deals first, read in index order.
            models.Index(fields=["stage", "-amount", "-id"], name="deals_card_order"),
        ]

    @property
    def effective_probability(self) -> float:
        if self.status == DealStatus.WON:
            return 1.0
        if self.status == DealStatus.LOST:
            return 0.0
        if self.probability is not None:
            return self.probability
        if self.predicted_probability is not None:
            return self.predicted_probability
        return self.stage.probability

    def __str__(self):
        return self.name


class DealLine(models.Model):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("sales.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3, default=1)
    unit_price = MoneyField(_("unit price"))

    class Meta:
        ordering = ["id"]

    @property
    def line_total(self):
        return self.quantity * self.unit_price


class ContactRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", _("Decision maker")
    INFLUENCER = "influencer", _("Influencer")
    USER = "user", pgettext_lazy("contact role", "User")


class DealContact(models.Model):
    """A contact person of the deal's customer (a person whose `company` is the customer)
    and the part they play in this deal."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contact_roles")
    person = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="deal_roles",
                               verbose_name=_("contact person"))
    role = models.CharField(_("role"), max_length=14, choices=ContactRole.choices, default=ContactRole.USER)

    class Meta:
        ordering = ["deal", "role", "id"]
        constraints = [models.UniqueConstraint(fields=["deal", "person"], name="deals_contact_once")]


class DealStageLog(models.Model):
    """Append-only: one row per stage change (the first row has no from_stage)."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_log")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(_("when"), default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["deal", "changed_at", "id"]
        indexes = [models.Index(fields=["deal", "changed_at"])]


class Quota(models.Model):
    """A rep's sales target for one period ("2027-Q1" or "2027-03"), in the default currency."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotas")
    period = models.CharField(_("period"), max_length=7)
    amount = MoneyField(_("quota"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "period"], name="deals_quota_owner_period")]


class ForecastSnapshot(models.Model):
    """The weekly picture of one period's forecast per owner (NULL owner = everyone)."""

    taken_on = models.DateField(_("taken on"))
    period = models.CharField(_("period"), max_length=7)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="+")
    weighted = MoneyField(_("weighted pipeline"))
    commit = MoneyField(_("commit"))
    best_case = MoneyField(_("best case"))
    closed = MoneyField(_("closed"))

    class Meta:
        ordering = ["-taken_on"]
        constraints = [models.UniqueConstraint(fields=["taken_on", "period", "owner"],
                                               name="deals_snapshot_unique")]


class WinModel(models.Model):
    """One training of a pipeline's win-probability model and its held-out scores."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="win_models")
    trained_at = models.DateTimeField(default=timezone.now)
    chosen = models.CharField(max_length=20)  # "naive_bayes" | "logistic" | "stage_default"
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    brier_model = models.FloatField(null=True)
    brier_naive_bayes = models.FloatField(null=True)
    brier_logistic = models.FloatField(null=True)
    brier_stage_default = models.FloatField(null=True)
    roc_auc = models.FloatField(null=True)
    split_at = models.DateTimeField(null=True)
    blob = models.BinaryField()  # the fitted engine model (pickle of plain numpy/sklearn objects)

    class Meta:
        ordering = ["-trained_at", "-id"]


# ---------------------------------------------------------------- 公海 pool

class PoolRule(models.Model):
    """After `days` without a logged follow-up an owned customer goes back to the pool.

    A rule matches by value tier and/or lifecycle stage (blank = any); the most specific
    matching rule wins. `warn_only` (default for tier A) warns the owner and the manager
    instead of reclaiming silently."""

    tier = models.CharField(_("value tier"), max_length=1, blank=True, default="")
    stage = models.CharField(_("lifecycle stage"), max_length=12, blank=True, default="")
    days = models.PositiveSmallIntegerField(_("days without follow-up"))
    warn_only = models.BooleanField(_("warn instead of reclaiming"), default=False)

    class Meta:
        ordering = ["tier", "stage", "id"]
        constraints = [models.UniqueConstraint(fields=["tier", "stage"], name="deals_pool_rule_unique")]


class ClaimCap(models.Model):
    role = models.CharField(_("role"), max_length=20, unique=True)
    per_day = models.PositiveSmallIntegerField(_("claims per day"))


class PoolMoveKind(models.TextChoices):
    CLAIMED = "claimed", _("Claimed")
    RELEASED = "released", _("Released")
    RECLAIMED = "reclaimed", _("Reclaimed")
    WARNED = "warned", _("Reclaim warning")


class PoolMove(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="pool_moves")
    kind = models.CharField(_("kind"), max_length=10, choices=PoolMoveKind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", verbose_name=_("user"))
    from_owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    reason = models.CharField(_("reason"), max_length=200, blank=True, default="")
    at = models.DateTimeField(_("when"), default=timezone.now)

    objects = AboutCustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "kind", "at"]), models.Index(fields=["customer", "at"])]


# ---------------------------------------------------------------- saved views of the board and the list

class DealViewVisibility(models.TextChoices):
    PRIVATE = "private", _("Only me")
    TEAM = "team", _("My team")
    EVERYONE = "everyone", _("Everyone")


class DealViewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Own views; team views of the user's team (all team views for whoever sees every
        record — the records' visibility rule); views shared with everyone."""
        from valuecrm.accounts.roles import Scope

        if not user or not user.is_authenticated:
            return self.none()
        q = models.Q(owner_id=user.pk) | models.Q(visibility=DealViewVisibility.EVERYONE)
        if user.scope == Scope.ALL:
            q |= models.Q(visibility=DealViewVisibility.TEAM)
        elif user.team_id:
            q |= models.Q(visibility=DealViewVisibility.TEAM, team_id=user.team_id)
        return self.filter(q)


class DealView(TimeStampedModel):
    """Named filters of the deal board and list (`DealFilters` query parameters)."""

    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deal_views")
    visibility = models.CharField(_("shared with"), max_length=8, choices=DealViewVisibility.choices,
                                  default=DealViewVisibility.PRIVATE)
    # The owner's team when shared with the team (a later move of the owner does not re-share it).
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    filters = models.JSONField(default=dict)  # {"owner": "3", "amount_min": "5000", ...} as in the query string

    objects = DealViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]


class DealViewDefault(models.Model):
    """The view a user's board and list open with."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    view = models.ForeignKey(DealView, on_delete=models.CASCADE, related_name="defaults")
