"""Who listens to events. Apps register subscribers in `AppConfig.ready()`.

A subscriber gets a batch of envelopes and must be idempotent by event id: the
dispatcher records a receipt per (subscriber, event) in the same transaction as
the subscriber's own writes, so an event is handled at most once per subscriber
even when the worker re-delivers it after a crash.

`inline` subscribers run in-process right after the emitting transaction commits
(cheap ones: queueing webhook deliveries); the others run in the Huey worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from valuecrm.common.events.catalogue import Event


@dataclass(frozen=True)
class Envelope:
    seq: int
    event_id: str  # UUID hex
    name: str
    event: Event
    occurred_at: datetime
    actor_kind: str
    actor_user_id: int | None
    token_id: int | None
    origin: str
    causation_id: str | None
    depth: int


@dataclass(frozen=True)
class Subscriber:
    key: str
    handle: Callable[[list[Envelope]], None]
    # Names it wants; a callable is asked once per dispatch (e.g. webhooks: the
    # event types some active endpoint subscribes to). None means every event.
    interests: Callable[[], Iterable[str] | None] | frozenset | None = None
    inline: bool = True
    # Narrower than a name, decided on the event alone (no query): e.g. only the
    # customer.updated events that change a consent field. An event it refuses costs no
    # delivery, no receipt and no transaction.
    accepts: Callable[[Event], bool] | None = None

    def wanted(self) -> frozenset | None:
        names = self.interests() if callable(self.interests) else self.interests
        return None if names is None else frozenset(names)

    def takes(self, event: Event | None, names: frozenset | None) -> bool:
        """Whether this subscriber must handle `event`, given its `names` of this dispatch."""
        if event is None or (names is not None and event.name not in names):
            return False
        return self.accepts is None or self.accepts(event)


_REGISTRY: dict[str, Subscriber] = {}


def subscribe(key: str, handle, *, interests=None, inline: bool = True, accepts=None) -> Subscriber:
    sub = Subscriber(key=key, handle=handle, interests=interests, inline=inline, accepts=accepts)
    _REGISTRY[key] = sub
    return sub


def unsubscribe(key: str) -> None:
    _REGISTRY.pop(key, None)


def subscribers() -> list[Subscriber]:
    return list(_REGISTRY.values())


def subscriber(key: str) -> Subscriber | None:
    return _REGISTRY.get(key)
