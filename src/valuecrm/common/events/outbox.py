"""emit() → outbox row in the caller's transaction → dispatch after commit.

Guarantees:
- an event exists if and only if its change committed (same transaction);
- every interested subscriber handles it at most once (a receipt row is written
  in the subscriber's transaction) and at least once (the worker re-delivers
  rows that stay undispatched, e.g. after a crash between commit and delivery);
- a failing subscriber neither blocks the others nor the emitting request; its
  error is kept on the row and the sweep retries it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from valuecrm.common.events.catalogue import EVENT_TYPES, Event
from valuecrm.common.events.context import ActorKind, current_cause, current_origin
from valuecrm.common.events.subscribers import Envelope, Subscriber, subscriber, subscribers

log = logging.getLogger(__name__)

BULK_BATCH = 2000
# Rows younger than this are left to the after-commit dispatch of their own request.
REDELIVER_AFTER = timedelta(seconds=30)
MAX_ATTEMPTS = 10


def emit(event: Event, *, actor=None) -> str:
    """Record `event` in the current transaction; returns its event id (hex)."""
    return emit_many([event], actor=actor)[0]


def emit_many(events: Sequence[Event], *, actor=None) -> list[str]:
    """Record many events with one INSERT per BULK_BATCH rows (bulk paths use this)."""
    from valuecrm.common.models import OutboxEvent

    if not events:
        return []
    origin, cause = current_origin(), current_cause()
    actor_id = getattr(actor, "pk", None)
    kind = origin.actor_kind
    if kind == ActorKind.SYSTEM and actor_id is not None:
        kind = ActorKind.USER
    now = timezone.now()
    rows = [
        OutboxEvent(
            event_id=uuid.uuid4(), name=e.name, payload=e.payload(), customer_id=e.customer_id,
            occurred_at=now, actor_kind=kind, actor_user_id=actor_id, token_id=origin.token_id,
            origin=origin.origin, causation_id=uuid.UUID(cause.event_id) if cause else None,
            depth=cause.depth + 1 if cause else 0,
        )
        for e in events
    ]
    OutboxEvent.objects.bulk_create(rows, batch_size=BULK_BATCH)
    ids = [r.event_id for r in rows]
    collector = _collector.get()
    if collector is not None:
        collector.extend(ids)
    else:
        transaction.on_commit(lambda: _dispatch_committed(ids))
    return [i.hex for i in ids]


_collector: ContextVar[list | None] = ContextVar("valuecrm_event_collector", default=None)


@contextlib.contextmanager
def collecting():
    """Dispatch the events emitted meanwhile together, after commit, instead of one
    dispatch per emit() call (an automation rule acting on thousands of records one by
    one). Must be used inside the transaction that writes them: the single on_commit is
    registered there, so a rollback drops it with the rows."""
    ids: list = []
    token = _collector.set(ids)
    try:
        yield
    finally:
        _collector.reset(token)
        if ids:
            transaction.on_commit(lambda: _dispatch_committed(ids))


def _dispatch_committed(event_ids: list[uuid.UUID]) -> None:
    try:
        dispatch(event_ids=event_ids)
    except Exception:  # the change is committed; the sweep delivers later
        log.exception("event dispatch failed; the outbox sweep will retry")


def _envelope(row) -> Envelope:
    cls = EVENT_TYPES.get(row.name)
    event = cls.from_payload(row.payload) if cls else None
    return Envelope(
        seq=row.seq, event_id=row.event_id.hex, name=row.name, event=event,
        occurred_at=row.occurred_at, actor_kind=row.actor_kind, actor_user_id=row.actor_user_id,
        token_id=row.token_id, origin=row.origin,
        causation_id=row.causation_id.hex if row.causation_id else None, depth=row.depth,
    )


def _wanted(sub: Subscriber, envelopes: Iterable[Envelope]) -> list[Envelope]:
    names = sub.wanted()
    return [e for e in envelopes if e.event is not None and (names is None or e.name in names)]


def dispatch(*, event_ids: Sequence | None = None, seqs: Sequence[int] | None = None) -> int:
    """Deliver the given undispatched events: inline subscribers now, the others via the
    worker. Returns how many events became fully dispatched."""
    from valuecrm.common.models import OutboxEvent

    qs = OutboxEvent.objects.filter(dispatched_at__isnull=True)
    done = 0
    keys = list(event_ids if event_ids is not None else seqs or [])
    field = "event_id__in" if event_ids is not None else "seq__in"
    for start in range(0, len(keys), BULK_BATCH):
        rows = list(qs.filter(**{field: keys[start:start + BULK_BATCH]}).order_by("seq"))
        done += _dispatch_rows(rows)
    return done


def _dispatch_rows(rows) -> int:
    if not rows:
        return 0
    envelopes = [_envelope(r) for r in rows]
    for sub in subscribers():
        mine = _wanted(sub, envelopes)
        if not mine:
            continue
        if sub.inline:
            deliver(sub.key, mine)
        else:
            from valuecrm.common.tasks import outbox_deliver_task

            outbox_deliver_task(sub.key, [e.seq for e in mine])
    # Events a worker subscriber still has to handle stay undispatched until it has.
    return _mark_complete([r.seq for r in rows])


def deliver(subscriber_key: str, envelopes: list[Envelope]) -> int:
    """Hand `envelopes` to one subscriber, skipping those it already handled.
    Returns how many it handled now."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    if not envelopes:
        return 0
    sub = subscriber(subscriber_key)
    if sub is None:
        return 0
    try:
        with transaction.atomic():
            seen = set(EventReceipt.objects.filter(
                subscriber=sub.key, event_id__in=[e.seq for e in envelopes]).values_list("event_id", flat=True))
            new = [e for e in envelopes if e.seq not in seen]
            if new:
                sub.handle(new)
                EventReceipt.objects.bulk_create(
                    [EventReceipt(event_id=e.seq, subscriber=sub.key) for e in new], batch_size=BULK_BATCH)
            return len(new)
    except Exception as exc:
        log.exception("subscriber %s failed on %d events", sub.key, len(envelopes))
        OutboxEvent.objects.filter(seq__in=[e.seq for e in envelopes]).update(
            last_error=f"{sub.key}: {exc}"[:1000])
        return 0


