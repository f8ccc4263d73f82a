"""One customer's timeline: orders, interactions, tasks and notes, newest first.

Open follow-ups are pulled out and listed on top (soonest due first) because
they are what the user must act on; everything else — including completed
tasks, at the moment they were done — is one newest-first stream.

Each source is one bounded query (at most `limit` rows), so the page costs the
same five queries whether the customer has ten orders or ten thousand.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from valuecrm.customers.models import Customer, Interaction, Note, Task
from valuecrm.sales.models import Order

TIMELINE_TYPES = ("order", "interaction", "task", "note")
DEFAULT_LIMIT = 50

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
    type: str  # one of TIMELINE_TYPES
    at: datetime | None
    obj: object
    overdue: bool = False

    @property
    def icon(self) -> str:
        if self.type == "interaction":
            return INTERACTION_ICONS.get(self.obj.kind, "chat")
        return {"order": "bag", "task": "check2-square", "note": "sticky"}[self.type]


@dataclass
class Timeline:
    customer: Customer
    type: str  # "" = all types
    open_tasks: list[TimelineEntry] = field(default_factory=list)
    entries: list[TimelineEntry] = field(default_factory=list)
    truncated: bool = False


def timeline_type_clean(value: str | None) -> str:
    """A ?type= value from the query string; anything unknown means "all"."""
    return value if value in TIMELINE_TYPES else ""


def customer_timeline(
    *, customer: Customer, type: str = "", limit: int = DEFAULT_LIMIT, now: datetime | None = None
) -> Timeline:
    """The customer's timeline, optionally restricted to one entry type.

    The caller has already checked that the user may see `customer`.
    """
    now = now or timezone.now()
    wanted = (type,) if type in TIMELINE_TYPES else TIMELINE_TYPES
    timeline = Timeline(customer=customer, type=type if type in TIMELINE_TYPES else "")
    stream: list[TimelineEntry] = []

    if "order" in wanted:
        orders = list(
            Order.objects.filter(customer=customer).order_by("-placed_at", "-id")[: limit + 1]
        )
        stream += [TimelineEntry("order", o.placed_at, o) for o in orders]
        timeline.truncated |= len(orders) > limit
    if "interaction" in wanted:
        interactions = list(
            Interaction.objects.filter(customer=customer).select_related("author")
            .order_by("-occurred_at", "-id")[: limit + 1]
        )
        stream += [TimelineEntry("interaction", i.occurred_at, i) for i in interactions]
        timeline.truncated |= len(interactions) > limit
    if "note" in wanted:
        notes = list(
            Note.objects.filter(customer=customer).select_related("author")
            .order_by("-created_at", "-id")[: limit + 1]
        )
        stream += [TimelineEntry("note", n.created_at, n) for n in notes]
        timeline.truncated |= len(notes) > limit
    if "task" in wanted:
        tasks = Task.objects.filter(customer=customer).select_related("assignee")
        open_tasks = list(
            tasks.filter(done=False).order_by(F("due_at").asc(nulls_last=True), "id")[:limit]
        )
        timeline.open_tasks = [
            TimelineEntry("task", t.due_at, t, overdue=t.due_at is not None and t.due_at < now)
            for t in open_tasks
        ]
        done = list(
            tasks.filter(done=True).order_by(F("done_at").desc(nulls_last=True), "-id")[: limit + 1]
        )
        stream += [TimelineEntry("task", t.done_at or t.updated_at, t) for t in done]
        timeline.truncated |= len(done) > limit

    # Ties (same instant) keep a stable, type-independent order by primary key.
    stream.sort(key=lambda e: (e.at, e.obj.pk), reverse=True)
    timeline.truncated |= len(stream) > limit
    timeline.entries = stream[:limit]
    return timeline
