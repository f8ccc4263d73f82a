"""Domain events → webhook deliveries.

Every signal here is sent after commit, so the payload is read fresh from the
database and describes what is stored. Payloads reuse the API's output schemas:
a webhook body's "data" looks exactly like the API's answer for the same record.
"""

from django.dispatch import receiver

from valuecrm.common import events
from valuecrm.insights.signals import customer_stage_changed
from valuecrm.integrations.models import WebhookEndpoint, WebhookEvent
from valuecrm.integrations.webhooks import event_publish


def _subscribed(event: str) -> bool:
    # Cheap check first: most installations have no endpoint for most events.
    return any(event in e for e in WebhookEndpoint.objects.filter(active=True).values_list("event_types", flat=True))


def _customer_data(customer_id: int) -> dict | None:
    from valuecrm.customers.models import Customer
    from valuecrm.customers.schemas import CustomerOut

    customer = Customer.objects.prefetch_related("tags").filter(pk=customer_id).first()
    return None if customer is None else CustomerOut.from_orm(customer).model_dump(mode="json")


@receiver(events.customer_created)
def on_customer_created(sender, customer_id, **kwargs):
    if _subscribed(WebhookEvent.CUSTOMER_CREATED) and (data := _customer_data(customer_id)):
        event_publish(WebhookEvent.CUSTOMER_CREATED, {"customer": data})


@receiver(events.customer_updated)
def on_customer_updated(sender, customer_id, **kwargs):
    if _subscribed(WebhookEvent.CUSTOMER_UPDATED) and (data := _customer_data(customer_id)):
        event_publish(WebhookEvent.CUSTOMER_UPDATED, {"customer": data})


@receiver(events.customer_merged)
def on_customer_merged(sender, merge_id, survivor_id, merged_id, **kwargs):
    if _subscribed(WebhookEvent.CUSTOMER_MERGED):
        event_publish(WebhookEvent.CUSTOMER_MERGED, {
            "merge_id": merge_id, "survivor_id": survivor_id, "merged_id": merged_id,
            "customer": _customer_data(survivor_id),
        })


@receiver(events.order_created)
def on_order_created(sender, order_id, **kwargs):
    if not _subscribed(WebhookEvent.ORDER_CREATED):
        return
    from valuecrm.sales.models import Order
    from valuecrm.sales.schemas import OrderOut

    order = Order.objects.prefetch_related("lines").filter(pk=order_id).first()
    if order is not None:
        event_publish(WebhookEvent.ORDER_CREATED, {"order": OrderOut.from_orm(order).model_dump(mode="json")})


@receiver(customer_stage_changed)
def on_stage_changed(sender, customer_id, from_stage, to_stage, changed_on, run_id, **kwargs):
    if _subscribed(WebhookEvent.STAGE_CHANGED):
        event_publish(WebhookEvent.STAGE_CHANGED, {
            "customer_id": customer_id, "from_stage": from_stage, "to_stage": to_stage,
            "changed_on": changed_on, "run_id": run_id,
        })
