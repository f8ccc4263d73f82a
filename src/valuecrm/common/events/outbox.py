"""emit() → outbox row in the caller's transaction → dispatch after commit.

Guarantees:
- an event exists if and only if its change committed (same transaction);
- every interested subscriber handles it at most once (a receipt row is written
  in the subscriber's transaction — or, for an event whose only interested
  subscriber is an inline one, the row is claimed, i.e. marked dispatched, in that
  transaction) and at least once (the worker re-delivers rows that stay
  undispatched, e.g. after a crash between commit and delivery);
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

from django.db import connections, router, transaction
from django.utils import timezone

from valuecrm.common.encryption import PERSONAL_KEYS, decrypt_json_fields, encrypt_json_fields
from valuecrm.common.events.catalogue import EVENT_TYPES, Event
from valuecrm.common.events.context import ActorKind, current_cause, current_origin
from valuecrm.common.events.rows import ids_in, insert_rows, insert_rows_returning_ids
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
    seqs = _insert(OutboxEvent, (
        (i, e.name, _sealed(e.payload()), e.customer_id, now, kind, actor_id, token_id, origin_name, causation_id,
         depth,
         None if take else now)
        for i, e, take in zip(ids, events, taken, strict=True)), ids, len(events), any(taken))
    # The after-commit dispatch works on what was just written, kept here: no read-back.
    cause_hex = causation_id.hex if causation_id else None
    pending = [_fresh_envelope(seq, i.hex, e, now, kind, actor_id, token_id, origin_name, cause_hex, depth)
               for seq, i, e, take in zip(seqs, ids, events, taken, strict=True) if take]
    collector = _collector.get()
    if collector is not None:
        collector.extend(pending)
    elif pending:
        transaction.on_commit(lambda: _dispatch_committed(pending))
    return [i.hex for i in ids]


def _insert(model, rows, ids: list[uuid.UUID], count: int, need_seqs: bool) -> list[int | None]:
    """Write the outbox rows; their seqs when some event is to be dispatched. SQLite and a
    single row: one INSERT that gives the seqs. PostgreSQL with many rows: the prepared
    `executemany` (a 2,000-row VALUES list with RETURNING cost it 4× the client CPU) and
    the seqs read by event id, one query per chunk."""
    if connections[router.db_for_write(model)].vendor == "sqlite" or count == 1:
        return insert_rows_returning_ids(model, _OUTBOX_FIELDS, rows)
    insert_rows(model, _OUTBOX_FIELDS, rows)
    if not need_seqs:
        return [None] * count
    hexes = [i.hex for i in ids]
    by_id: dict[str, int] = {}
    for start in range(0, count, BULK_BATCH):
        by_id.update((event_id.hex, seq) for event_id, seq in model.objects.filter(
            event_id__in=ids_in(model, "event_id", hexes[start:start + BULK_BATCH])).values_list("event_id", "seq"))
    return [by_id[h] for h in hexes]


def _fresh_envelope(seq, event_id, event, occurred_at, actor_kind, actor_user_id, token_id, origin, causation_id,
                    depth) -> Envelope:
    """An Envelope without the frozen dataclass's per-field __setattr__ (a bulk action makes
    one per record); same attributes as Envelope(...)."""
    env = object.__new__(Envelope)
    env.__dict__.update(seq=seq, event_id=event_id, name=event.name, event=event, occurred_at=occurred_at,
                        actor_kind=actor_kind, actor_user_id=actor_user_id, token_id=token_id, origin=origin,
                        causation_id=causation_id, depth=depth)
    return env


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
    pending: list[Envelope] = []
    token = _collector.set(pending)
    try:
        yield
    finally:
        _collector.reset(token)
        if pending:
            transaction.on_commit(lambda: _dispatch_committed(pending))


def _dispatch_committed(envelopes: list[Envelope]) -> None:
    """After commit: deliver the events just written, from memory. No read-back and no
    `dispatched_at IS NULL` filter are needed: an event a sweep delivered meanwhile is
    skipped by its receipt or its claim (see _deliver)."""
    try:
        _dispatch_batches(envelopes)
    except Exception:  # the change is committed; the sweep delivers later
        log.exception("event dispatch failed; the outbox sweep will retry")


def _dispatch_batches(envelopes: list[Envelope]) -> int:
    wanted = _wanted.get()
    token = None
    if wanted is None:
        wanted = _ask_subscribers()
        token = _wanted.set(wanted)
    try:
        return sum(_dispatch_envelopes(envelopes[start:start + BULK_BATCH], wanted)
                   for start in range(0, len(envelopes), BULK_BATCH))
    finally:
        if token is not None:
            _wanted.reset(token)


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
    takers = [_needed(env, wanted) for env in envelopes]
    by_sub: dict[str, list[Envelope]] = {}
    # Events whose only interested subscriber is an inline one: that subscriber claims them
    # (marks them dispatched) in its own transaction instead of writing a receipt each and
    # marking them complete afterwards.
    sole: set[int] = set()
    for env, subs in zip(envelopes, takers, strict=True):
        for sub in subs:
            by_sub.setdefault(sub.key, []).append(env)
        if len(subs) == 1 and subs[0].inline:
            sole.add(env.seq)
    handled: set[tuple[int, str]] = set()  # (seq, subscriber) known to be handled now
    settled: set[int] = set()  # claimed now, or found dispatched already
    claimed_now = 0
    for sub, _names in wanted:
        mine = by_sub.get(sub.key)
        if not mine:
            continue
        if sub.inline:
            _count, ok, claimed = _deliver(sub, mine, claim=sole)
            if ok:
                handled.update((e.seq, sub.key) for e in mine)
                settled.update(e.seq for e in mine if e.seq in sole)
                claimed_now += claimed
        else:
            from valuecrm.common.tasks import outbox_deliver_task

            outbox_deliver_task(sub.key, [e.seq for e in mine])
    # Events a worker subscriber still has to handle stay undispatched until it has.
    rest = [(env, subs) for env, subs in zip(envelopes, takers, strict=True) if env.seq not in settled]
    return claimed_now + _mark_complete([env for env, _ in rest], wanted, handled,
                                        needed={env.seq: {s.key for s in subs} for env, subs in rest})


def deliver(subscriber_key: str, envelopes: list[Envelope]) -> int:
    """Hand `envelopes` to one subscriber, skipping those it already handled.
    Returns how many it handled now."""
    sub = subscriber(subscriber_key)
    if sub is None or not envelopes:
        return 0
    return _deliver(sub, envelopes)[0]


def _deliver(sub: Subscriber, envelopes: list[Envelope], *, claim: set[int] | frozenset = frozenset()
             ) -> tuple[int, bool, int]:
    """(handled now, whether every envelope is handled by now, how many rows it claimed).
    Envelopes whose seq is in `claim` (this subscriber is the only one interested) are
    claimed in the subscriber's transaction; the others get a receipt each."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    try:
        with transaction.atomic():
            to_claim = [e.seq for e in envelopes if e.seq in claim]
            receipted = [e.seq for e in envelopes if e.seq not in claim]
            skip: set[int] = set()
            claimed: set[int] = set()
            if to_claim:
                claimed, seen = _claim(to_claim, sub.key)
                skip.update(seq for seq in to_claim if seq not in claimed or seq in seen)
            if receipted:
                skip.update(EventReceipt.objects.filter(
                    subscriber=sub.key, event_id__in=ids_in(EventReceipt, "event_id", receipted))
                    .values_list("event_id", flat=True))
            new = [e for e in envelopes if e.seq not in skip]
            if new:
                sub.handle(new)
                now = timezone.now()
                rows = [(e.seq, sub.key, now) for e in new if e.seq not in claim]
                if rows:
                    insert_rows(EventReceipt, ("event_id", "subscriber", "handled_at"), rows)
            return len(new), True, len(claimed)
    except Exception as exc:
        log.exception("subscriber %s failed on %d events", sub.key, len(envelopes))
        OutboxEvent.objects.filter(seq__in=[e.seq for e in envelopes]).update(
            last_error=f"{sub.key}: {exc}"[:1000])
        return 0, False, 0


