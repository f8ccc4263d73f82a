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
    from valuecrm.loyalty.services import orders_changed

    # One pass per order, in event order: the last status decides (earn, or earn then reverse).
    # The whole batch at once (an import delivers thousands): bulk reads and one insert.
    orders_changed(order_ids=[e.event.order_id for e in envelopes])


def register() -> None:
    events.subscribe(SUBSCRIBER_KEY, handle, interests=INTERESTS, inline=False)
