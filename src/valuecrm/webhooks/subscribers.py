"""Outbox subscriber: domain events → webhook deliveries.

Runs after commit, so the payload is read fresh from the database and describes
what is stored. Payloads reuse the API's output schemas: a webhook body's "data"
looks exactly like the API's answer for the same record. The delivery's event id
is the domain event's id, so a re-delivered event never queues a second delivery.
"""

from valuecrm.common import events
from valuecrm.webhooks.models import WebhookEndpoint, WebhookEvent
from valuecrm.webhooks.webhooks import event_publish

# Domain event → webhook event name (the webhook names predate the domain events
# and are a public contract, so "stage.changed" keeps its name).
WEBHOOK_NAMES = {
    events.CustomerCreated.name: WebhookEvent.CUSTOMER_CREATED,
    events.CustomerUpdated.name: WebhookEvent.CUSTOMER_UPDATED,
    events.CustomerMerged.name: WebhookEvent.CUSTOMER_MERGED,
    events.OrderCreated.name: WebhookEvent.ORDER_CREATED,
    events.CustomerStageChanged.name: WebhookEvent.STAGE_CHANGED,
}
_BY_WEBHOOK = {v: k for k, v in WEBHOOK_NAMES.items()}


def interests() -> set[str]:
    # Cheap check first: most installations have no endpoint for most events.
    subscribed = set()
    for types in WebhookEndpoint.objects.filter(active=True).values_list("event_types", flat=True):
        subscribed.update(types)
    return {_BY_WEBHOOK[t] for t in subscribed if t in _BY_WEBHOOK}


def _customer_data(customer_id: int) -> dict | None:
    from valuecrm.customers.models import Customer
    from valuecrm.customers.schemas import CustomerOut

    customer = Customer.objects.prefetch_related("tags").filter(pk=customer_id).first()
    return None if customer is None else CustomerOut.from_orm(customer).model_dump(mode="json")


def _order_data(order_id: int) -> dict | None:
    from valuecrm.orders.models import Order
    from valuecrm.orders.schemas import OrderOut

    order = Order.objects.prefetch_related("lines").filter(pk=order_id).first()
    return None if order is None else OrderOut.from_orm(order).model_dump(mode="json")


def _data(envelope: events.Envelope) -> dict | None:
    e = envelope.event
    if isinstance(e, events.CustomerMerged):
        return {"merge_id": e.merge_id, "survivor_id": e.customer_id, "merged_id": e.merged_id,
                "customer": _customer_data(e.customer_id)}
    if isinstance(e, events.CustomerStageChanged):
        return {"customer_id": e.customer_id, "from_stage": e.from_stage, "to_stage": e.to_stage,
                "changed_on": e.changed_on, "run_id": e.run_id}
    if isinstance(e, events.OrderCreated):
        order = _order_data(e.order_id)
        return None if order is None else {"order": order}
    customer = _customer_data(e.customer_id)
    return None if customer is None else {"customer": customer}


def handle(envelopes: list[events.Envelope]) -> None:
    for envelope in envelopes:
        data = _data(envelope)
        if data is not None:  # the record is gone again: nothing true to send
            event_publish(WEBHOOK_NAMES[envelope.name], data, event_id=envelope.event_id)


def register() -> None:
    events.subscribe("webhooks", handle, interests=interests, inline=True)
