"""Consent ledger, the consent texts it cites, and the logs of exports and erasures (PIPL).

The ledger is append-only: a change of mind is a new row, never an update, so the
record shows what the person agreed to, when, through which source and under
which wording. `ConsentState` is a cache of the newest row per (customer, channel,
purpose), rewritten in the same transaction as each ledger row and checked
against the ledger by `selectors.consent_cache_mismatches`.

The logs hold ids, counts and table names only — never the personal data they
are about, so they survive the erasure they prove.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Channel(models.TextChoices):
    EMAIL = "email", pgettext_lazy("channel", "Email")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone")
    WECHAT = "wechat", _("WeChat")
    POST = "post", _("Post")
    # Purposes that are not about a channel (profiling, automated decisions, sensitive data).
    ANY = "any", _("Any channel")


class Purpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing messages")
    SERVICE = "service", _("Service messages")
    PERSONALISED_MARKETING = "personalised_marketing", _("Personalised marketing")
    AUTOMATED_DECISIONS = "automated_decisions", _("Automated decisions")
    SENSITIVE_DATA = "sensitive_data", _("Sensitive personal data")


class Source(models.TextChoices):
    FORM = "form", _("Form")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe")
    MIGRATED = "migrated", _("Migrated")
    ERASURE = "erasure", _("Erasure")


class ConsentText(models.Model):
    """A worded consent request, versioned: a ledger row cites the version the person saw."""

    purpose = models.CharField(_("purpose"), max_length=32, choices=Purpose.choices)
    version = models.PositiveIntegerField(_("version"))
    body = models.TextField(_("wording"))
    body_zh = models.TextField(_("Chinese wording"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["purpose", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "version"], name="consent_text_purpose_version"),
        ]

    def __str__(self):
        return f"{self.purpose} v{self.version}"


class ConsentRecord(models.Model):
    """One grant or withdrawal. Never updated or deleted by the application."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="consent_records", db_index=False)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=32, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    recorded_at = models.DateTimeField(_("when"), default=timezone.now)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    text = models.ForeignKey(ConsentText, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="records", verbose_name=_("wording"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    # Where it came from beyond the source kind (an import run, a campaign), never PII.
    reference = models.CharField(_("reference"), max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["customer", "channel", "purpose", "recorded_at"])]


class ConsentState(models.Model):
    """Cache: the newest ledger row per (customer, channel, purpose)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="consent_states", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    granted = models.BooleanField()
    record = models.ForeignKey(ConsentRecord, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel", "purpose"], name="consent_state_key"),
        ]
        indexes = [models.Index(fields=["channel", "purpose", "granted"])]


class PersonalDataExport(models.Model):
    """Who exported one person's data, when and how much (no content)."""

    customer = models.ForeignKey("customers.Customer", null=True, on_delete=models.SET_NULL,
                                 related_name="+")
    customer_ref = models.PositiveBigIntegerField(_("customer id"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    file_format = models.CharField(_("format"), max_length=8)
    counts = models.JSONField(_("sections"), default=dict)
    origin = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]


class ErasureReason(models.TextChoices):
    # Codes, not free text: the proof must not carry personal data typed into a reason.
    REQUEST = "request", _("The person asked for erasure")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    RETENTION = "retention", _("Retention period over")
    UNLAWFUL = "unlawful", _("Processing no longer lawful")


class Erasure(models.Model):
    """Proof of one erasure: who, when, and which tables and how many rows were touched."""

    customer = models.OneToOneField("customers.Customer", null=True, on_delete=models.SET_NULL,
                                    related_name="erasure")
    customer_ref = models.PositiveBigIntegerField(_("customer id"), unique=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                              related_name="+")
    erased_at = models.DateTimeField(_("erased at"), default=timezone.now)
    duration_seconds = models.FloatField(_("duration (s)"), default=0.0)
    reason = models.CharField(_("reason"), max_length=20, choices=ErasureReason.choices,
                              default=ErasureReason.REQUEST)
    # {"<db table>": rows touched}; "kept" lists what stays as anonymous facts.
    tables = models.JSONField(_("tables"), default=dict)
    kept = models.JSONField(_("kept"), default=dict)
    orders_kept = models.PositiveIntegerField(_("orders kept"), default=0)
    origin = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["-erased_at", "-id"]

    @property
    def rows_touched(self) -> int:
        return sum(self.tables.values())
