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
import json
import logging
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from valuecrm.common.encryption import PERSONAL_KEYS, decrypt_json_fields, encrypt_json_fields
from valuecrm.common.events.catalogue import EVENT_TYPES, Event
from valuecrm.common.events.context import ActorKind, current_cause, current_origin
from valuecrm.common.events.rows import ids_in, insert_rows
from valuecrm.common.events.subscribers import Envelope, Subscriber, subscriber, subscribers

log = logging.getLogger(__name__)

BULK_BATCH = 2000
_OUTBOX_FIELDS = ("event_id", "name", "payload", "customer_id", "occurred_at", "actor_kind", "actor_user_id",
                  "token_id", "origin", "causation_id", "depth", "dispatched_at")
_ENVELOPE_FIELDS = ("seq", "event_id", "name", "payload", "occurred_at", "actor_kind", "actor_user_id", "token_id",
                    "origin", "causation_id", "depth")
# Rows younger than this are left to the after-commit dispatch of their own request.
REDELIVER_AFTER = timedelta(seconds=30)
MAX_ATTEMPTS = 10


def emit(event: Event, *, actor=None) -> str:
    """Record `event` in the current transaction; returns its event id (hex)."""
    return emit_many([event], actor=actor)[0]


def emit_many(events: Sequence[Event], *, actor=None) -> list[str]:
    """Record many events with one prepared multi-row INSERT (bulk paths use this)."""
    from valuecrm.common.models import OutboxEvent

    if not events:
        return []
    origin, cause = current_origin(), current_cause()
    actor_id = getattr(actor, "pk", None)
    kind = origin.actor_kind
    if kind == ActorKind.SYSTEM and actor_id is not None:
        kind = ActorKind.USER
    now = timezone.now()
    token_id, origin_name = origin.token_id, origin.origin
    causation_id = uuid.UUID(cause.event_id) if cause else None
    depth = cause.depth + 1 if cause else 0
    ids = [uuid.uuid4() for _ in events]
    # An event no subscriber takes is recorded as dispatched already: most writes of a shop
    # without rules or webhooks then cost one INSERT here and nothing after commit.
    wanted = _wanted.get() or _ask_subscribers()
    taken = [any(sub.takes(e, names) for sub, names in wanted) for e in events]
    insert_rows(OutboxEvent, _OUTBOX_FIELDS, (
        (i, e.name, _sealed(e.payload()), e.customer_id, now, kind, actor_id, token_id, origin_name, causation_id, depth,
         None if take else now)
        for i, e, take in zip(ids, events, taken, strict=True)))
    pending = [i for i, take in zip(ids, taken, strict=True) if take]
    collector = _collector.get()
    if collector is not None:
        collector.extend(pending)
    elif pending:
        transaction.on_commit(lambda: _dispatch_committed(pending))
    return [i.hex for i in ids]


_collector: ContextVar[list | None] = ContextVar("valuecrm_event_collector", default=None)
# The subscribers' interests while a dispatch runs: what its subscribers emit (a rule's
# actions, thousands of events per batch) is checked against the same answers instead of
# asking again per emit_many call. A rule switched off meanwhile only means an event is
# delivered to an engine that then finds no active rule for it; nothing is missed, since
# rules are not created or switched on by subscribers.
_wanted: ContextVar[list | None] = ContextVar("valuecrm_event_interests", default=None)


def _ask_subscribers() -> list[tuple[Subscriber, frozenset | None]]:
    return [(sub, sub.wanted()) for sub in subscribers()]


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


# Events carry ids, not copies of records (catalogue.py); should one carry a personal value
# under one of the personal keys, the stored row holds it encrypted and subscribers get it in clear.
_PERSONAL = frozenset(PERSONAL_KEYS)


def _sealed(payload: dict) -> dict:
    return payload if _PERSONAL.isdisjoint(payload) else encrypt_json_fields(payload, PERSONAL_KEYS)


def _envelope(row) -> Envelope:
    """An envelope from a tuple of _ENVELOPE_FIELDS (no model instance per row) or a row."""
    if not isinstance(row, tuple):
        row = tuple(getattr(row, f) for f in _ENVELOPE_FIELDS)
    seq, event_id, name, payload, occurred_at, actor_kind, actor_user_id, token_id, origin, causation_id, depth = row
    cls = EVENT_TYPES.get(name)
    if isinstance(payload, dict) and not _PERSONAL.isdisjoint(payload):
        payload = decrypt_json_fields(payload, PERSONAL_KEYS)
    event = cls.from_payload(payload) if cls else None
    if isinstance(causation_id, uuid.UUID):
        causation_id = causation_id.hex
    return Envelope(
        seq=seq, event_id=event_id if isinstance(event_id, str) else event_id.hex, name=name, event=event,
        occurred_at=occurred_at, actor_kind=actor_kind, actor_user_id=actor_user_id,
        token_id=token_id, origin=origin, causation_id=causation_id or None, depth=depth,
    )


def _load(qs) -> list[Envelope]:
    qs = qs.order_by("seq").values_list(*_ENVELOPE_FIELDS)
    connection = connections[qs.db]
    if connection.vendor != "sqlite":
        return [_envelope(r) for r in qs]
    # SQLite: the ORM's per-value converters (UUIDs parsed, JSON decoded through the field,
    # datetimes parsed and made aware) were most of a dispatch's time; the stored forms are
    # known — UUIDs as 32 hex digits, JSON as text, datetimes as UTC ISO text — so convert
    # them here, the same values the ORM would give.
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    loads = json.loads
    return [_envelope((seq, event_id, name, loads(payload) if payload is not None else None,
                       _aware(occurred), *rest))
            for seq, event_id, name, payload, occurred, *rest in rows]


