"""Duplicates and merges, outbound webhooks and inbound order sources.

A merge deletes the merged-away customer after writing its full state (and the
survivor's) into the CustomerMerge row, together with the primary keys of every
related row it moved. That snapshot is what makes "undo merge" exact.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.common.encryption import EncryptedJSONField, EncryptedLongTextField

# The shared value each reason names (a phone, an e-mail, a birthday …) is stored encrypted.
EVIDENCE_PATHS = ("reasons.*.detail",)


class CandidateStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("duplicate candidate", "Open")
    DISMISSED = "dismissed", _("Not a duplicate")


class DuplicateCandidate(models.Model):
    """Two existing customers that look like the same one; customer_a has the lower id."""

    customer_a = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(_("score"), default=0)  # points clamped to 0–100
    # Evidence points before clamping: orders the pairs that all reach 100.
    points = models.SmallIntegerField(_("evidence points"), default=0)
    # The fields that agree: "email", "phone", "name", "birthday", "city", "company".
    matched_on = models.JSONField(_("matched on"), default=list)
    # {"total": points, "reasons": [{"code": "same_phone", "points": 45, "detail": "+86…"}, …]}
    # (duplicate_evidence.PairScore.evidence)
    evidence = EncryptedJSONField(_("evidence"), default=dict, paths=EVIDENCE_PATHS)
    status = models.CharField(_("status"), max_length=10, choices=CandidateStatus.choices,
                              default=CandidateStatus.OPEN, db_index=True)
    found_at = models.DateTimeField(_("found at"), default=timezone.now)
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    class Meta:
        ordering = ["-score", "-points", "customer_a_id", "customer_b_id"]
        constraints = [
            models.UniqueConstraint(fields=["customer_a", "customer_b"], name="duplicate_candidate_pair"),
            models.CheckConstraint(condition=models.Q(customer_a__lt=models.F("customer_b")),
                                   name="duplicate_candidate_ordered"),
        ]


class CustomerMerge(models.Model):
    """One merge of `merged_pk` into `survivor_pk`, with what is needed to undo it."""

    # Plain ids: the merged customer no longer exists, and the survivor may be
    # deleted later without this record blocking it.
    survivor_pk = models.BigIntegerField(_("survivor"), db_index=True)
    merged_pk = models.BigIntegerField(_("merged customer"), db_index=True)
    survivor_name = models.CharField(_("survivor name"), max_length=200)
    merged_name = models.CharField(_("merged name"), max_length=200)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("merged by"))
    performed_at = models.DateTimeField(_("merged at"), default=timezone.now)
    # {field: "survivor" | "merged"} as chosen by the user
    field_choices = models.JSONField(_("field choices"), default=dict)
    # {"survivor": <serialized row>, "merged": <serialized row>,
    #  "moved": [{"model": "app.Model", "field": "customer", "pks": [...]}],
    #  "removed": [<serialized rows deleted because the survivor already had them>],
    #  "restored": [<serialized rows written back as they were on undo>]}
    # The encrypted fields' values are tokens in it (merge.row_snapshot), re-encrypted by
    # `valuecrm keys rotate` through this field.
    snapshot = EncryptedJSONField(default=dict, paths=())
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-performed_at", "-id"]


class WebhookEvent(models.TextChoices):
    CUSTOMER_CREATED = "customer.created", "customer.created"
    CUSTOMER_UPDATED = "customer.updated", "customer.updated"
    CUSTOMER_MERGED = "customer.merged", "customer.merged"
    ORDER_CREATED = "order.created", "order.created"
    STAGE_CHANGED = "stage.changed", "stage.changed"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret)
    event_types = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("delivery status", "Pending")
    RETRYING = "retrying", _("Retrying")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDeliveryQuerySet(models.QuerySet):
    def due(self, now=None):
        now = now or timezone.now()
        return self.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
                           next_attempt_at__lte=now)


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(_("event"), max_length=40, db_index=True)
    event_id = models.CharField(_("event id"), max_length=40, db_index=True)
    # The exact bytes sent (as text): the signature is over them, so they are kept verbatim —
    # stored as one encrypted token (it holds the customer's e-mail and phone), read back in clear.
    body = EncryptedLongTextField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    response_excerpt = models.TextField(_("response"), blank=True, default="")
    error = models.CharField(_("error"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]


def new_inbound_secret() -> str:
    return "insec_" + secrets.token_urlsafe(32)


class InboundSource(models.Model):
    """A shop or ERP allowed to push orders to /api/v1/inbound/orders/<key>."""

    key = models.SlugField(_("source key"), max_length=50, unique=True,
                           help_text=_("Used in the URL and stored as the order's source."))
    name = models.CharField(_("name"), max_length=100)
    secret = models.CharField(_("shared secret"), max_length=100, default=new_inbound_secret)
    # Orders and new customers are written as this user (visibility and history).
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("write as user"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key
