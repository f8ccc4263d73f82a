"""insert_rows: the fast multi-row INSERT stores exactly what the ORM would."""

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from valuecrm.common import events
from valuecrm.common.models import EventReceipt, OutboxEvent

pytestmark = pytest.mark.django_db(transaction=False)


def test_values_read_back_as_the_orm_wrote_them_and_defaults_are_filled():
    now = timezone.now()
    ids = [uuid.uuid4(), uuid.uuid4()]
    cause = uuid.uuid4()
    events.insert_rows(OutboxEvent, ("event_id", "name", "payload", "customer_id", "occurred_at", "actor_kind",
                                     "origin", "causation_id"), [
        (ids[0], "customer.tagged", {"tags": ["上海活动"], "n": 1}, 7, now, "user", "web", cause),
        (ids[1], "customer.tagged", {"tags": []}, None, now, "system", "system", None),
    ])
    first, second = OutboxEvent.objects.filter(event_id__in=ids).order_by("seq")
    assert (first.event_id, first.payload, first.customer_id, first.occurred_at, first.causation_id) == \
        (ids[0], {"tags": ["上海活动"], "n": 1}, 7, now, cause)
    assert (second.customer_id, second.causation_id, second.payload) == (None, None, {"tags": []})
    # Columns not given get the model's defaults.
    assert (first.attempts, first.last_error, first.dispatched_at, first.depth) == (0, "", None, 0)
    assert OutboxEvent.objects.filter(payload__n=1).get() == first  # JSON stored as JSON


def test_a_duplicate_fails_the_whole_insert_unless_conflicts_are_ignored():
    row = OutboxEvent.objects.create(event_id=uuid.uuid4(), name="customer.created", actor_kind="user",
                                     origin="web")
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        events.insert_rows(EventReceipt, ("event_id", "subscriber", "handled_at"),
                           [(row.seq, "a", now), (row.seq, "b", now), (row.seq, "a", now)])
    assert not EventReceipt.objects.exists()  # nothing half-written
    events.insert_rows(EventReceipt, ("event_id", "subscriber", "handled_at"),
                       [(row.seq, "a", now), (row.seq, "b", now), (row.seq, "a", now)], ignore_conflicts=True)
    assert sorted(EventReceipt.objects.values_list("subscriber", flat=True)) == ["a", "b"]


def test_payload_matches_asdict_for_flat_and_nested_values():
    from dataclasses import asdict

    flat = events.CustomerUpdated(customer_id=3, changed_fields=("city", "name"))
    assert flat.payload() == asdict(flat)
    assert events.CustomerUpdated.from_payload(flat.payload()) == flat


def test_insert_rows_returning_ids_gives_the_new_keys_in_row_order(admin_user):
    from valuecrm.common.events import rows
    from valuecrm.customers.models import Customer, Task

    customer = Customer.objects.create(name="甲")
    now = timezone.now()
    fields = ("customer_id", "title", "created_by_id", "created_at", "updated_at")
    data = [(customer.pk if i % 2 else None, f"任务{i}", admin_user.pk, now, now) for i in range(5)]
    before, rows.ROWS_PER_STATEMENT = rows.ROWS_PER_STATEMENT, 2  # statements of 2, 2 and 1 rows
    try:
        ids = events.insert_rows_returning_ids(Task, fields, data)
    finally:
        rows.ROWS_PER_STATEMENT = before
    assert [Task.objects.get(pk=pk).title for pk in ids] == [f"任务{i}" for i in range(5)]
    assert list(Task.objects.filter(pk__in=ids).order_by("pk").values_list("customer_id", "done", "description")) \
        == [(None, False, ""), (customer.pk, False, ""), (None, False, ""), (customer.pk, False, ""),
            (None, False, "")]


def test_envelopes_loaded_without_the_orm_converters_equal_the_orm_ones(admin_user):
    from valuecrm.common.events import outbox

    cause = events.Cause(event_id=uuid.uuid4().hex, depth=1)
    with transaction.atomic(), events.caused_by(cause):
        events.emit_many([events.CustomerTagged(customer_id=None, tags=("上海活动", "vip")),
                          events.CustomersBulkChanged(action="tag", count=2)], actor=admin_user)
    qs = OutboxEvent.objects.filter(name__in=["customer.tagged", "customers.bulk_changed"])
    fast = outbox._load(qs)
    slow = [outbox._envelope(r) for r in qs.order_by("seq").values_list(*outbox._ENVELOPE_FIELDS)]
    assert fast == slow
    assert [(e.name, e.causation_id, e.depth, e.actor_user_id) for e in fast] == [
        ("customer.tagged", cause.event_id, 2, admin_user.pk), ("customers.bulk_changed", cause.event_id, 2,
                                                                  admin_user.pk)]
    assert fast[0].event.tags == ("上海活动", "vip") and fast[0].occurred_at.tzinfo is not None
