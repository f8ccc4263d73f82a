"""Earning on orders: outbox subscribers on order.created / order.status_changed and on
import.finished.

Idempotent twice over: the outbox keeps one receipt per (subscriber, event), and the
ledger allows one earn and one reversal per order — a re-sent or replayed order event
credits nothing new. They run in the worker (not inline) so an order import does not
wait for the ledger.

An import raises no event per order (its rows are history): it raises one import.finished
per run, and loyalty then credits the orders created since it last looked (a watermark,
services.orders_imported), set-based.
"""

from valuecrm.common import events

SUBSCRIBER_KEY = "loyalty.earn"
IMPORT_SUBSCRIBER_KEY = "loyalty.earn_import"
INTERESTS = frozenset({"order.created", "order.status_changed"})


def handle(envelopes: list[events.Envelope]) -> None:
    from valuecrm.loyalty.services import orders_changed

    # One pass per order, in event order: the last status decides (earn, or earn then reverse).
    # The whole batch at once (a dispatcher delivers hundreds): bulk reads and writes.
    orders_changed(order_ids=[e.event.order_id for e in envelopes])


def _order_import(event) -> bool:
    return event.kind == "orders" and event.created > 0


def handle_imports(envelopes: list[events.Envelope]) -> None:
    from valuecrm.loyalty.services import orders_imported

    for envelope in envelopes:
        orders_imported(run_id=envelope.event.run_id)


def register() -> None:
    events.subscribe(SUBSCRIBER_KEY, handle, interests=INTERESTS, inline=False)
    events.subscribe(IMPORT_SUBSCRIBER_KEY, handle_imports, interests=frozenset({"import.finished"}),
                     accepts=_order_import, inline=False)
