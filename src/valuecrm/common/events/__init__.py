"""Domain events: typed, written to an outbox with the change, delivered after commit.

    from valuecrm.common import events
    events.emit(events.CustomerCreated(customer_id=c.pk), actor=actor)

See catalogue.py for the events, outbox.py for the delivery guarantees and
subscribers.py for how an app listens (register in `AppConfig.ready()`).
"""

from valuecrm.common.events.catalogue import *  # noqa: F403 — the catalogue is the public API
from valuecrm.common.events.catalogue import EVENT_TYPES, Event
from valuecrm.common.events.context import (
    ActorKind,
    Cause,
    acting,
    caused_by,
    current_cause,
    current_origin,
)
from valuecrm.common.events.outbox import (
    collecting,
    deliver,
    deliver_seqs,
    dispatch,
    emit,
    emit_many,
    purge_dispatched,
    redeliver_stale,
)
from valuecrm.common.events.rows import ids_in, insert_rows, insert_rows_returning_ids
from valuecrm.common.events.subscribers import Envelope, subscribe, subscribers, unsubscribe

__all__ = [
    "EVENT_TYPES", "ActorKind", "collecting", "Cause", "Envelope", "Event", "acting", "caused_by", "current_cause",
    "current_origin", "deliver", "deliver_seqs", "dispatch", "emit", "emit_many", "ids_in", "insert_rows", "insert_rows_returning_ids", "purge_dispatched",
    "redeliver_stale", "subscribe", "subscribers", "unsubscribe",
]
