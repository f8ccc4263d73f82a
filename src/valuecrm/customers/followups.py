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

from valuecrm.accounts.models import User
from valuecrm.accounts.roles import Scope
from valuecrm.customers.models import Task

NEW_LIMIT = 50

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
    # Open follow-ups someone else gave the user that they have not seen yet.
    new_assignments: list[Task] = field(default_factory=list)

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
    tasks = Task.objects.visible_to(user).open().filter(assignee=user)
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
    new = list(tasks.filter(assigned_by__isnull=False, assignment_seen_at__isnull=True)
               .select_related("customer", "assigned_by").order_by("-assigned_at", "-id")[:NEW_LIMIT])
    return FollowUps(now=now, groups=groups, later_count=counts["later"] or 0,
                     new_assignments=new)


# ---------------------------------------------------------------- who can be given a follow-up

def visible_users(user):
    """The active users `user` can see: everyone for an all-scope role, else their team
    (and themselves)."""
    users = User.objects.filter(is_active=True)
    if getattr(user, "scope", Scope.OWN) == Scope.ALL:
        return users
    if user.team_id:
        return users.filter(Q(team_id=user.team_id) | Q(pk=user.pk))
    return users.filter(pk=user.pk)


def user_visible_to(user, other) -> bool:
    return visible_users(user).filter(pk=other.pk).exists()


def assignable_users(user, customer=None) -> list[User]:
    """Whom `user` can give a follow-up: the users they can see (only themselves without
    the right to write) — and, for a follow-up about `customer`, only those who can see
    that customer (a task about a customer its assignee cannot see would be lost)."""
    if not user.can_write:
        return [user]
    users = visible_users(user)
    if customer is not None:
        users = users.filter(users_who_see_q(customer) | Q(pk=user.pk))
    return list(users.order_by("first_name", "last_name", "username"))


def users_who_see_q(customer) -> Q:
    """A Q over User: who can see `customer` — customers.visibility's rule read the
    other way round (one query for a whole list of users instead of one per user;
    tests/customers/test_followups_assign.py holds the two to agreement)."""
    from valuecrm.accounts.roles import ROLE_SCOPE

    def roles(scope):
        return [role for role, s in ROLE_SCOPE.items() if s == scope]

    q = Q(is_superuser=True) | Q(role__in=roles(Scope.ALL))
    if customer.owner_id:
        q |= Q(pk=customer.owner_id)
    teams = {customer.team_id, customer.owner.team_id if customer.owner_id else None} - {None}
    if teams:
        q |= Q(role__in=roles(Scope.TEAM), team_id__in=teams)
    return q