def _claim(seqs: list[int], subscriber_key: str) -> tuple[set[int], set[int]]:
    """Mark the still undispatched rows among `seqs` dispatched, in the caller's transaction
    (one statement): (the rows claimed, those among them this subscriber has a receipt for —
    handled before the event's subscribers changed). A concurrent dispatcher claiming the
    same rows waits for this transaction (PostgreSQL row locks, SQLite's single writer) and
    then finds them dispatched: each claimed event is handled once."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    connection = connections[router.db_for_write(OutboxEvent)]
    qn = connection.ops.quote_name
    table, receipts = qn(OutboxEvent._meta.db_table), qn(EventReceipt._meta.db_table)
    if connection.vendor == "sqlite":
        keys, param = "SELECT value FROM json_each(%s)", json.dumps(seqs)
    else:
        keys, param = "SELECT unnest(%s::bigint[])", list(seqs)
    now = OutboxEvent._meta.get_field("dispatched_at").get_db_prep_save(timezone.now(), connection)
    sql = (f"UPDATE {table} SET {qn('dispatched_at')} = %s "
           f"WHERE {qn('dispatched_at')} IS NULL AND {qn('seq')} IN ({keys}) "
           f"RETURNING {qn('seq')}, EXISTS (SELECT 1 FROM {receipts} r WHERE r.{qn('event_id')} = {table}.{qn('seq')}"
           f" AND r.{qn('subscriber')} = %s)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, param, subscriber_key])
        rows = cursor.fetchall()
    return {seq for seq, _ in rows}, {seq for seq, had in rows if had}


def deliver_seqs(subscriber_key: str, seqs: Sequence[int]) -> int:
    """The worker's half: load the rows, deliver, and mark what became complete."""
    from valuecrm.common.models import OutboxEvent

    envelopes = _load(OutboxEvent.objects.filter(seq__in=list(seqs)))
    sub = subscriber(subscriber_key)
    if sub is None or not envelopes:
        return 0
    handled, ok, _claimed = _deliver(sub, envelopes)
    pending = set(OutboxEvent.objects.filter(seq__in=[e.seq for e in envelopes], dispatched_at__isnull=True)
                  .values_list("seq", flat=True))
    known = {(e.seq, sub.key) for e in envelopes} if ok else set()
    _mark_complete([e for e in envelopes if e.seq in pending],
                   [(s, s.wanted()) for s in subscribers()], known)
    return handled


def _mark_complete(envelopes: list[Envelope], wanted, handled: set[tuple[int, str]], *,
                   needed: dict[int, set[str]] | None = None) -> int:
    """Set dispatched_at on the events every interested subscriber has handled: those in
    `handled` (delivered just now), the others looked up in the receipts. `needed`: each
    event's interested subscribers' keys, when the caller knows them."""
    from valuecrm.common.models import EventReceipt, OutboxEvent

    if not envelopes:
        return 0
    if needed is None:
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
