"""Outbound webhooks (endpoints and their delivery log) and inbound order sources.

The tables keep the names they had in the integrations app (integrations_*): the split
moved the models, not the rows (migrations/0001_initial.py).
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.common.encryption import EncryptedLongTextField


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
        db_table = "integrations_webhookendpoint"
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
        db_table = "integrations_webhookdelivery"
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
        db_table = "integrations_inboundsource"
        ordering = ["key"]

    def __str__(self):
        return self.key
