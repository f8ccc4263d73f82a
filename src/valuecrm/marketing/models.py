"""Marketing: segments, message templates, campaigns with randomized hold-outs, the
per-message delivery log and the suppression list."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.common.models import TimeStampedModel
from valuecrm.common.money import MoneyField


class Channel(models.TextChoices):
    EMAIL = "email", pgettext_lazy("channel", "Email")
    SMS = "sms", _("Short message")
    WECHAT = "wechat", _("WeChat / WeCom")


class Segment(TimeStampedModel):
    """A dynamic audience: the customer list's filter JSON ({key: value}), counted live."""

    name = models.CharField(_("name"), max_length=120)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class SegmentSnapshot(models.Model):
    """The segment's size at one moment, with the members frozen (a static snapshot)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    size = models.PositiveIntegerField()
    customer_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["-taken_at", "-id"]


class MessageTemplate(TimeStampedModel):
    name = models.CharField(_("name"), max_length=120)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    subject = models.CharField(_("subject"), max_length=200, blank=True, default="")
    body_text = models.TextField(_("text"), blank=True, default="")
    body_html = models.TextField(_("HTML"), blank=True, default="")
    # The same message in the other language (linked both ways): a customer whose
    # preferred language is that one receives it instead; everyone else this one.
    translation = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("same message in the other language"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def for_language(self, language: str) -> "MessageTemplate":
        """The version for a customer who prefers ``language`` ("" = the shop default):
        the linked translation when it is in that language, otherwise this template."""
        other = self.translation if self.translation_id else None
        if language and language != self.language and other is not None and other.language == language:
            return other
        return self


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")


class AbCriterion(models.TextChoices):
    OPEN_RATE = "open_rate", _("Open rate")
    CLICK_RATE = "click_rate", _("Click rate")
    CONVERSION = "conversion", _("Conversion")


class Campaign(TimeStampedModel):
    name = models.CharField(_("name"), max_length=120)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="campaigns", verbose_name=_("segment"))
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="campaigns",
                                 verbose_name=_("template"))
    holdout_percent = models.DecimalField(_("hold-out %"), max_digits=5, decimal_places=2, default=10)
    attribution_days = models.PositiveIntegerField(_("attribution window (days)"), default=14)
    cost = MoneyField(_("cost"))
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices,
                              default=CampaignStatus.DRAFT)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    # Audience option: only the top N of the audience by predicted uplift × CLV (the
    # newest uplift model at launch, recorded in uplift_model); the hold-out is then
    # drawn from those N as usual, so the campaign still measures its own effect.
    target_top_n = models.PositiveIntegerField(_("top N by predicted uplift × CLV"), null=True, blank=True)
    uplift_model = models.ForeignKey("marketing.UpliftModel", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="campaigns", verbose_name=_("uplift model"))
    # A/B variants (CampaignVariant rows, 2–4): the test slice is this share of the
    # treatment group, split evenly; after ab_wait_hours the winner by ab_criterion
    # goes to the rest — or variant A when the difference is not significant.
    ab_test_percent = models.DecimalField(_("A/B test slice %"), max_digits=5, decimal_places=2, default=20)
    ab_wait_hours = models.PositiveIntegerField(_("A/B wait (hours)"), default=24)
    ab_criterion = models.CharField(_("A/B winner criterion"), max_length=12, choices=AbCriterion.choices,
                                    default=AbCriterion.CLICK_RATE)
    ab_winner = models.CharField(_("A/B winner"), max_length=1, blank=True, default="")
    ab_decided_at = models.DateTimeField(null=True, blank=True)
    ab_decision = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    @property
    def assignment_key(self) -> str:
        return f"campaign-{self.pk}"


class CampaignVariant(models.Model):
    """One template variant of an A/B campaign: A (the default), B, C, D."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=1)
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["campaign", "label"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="campaign_variant_unique")]


class Group(models.TextChoices):
    TREATMENT = "treatment", _("Treatment")
    CONTROL = "control", _("Control (hold-out)")
    EXCLUDED = "excluded", _("Excluded (global control)")


class MemberStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    HELD_OUT = "held_out", _("Held out")
    NO_CONSENT = "no_consent", _("No consent")
    SUPPRESSED = "suppressed", _("Suppressed")
    CAPPED = "capped", _("Frequency cap")
    NO_ADDRESS = "no_address", _("No address")
    FAILED = "failed", _("Failed")


class CampaignMember(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    group = models.CharField(max_length=10, choices=Group.choices)
    status = models.CharField(max_length=12, choices=MemberStatus.choices, default=MemberStatus.QUEUED)
    enrolled_at = models.DateTimeField(default=timezone.now)
    # A/B campaigns: the test-slice variant ("A"–"D"); "" for the rest (they get the winner).
    variant = models.CharField(max_length=1, blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_member_unique")]
        indexes = [models.Index(fields=["campaign", "group", "status"])]


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


def _token() -> str:
    return secrets.token_urlsafe(18)


class Message(models.Model):
    """One message to one customer. ``key`` is the idempotency key: campaign × customer
    (or the automation rule's event × customer), unique, so no message goes out twice."""

    key = models.CharField(max_length=120, unique=True)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="messages")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=254, blank=True, default="")
    template = models.ForeignKey(MessageTemplate, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    reason = models.CharField(max_length=300, blank=True, default="")
    token = models.CharField(max_length=40, unique=True, default=_token)
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["customer", "sent_at"]), models.Index(fields=["campaign", "status"])]


class Suppression(models.Model):
    """Never send marketing on this channel to this customer again (unsubscribe, bounce, by hand)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    reason = models.CharField(max_length=100, default="unsubscribed")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "channel"], name="suppression_unique")]


class ProductAffinity(models.Model):
    """"Bought A, also bought B": rebuilt from order lines by recommendations_rebuild()."""

    product = models.ForeignKey("sales.Product", on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey("sales.Product", on_delete=models.CASCADE, related_name="+")
    lift = models.FloatField()
    support = models.PositiveIntegerField()

    class Meta:
        ordering = ["product", "-lift"]
        constraints = [models.UniqueConstraint(fields=["product", "other"], name="product_affinity_unique")]


class UpliftModel(models.Model):
    """One trained two-model uplift estimate (marketing.uplift), its training campaigns
    and its Qini evaluation on a later campaign. Coefficients are stored as numbers."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    trained_at = models.DateTimeField(_("trained at"), default=timezone.now)
    trained_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    training_campaign_ids = models.JSONField(_("training campaigns"), default=list)
    evaluation_campaign = models.ForeignKey(Campaign, null=True, on_delete=models.SET_NULL, related_name="+",
                                            verbose_name=_("evaluation campaign"))
    n_train_treatment = models.PositiveIntegerField(default=0)
    n_train_control = models.PositiveIntegerField(default=0)
    n_eval_treatment = models.PositiveIntegerField(default=0)
    n_eval_control = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict)
    feature_source = models.CharField(max_length=20, default="snapshot")  # "snapshot", "current" or "orders_only"
    qini_coefficient = models.FloatField(_("Qini coefficient"))
    auuc = models.FloatField(_("AUUC"))
    qini_curve = models.JSONField(default=dict)  # {"fractions": [...], "curve": [...], "random": [...]}

    class Meta:
        ordering = ["-version"]

    def __str__(self):
        return f"uplift v{self.version}"
