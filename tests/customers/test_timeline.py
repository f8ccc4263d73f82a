"""customer_timeline: one newest-first stream, open follow-ups on top, type filter, bounded queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from valuecrm.customers.models import Customer, Interaction, Note, Task
from valuecrm.customers.timeline import Cursor, customer_timeline, timeline_type_clean
from valuecrm.orders.models import Order

NOW = timezone.now().replace(microsecond=0)


def _at(**delta):
    return NOW + timedelta(**delta)


@pytest.fixture
def customer(rep_north):
    return Customer.objects.create(name="Li Lei", owner=rep_north)


@pytest.fixture
def filled(customer, rep_north):
    """Orders, interactions, notes and tasks at known moments."""
    Order.objects.create(customer=customer, external_id="A-1", placed_at=_at(days=-5), total_amount=Decimal("120"))
    Order.objects.create(customer=customer, external_id="A-2", placed_at=_at(days=-1), total_amount=Decimal("80"))
    Interaction.objects.create(customer=customer, kind="call", occurred_at=_at(days=-3), author=rep_north)
    Note.objects.create(customer=customer, body="likes green tea", created_at=_at(days=-2))
    Task.objects.create(customer=customer, title="done long ago", done=True, done_at=_at(days=-4))
    Task.objects.create(customer=customer, title="due next week", due_at=_at(days=7))
    Task.objects.create(customer=customer, title="overdue", due_at=_at(days=-1))
    Task.objects.create(customer=customer, title="no date")
    Task.objects.create(customer=customer, title="due tomorrow", due_at=_at(days=1))
    return customer


def _labels(entries):
    attribute = {"order": "external_id", "interaction": "kind", "note": "body", "task": "title"}
    return [f"{e.type}:{getattr(e.obj, attribute[e.type])}" for e in entries]


def test_stream_is_newest_first_and_open_tasks_are_on_top_soonest_first(filled):
    timeline = customer_timeline(customer=filled, now=NOW)

    assert _labels(timeline.open_tasks) == [
        "task:overdue", "task:due tomorrow", "task:due next week", "task:no date",
    ]
    assert [e.overdue for e in timeline.open_tasks] == [True, False, False, False]
    assert _labels(timeline.entries) == [
        "order:A-2", "note:likes green tea", "interaction:call", "task:done long ago", "order:A-1",
    ]
    assert timeline.type == ""
    assert timeline.truncated is False


@pytest.mark.parametrize(
    ("type_", "expected_entries", "open_count"),
    [
        ("order", ["order:A-2", "order:A-1"], 0),
        ("interaction", ["interaction:call"], 0),
        ("note", ["note:likes green tea"], 0),
        ("task", ["task:done long ago"], 4),
    ],
)
def test_type_filter_keeps_only_that_type(filled, type_, expected_entries, open_count):
    timeline = customer_timeline(customer=filled, type=type_, now=NOW)

    assert timeline.type == type_
    assert _labels(timeline.entries) == expected_entries
    assert len(timeline.open_tasks) == open_count


def test_unknown_type_means_all():
    assert timeline_type_clean("order") == "order"
    assert timeline_type_clean("orders; drop table") == ""
    assert timeline_type_clean(None) == ""


def test_other_customers_rows_never_appear(filled, rep_north):
    other = Customer.objects.create(name="Someone else", owner=rep_north)
    Note.objects.create(customer=other, body="not yours")
    Order.objects.create(customer=other, external_id="X-9")

    labels = _labels(customer_timeline(customer=filled, now=NOW).entries)

    assert "note:not yours" not in labels
    assert "order:X-9" not in labels


def test_limit_truncates_and_says_so(customer):
    for i in range(4):
        Note.objects.create(customer=customer, body=f"n{i}", created_at=_at(minutes=-i))

    timeline = customer_timeline(customer=customer, limit=3, now=NOW)

    assert _labels(timeline.entries) == ["note:n0", "note:n1", "note:n2"]
    assert timeline.truncated is True


def test_query_count_does_not_grow_with_rows(customer, rep_north, django_assert_num_queries):
    for i in range(30):
        Order.objects.create(customer=customer, external_id=f"B-{i}", placed_at=_at(hours=-i))
        Interaction.objects.create(customer=customer, kind="email", author=rep_north, occurred_at=_at(hours=-i))
        Note.objects.create(customer=customer, body=f"note {i}", author=rep_north)
        Task.objects.create(customer=customer, title=f"t{i}", assignee=rep_north, done=i % 2 == 0,
                            done_at=_at(hours=-i) if i % 2 == 0 else None)

    # One query per source: orders, tickets (service), deals, interactions, notes, open and done tasks.
    with django_assert_num_queries(7):
        timeline = customer_timeline(customer=customer, now=NOW)
        # Rendering touches authors and assignees; they must already be loaded.
        for entry in timeline.entries + timeline.open_tasks:
            getattr(entry.obj, "author", None)
            getattr(entry.obj, "assignee", None)

    assert len(timeline.entries) == 30  # one page
    assert len(timeline.open_tasks) == 15


def _all_pages(customer, type_="", limit=30):
    pages, before = [], None
    while True:
        timeline = customer_timeline(customer=customer, type=type_, limit=limit, before=before, now=NOW)
        pages.append(timeline)
        if not timeline.next_cursor:
            return pages
        before = Cursor.parse(timeline.next_cursor)


def test_pages_cover_the_whole_stream_once_in_order(customer, rep_north):
    # 109 orders (some at the same instant), interactions, notes and done tasks.
    for i in range(109):
        Order.objects.create(customer=customer, external_id=f"O-{i}", placed_at=_at(hours=-(i // 2)))
    for i in range(12):
        Interaction.objects.create(customer=customer, kind="call", occurred_at=_at(hours=-i), author=rep_north)
        Note.objects.create(customer=customer, body=f"n{i}", created_at=_at(hours=-i))
        Task.objects.create(customer=customer, title=f"done {i}", done=True, done_at=_at(hours=-i))
    Task.objects.create(customer=customer, title="call back", due_at=_at(days=1))

    pages = _all_pages(customer)
    whole = customer_timeline(customer=customer, limit=1000, now=NOW)

    assert [len(p.entries) for p in pages] == [30, 30, 30, 30, 25]
    assert [e.sort_key for p in pages for e in p.entries] == [e.sort_key for e in whole.entries]
    # Open follow-ups stay on top of the first page only.
    assert [len(p.open_tasks) for p in pages] == [1, 0, 0, 0, 0]


def test_paging_keeps_the_type_filter(customer):
    for i in range(40):
        Order.objects.create(customer=customer, external_id=f"O-{i}", placed_at=_at(hours=-i))
        Note.objects.create(customer=customer, body=f"n{i}", created_at=_at(hours=-i))

    pages = _all_pages(customer, type_="note", limit=30)

    assert [len(p.entries) for p in pages] == [30, 10]
    assert {e.type for p in pages for e in p.entries} == {"note"}
    assert [e.obj.body for p in pages for e in p.entries] == [f"n{i}" for i in range(40)]


def test_cursor_round_trips_and_rejects_junk():
    cursor = Cursor(at=NOW.replace(microsecond=123456), pk=42, rank=3)
    assert Cursor.parse(str(cursor)) == cursor
    for junk in (None, "", "1.2", "a.b.c", "1.2.9", "-1.2.3", "1" * 30 + ".1.1"):
        assert Cursor.parse(junk) is None
