"""The "my follow-ups" inbox: a user's open tasks by when they are due.

"Today" is the calendar day in the CRM's configured time zone (settings.TIME_ZONE,
Asia/Shanghai by default), not UTC's: a task due at 23:30 Shanghai time (15:30 UTC)
is due today, one due at 00:30 tomorrow Shanghai time (16:30 UTC, still "today" in
UTC) is upcoming.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from valuecrm.customers.models import Task
from valuecrm.customers.visibility import visible_customers

UPCOMING_DAYS = 7
GROUP_LIMIT = 100
GROUPS = ("overdue", "today", "upcoming", "undated")


@dataclass
class FollowUpGroup:
    key: str  # one of GROUPS
    count: int = 0
    tasks: list[Task] = field(default_factory=list)


@dataclass
class FollowUps:
    now: datetime
    groups: dict[str, FollowUpGroup]
    later_count: int  # due after the upcoming window; not listed

    @property
    def open_count(self) -> int:
        return sum(g.count for g in self.groups.values())


def day_bounds(now: datetime) -> tuple[datetime, datetime, datetime]:
    """(start of today, start of tomorrow, end of the upcoming window), as aware datetimes."""
    zone = ZoneInfo(settings.TIME_ZONE)
    today = timezone.localtime(now, zone).date()
    start = datetime.combine(today, time.min, tzinfo=zone)
    tomorrow = datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone)
    window_end = datetime.combine(today + timedelta(days=1 + UPCOMING_DAYS), time.min, tzinfo=zone)
    return start, tomorrow, window_end


def user_follow_ups(*, user, now: datetime | None = None) -> FollowUps:
    """Open tasks assigned to `user`: overdue, due later today, due in the next 7 days,
    and undated. Tasks about a customer the user can no longer see are left out.
    One query for the counts, then one capped query per non-empty group."""
    now = now or timezone.now()
    _start, tomorrow, window_end = day_bounds(now)
    tasks = Task.objects.open().filter(assignee=user).filter(
        Q(customer__isnull=True) | Q(customer__in=visible_customers(user))
    )
    conditions = {
        "overdue": Q(due_at__lt=now),
        "today": Q(due_at__gte=now, due_at__lt=tomorrow),
        "upcoming": Q(due_at__gte=tomorrow, due_at__lt=window_end),
        "undated": Q(due_at__isnull=True),
    }
    counts = tasks.aggregate(
        later=Count("id", filter=Q(due_at__gte=window_end)),
        **{key: Count("id", filter=cond) for key, cond in conditions.items()},
    )
    groups = {key: FollowUpGroup(key, count=counts[key] or 0) for key in GROUPS}

    # One capped query per group, so a long overdue list cannot crowd out today's.
    for key, condition in conditions.items():
        if groups[key].count:
            groups[key].tasks = list(
                tasks.filter(condition).select_related("customer")
                .order_by("due_at", "id")[:GROUP_LIMIT]
            )
    return FollowUps(now=now, groups=groups, later_count=counts["later"] or 0)
