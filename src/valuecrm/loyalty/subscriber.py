"""Earning on orders: an outbox subscriber on order.created and order.status_changed.

Idempotent twice over: the outbox keeps one receipt per (subscriber, event), and the
ledger allows one earn and one reversal per order — a re-sent or replayed order event
credits nothing new. It runs in the worker (not inline) so an order import does not
wait for the ledger.
"""

from valuecrm.common import events

SUBSCRIBER_KEY = "loyalty.earn"
INTERESTS = frozenset({"order.created", "order.status_changed"})


def handle(envelopes: list[events.Envelope]) -> None:
    from valuecrm.loyalty.services import order_changed

    # One pass per order, in event order: the last status decides (earn, or earn then reverse).
    for order_id in dict.fromkeys(e.event.order_id for e in envelopes):
        order_changed(order_id=order_id)


def register() -> None:
    events.subscribe(SUBSCRIBER_KEY, handle, interests=INTERESTS, inline=False)
