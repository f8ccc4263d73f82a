"""Reads for the webhook delivery log."""

from django.db.models import QuerySet

from valuecrm.webhooks.models import WebhookDelivery


def webhook_deliveries(*, endpoint_id=None, status: str = "") -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.select_related("endpoint")
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries
