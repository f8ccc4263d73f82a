"""One customer's timeline: orders, interactions, tasks and notes, newest first.

Open follow-ups are pulled out and listed on top (soonest due first) because
they are what the user must act on; everything else — including completed
tasks, at the moment they were done — is one newest-first stream.

The stream comes in pages: a page is at most `limit` entries, and its cursor
(the sort key of its last entry) asks each source for the rows after it. Each
source is one bounded query (at most `limit` + 1 rows), so a page costs the same
five queries whether the customer has ten orders or ten thousand, however deep.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from valuecrm.customers.extensions import TimelineSource, registry
from valuecrm.customers.models import Customer, Interaction, Note, Task

# Our own entry types; other apps add theirs (orders, tickets, …) via customers.extensions.
OWN_TYPES = ("interaction", "task", "note")
DEFAULT_LIMIT = 30
OPEN_TASKS_LIMIT = 50
# Entries at the same instant with the same primary key (different tables) are ordered
# by type, so every entry has a distinct sort key (at, pk, rank) and a cursor is exact.
OWN_RANK = {"interaction": 2, "note": 1, "task": 0}
OWN_ICONS = {"task": "check2-square", "note": "sticky"}


def timeline_types() -> tuple[str, ...]:
    return (*(s.type for s in registry.timeline_sources), *OWN_TYPES)


def _source(type_: str) -> TimelineSource | None:
    return next((s for s in registry.timeline_sources if s.type == type_), None)


def _rank(type_: str) -> int:
    source = _source(type_)
    return source.rank if source else OWN_RANK[type_]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Bootstrap icon per interaction kind, so a call and a store visit look different at a glance.
INTERACTION_ICONS = {
    "call": "telephone",
    "email": "envelope",
    "meeting": "people",
    "chat": "chat-dots",
    "social": "share",
    "web_visit": "globe",
    "store_visit": "shop",
}


@dataclass(frozen=True)
class TimelineEntry:
    type: str  # one of timeline_types()
    at: datetime | None
    obj: object
    overdue: bool = False

    @property
    def icon(self) -> str:
        if self.type == "interaction":
            return INTERACTION_ICONS.get(self.obj.kind, "chat")
        source = _source(self.type)
        return source.icon if source else OWN_ICONS[self.type]

    @property
    def template(self) -> str:
        """The entry body template of a registered source ("" for our own types)."""
        source = _source(self.type)
        return source.template if source else ""

    @property
    def sort_key(self) -> tuple:
        return (self.at, self.obj.pk, _rank(self.type))


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort key of its last entry."""

    at: datetime
    pk: int
    rank: int

    def __str__(self) -> str:
        return f"{(self.at - _EPOCH) // _MICROSECOND}.{self.pk}.{self.rank}"

    @classmethod
    def parse(cls, raw: str | None) -> "Cursor | None":
        """A ?before= value; None when absent or not one this module wrote."""
        parts = (raw or "").split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) > 17:
            return None
        micros, pk, rank = (int(p) for p in parts)
        if rank not in {_rank(t) for t in timeline_types()}:
            return None
        return cls(_EPOCH + micros * _MICROSECOND, pk, rank)

    def after(self, at_field: str, type_: str) -> Q:
        """Rows of one source that sort after this cursor (newest first)."""
        q = Q(**{f"{at_field}__lt": self.at}) | Q(**{at_field: self.at, "pk__lt": self.pk})
        if _rank(type_) < self.rank:
            q |= Q(**{at_field: self.at, "pk": self.pk})
        return q


@dataclass
class Timeline:
    customer: Customer
    type: str  # "" = all types
    open_tasks: list[TimelineEntry] = field(default_factory=list)
    entries: list[TimelineEntry] = field(default_factory=list)
    next_cursor: str = ""  # "" = this is the last page

    @property
    def sources(self) -> list[TimelineSource]:
        """The registered entry types, for the filter tabs."""
        return list(registry.timeline_sources)

    @property
    def truncated(self) -> bool:
        return bool(self.next_cursor)


def timeline_type_clean(value: str | None) -> str:
    """A ?type= value from the query string; anything unknown means "all"."""
    return value if value in timeline_types() else ""


def customer_timeline(
    *, customer: Customer, type: str = "", limit: int = DEFAULT_LIMIT, before: Cursor | None = None,
    now: datetime | None = None,
) -> Timeline:
    """One page of the customer's timeline, optionally restricted to one entry type.

    The first page (no `before`) also carries the open follow-ups; later pages are
    only the stream after `before`. The caller has already checked that the user
    may see `customer`.
    """
    now = now or timezone.now()
    types = timeline_types()
    wanted = (type,) if type in types else types
    timeline = Timeline(customer=customer, type=type if type in types else "")
    stream: list[TimelineEntry] = []

    def page(queryset, at_field: str, type_: str):
        if before is not None:
            queryset = queryset.filter(before.after(at_field, type_))
        return list(queryset.order_by(F(at_field).desc(), "-pk")[: limit + 1])

    for source in registry.timeline_sources:
        if source.type in wanted:
            fetched = source.fetch(customer, lambda qs, at_field, t=source.type: page(qs, at_field, t))
            stream += [TimelineEntry(source.type, at, obj) for at, obj in fetched]
    if "interaction" in wanted:
        interactions = Interaction.objects.filter(customer=customer).select_related("author")
        stream += [TimelineEntry("interaction", i.occurred_at, i)
                   for i in page(interactions, "occurred_at", "interaction")]
    if "note" in wanted:
        notes = Note.objects.filter(customer=customer).select_related("author")
        stream += [TimelineEntry("note", n.created_at, n) for n in page(notes, "created_at", "note")]
    if "task" in wanted:
        tasks = Task.objects.filter(customer=customer).select_related("assignee")
        if before is None:
            open_tasks = tasks.filter(done=False).order_by(F("due_at").asc(nulls_last=True), "id")
            timeline.open_tasks = [
                TimelineEntry("task", t.due_at, t, overdue=t.due_at is not None and t.due_at < now)
                for t in open_tasks[:OPEN_TASKS_LIMIT]
            ]
        # A completed task sits where it was done (or last touched, for old rows without done_at).
        done = tasks.filter(done=True).annotate(timeline_at=Coalesce("done_at", "updated_at"))
        stream += [TimelineEntry("task", t.timeline_at, t) for t in page(done, "timeline_at", "task")]

    stream.sort(key=lambda e: e.sort_key, reverse=True)
    timeline.entries = stream[:limit]
    if len(stream) > limit:
        last = timeline.entries[-1]
        timeline.next_cursor = str(Cursor(*last.sort_key))
    return timeline