def deliver_seqs(subscriber_key: str, seqs: Sequence[int]) -> int:
    """The worker's half: load the rows, deliver, and mark what became complete."""
    from valuecrm.common.models import OutboxEvent

    rows = list(OutboxEvent.objects.filter(seq__in=list(seqs)).order_by("seq"))
    handled = deliver(subscriber_key, [_envelope(r) for r in rows])
    _mark_complete([r.seq for r in rows if r.dispatched_at is None])
    return handled


def _mark_complete(seqs: list[int]) -> int:
    """Set dispatched_at on the events every interested subscriber has a receipt for."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    if not seqs:
        return 0
    rows = list(OutboxEvent.objects.filter(seq__in=seqs, dispatched_at__isnull=True))
    envelopes = {r.seq: _envelope(r) for r in rows}
    receipts: dict[int, set[str]] = {}
    for seq, key in EventReceipt.objects.filter(event_id__in=list(envelopes)).values_list("event_id", "subscriber"):
        receipts.setdefault(seq, set()).add(key)
    complete = []
    wanted = [(sub.key, sub.wanted()) for sub in subscribers()]
    for seq, env in envelopes.items():
        needed = {key for key, names in wanted if env.event is not None and (names is None or env.name in names)}
        if needed <= receipts.get(seq, set()):
            complete.append(seq)
    now = timezone.now()
    for start in range(0, len(complete), BULK_BATCH):
        OutboxEvent.objects.filter(seq__in=complete[start:start + BULK_BATCH]).update(dispatched_at=now)
    return len(complete)


def redeliver_stale(*, older_than: timedelta = REDELIVER_AFTER, limit: int = 20_000) -> int:
    """Re-dispatch events left undispatched (crash after commit, failing subscriber).
    Returns how many became complete."""
    from django.db.models import F

    from valuecrm.common.models import OutboxEvent

    cutoff = timezone.now() - older_than
    stale = list(OutboxEvent.objects.filter(dispatched_at__isnull=True, occurred_at__lte=cutoff,
                                            attempts__lt=MAX_ATTEMPTS)
                 .order_by("seq").values_list("seq", flat=True)[:limit])
    if not stale:
        return 0
    for start in range(0, len(stale), BULK_BATCH):
        OutboxEvent.objects.filter(seq__in=stale[start:start + BULK_BATCH]).update(attempts=F("attempts") + 1)
    return dispatch(seqs=stale)


def purge_dispatched(*, older_than: timedelta) -> int:
    from valuecrm.common.models import OutboxEvent

    cutoff = timezone.now() - older_than
    deleted, _ = OutboxEvent.objects.filter(dispatched_at__lte=cutoff).delete()
    return deleted