def _aware(value) -> datetime:
    """A datetime read from SQLite (the connection's converter gives a naive UTC one, or text)."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _needed(env: Envelope, wanted: list[tuple[Subscriber, frozenset | None]]) -> list[Subscriber]:
    return [sub for sub, names in wanted if sub.takes(env.event, names)]


def dispatch(*, event_ids: Sequence | None = None, seqs: Sequence[int] | None = None) -> int:
    """Deliver the given undispatched events: inline subscribers now, the others via the
    worker. Returns how many events became fully dispatched."""
    from valuecrm.common.models import OutboxEvent

    qs = OutboxEvent.objects.filter(dispatched_at__isnull=True)
    done = 0
    if event_ids is not None:
        field, keys = "event_id", [e.hex if isinstance(e, uuid.UUID) else uuid.UUID(e).hex for e in event_ids]
    else:
        field, keys = "seq", list(seqs or [])
    wanted = _wanted.get()
    token = None
    try:
        for start in range(0, len(keys), BULK_BATCH):
            envelopes = _load(qs.filter(**{f"{field}__in": ids_in(OutboxEvent, field, keys[start:start + BULK_BATCH])}))
            if envelopes:
                # Each subscriber's interests are asked once per dispatch (and reused by the
                # dispatches its subscribers' events start), not once per batch or emit.
                if wanted is None:
                    wanted = _ask_subscribers()
                    token = _wanted.set(wanted)
                done += _dispatch_envelopes(envelopes, wanted)
    finally:
        if token is not None:
            _wanted.reset(token)
    return done


def _dispatch_envelopes(envelopes: list[Envelope], wanted) -> int:
    handled: set[tuple[int, str]] = set()  # (seq, subscriber) known to be handled now
    for sub, names in wanted:
        mine = [e for e in envelopes if sub.takes(e.event, names)]
        if not mine:
            continue
        if sub.inline:
            if _deliver(sub, mine)[1]:
                handled.update((e.seq, sub.key) for e in mine)
        else:
            from valuecrm.common.tasks import outbox_deliver_task

            outbox_deliver_task(sub.key, [e.seq for e in mine])
    # Events a worker subscriber still has to handle stay undispatched until it has.
    return _mark_complete(envelopes, wanted, handled)


def deliver(subscriber_key: str, envelopes: list[Envelope]) -> int:
    """Hand `envelopes` to one subscriber, skipping those it already handled.
    Returns how many it handled now."""
    sub = subscriber(subscriber_key)
    if sub is None or not envelopes:
        return 0
    return _deliver(sub, envelopes)[0]


def _deliver(sub: Subscriber, envelopes: list[Envelope]) -> tuple[int, bool]:
    """(handled now, whether every envelope is handled by now — a receipt exists for each)."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    try:
        with transaction.atomic():
            seen = set(EventReceipt.objects.filter(
                subscriber=sub.key, event_id__in=ids_in(EventReceipt, "event_id", [e.seq for e in envelopes]))
                .values_list("event_id", flat=True))
            new = [e for e in envelopes if e.seq not in seen]
            if new:
                sub.handle(new)
                now = timezone.now()
                insert_rows(EventReceipt, ("event_id", "subscriber", "handled_at"),
                            ((e.seq, sub.key, now) for e in new))
            return len(new), True
    except Exception as exc:
        log.exception("subscriber %s failed on %d events", sub.key, len(envelopes))
        OutboxEvent.objects.filter(seq__in=[e.seq for e in envelopes]).update(
            last_error=f"{sub.key}: {exc}"[:1000])
        return 0, False


def deliver_seqs(subscriber_key: str, seqs: Sequence[int]) -> int:
    """The worker's half: load the rows, deliver, and mark what became complete."""
    from valuecrm.common.models import OutboxEvent

    envelopes = _load(OutboxEvent.objects.filter(seq__in=list(seqs)))
    sub = subscriber(subscriber_key)
    if sub is None or not envelopes:
        return 0
    handled, ok = _deliver(sub, envelopes)
    pending = set(OutboxEvent.objects.filter(seq__in=[e.seq for e in envelopes], dispatched_at__isnull=True)
                  .values_list("seq", flat=True))
    known = {(e.seq, sub.key) for e in envelopes} if ok else set()
    _mark_complete([e for e in envelopes if e.seq in pending],
                   [(s, s.wanted()) for s in subscribers()], known)
    return handled


def _mark_complete(envelopes: list[Envelope], wanted, handled: set[tuple[int, str]]) -> int:
    """Set dispatched_at on the events every interested subscriber has handled: those in
    `handled` (delivered just now), the others looked up in the receipts."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    if not envelopes:
        return 0
    needed = {env.seq: {sub.key for sub in _needed(env, wanted)} for env in envelopes}
    unknown = [seq for seq, keys in needed.items() if any((seq, key) not in handled for key in keys)]
    receipts: dict[int, set[str]] = {}
    for start in range(0, len(unknown), BULK_BATCH):
        for seq, key in EventReceipt.objects.filter(
                event_id__in=ids_in(EventReceipt, "event_id", unknown[start:start + BULK_BATCH])) \
                .values_list("event_id", "subscriber"):
            receipts.setdefault(seq, set()).add(key)
    complete = [seq for seq, keys in needed.items()
                if all((seq, key) in handled or key in receipts.get(seq, ()) for key in keys)]
    now = timezone.now()
    for start in range(0, len(complete), BULK_BATCH):
        OutboxEvent.objects.filter(seq__in=ids_in(OutboxEvent, "seq", complete[start:start + BULK_BATCH]),
                                   dispatched_at__isnull=True) \
            .update(dispatched_at=now)
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
