"""Scheduled rules: cron-like times, or N days after/before a date field, in the site time zone.

A Huey periodic task calls `fire_due()` every minute. Each firing is one run per
customer with an event id derived from (rule, scheduled time, customer): a tick that
runs twice, or a worker that restarts mid-way, never acts twice.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Max, Q
from django.utils import timezone

from valuecrm.automation.engine import CHUNK, Item, audience_ids, run_rule, scheduled_event_id
from valuecrm.automation.festivals import festival_date
from valuecrm.automation.models import Rule
from valuecrm.common.encryption import blind_index
from valuecrm.customers.models import Customer

# A worker that was down longer than this catches up only the last hour's firings.
CATCH_UP = dt.timedelta(hours=1)


def _minutes(start: dt.datetime, end: dt.datetime):
    """Whole local minutes in (start, end]."""
    m = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    while m <= end:
        yield m
        m += dt.timedelta(minutes=1)


def due_times(rule: Rule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The rule's local fire times in (start, end] (both aware)."""
    from huey import crontab

    tz = timezone.get_current_timezone()
    schedule = rule.trigger["schedule"]
    if "cron" in schedule:
        matches = crontab(*schedule["cron"].split())
    elif "festival" in schedule:
        hour, minute = (int(p) for p in schedule.get("at", "10:00").split(":"))

        def matches(t):
            return (t.hour == hour and t.minute == minute
                    and festival_date(schedule["festival"], t.year) == t.date())
    else:
        hour, minute = (int(p) for p in schedule.get("at", "09:00").split(":"))

        def matches(t):
            return t.hour == hour and t.minute == minute
    return [m for m in _minutes(start.astimezone(tz), end.astimezone(tz)) if matches(m.replace(tzinfo=None))]


def _anniversary_q(day: dt.date) -> Q:
    # Birthdays are encrypted: the month and day match through their blind index.
    days = [f"{day.month:02d}-{day.day:02d}"]
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        days.append("02-29")  # 29 Feb birthdays on 28 Feb in other years
    return Q(birthday_bidx__in=[blind_index("birthday", d) for d in days])


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _local_day_bounds(day: dt.date):
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return start, start + dt.timedelta(days=1)


def scheduled_customers(rule: Rule, fire_at: dt.datetime) -> list[int]:
    """Customers a firing at `fire_at` (local) is about, before the rule's list filters."""
    schedule = rule.trigger["schedule"]
    if "cron" in schedule or "festival" in schedule:
        return list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    # "N days after the date" → the date was N days before today (negative N: before it).
    day = fire_at.date() - dt.timedelta(days=int(schedule.get("offset_days", 0)))
    field = schedule["date_field"]
    if field == "birthday":
        qs = Customer.objects.filter(_anniversary_q(day))
    elif field == "created":
        start, end = _local_day_bounds(day)
        qs = Customer.objects.filter(created_at__gte=start, created_at__lt=end)
    else:  # last_order
        start, end = _local_day_bounds(day)
        qs = Customer.objects.annotate(last_order=Max("orders__placed_at")).filter(
            last_order__gte=start, last_order__lt=end)
    return list(qs.order_by("pk").values_list("pk", flat=True))


def fire(rule: Rule, fire_at: dt.datetime, *, now=None) -> int:
    """Run `rule` for its customers at one scheduled time; returns how many runs were logged."""
    ids = scheduled_customers(rule, fire_at)
    ids = sorted(audience_ids(rule, ids))
    stamp = fire_at.isoformat()
    logged = 0
    for start in range(0, len(ids), CHUNK):
        items = [Item(event_id=scheduled_event_id(rule.pk, stamp, cid), event_name="schedule", customer_id=cid,
                      payload={"scheduled_at": stamp, "customer_id": cid}) for cid in ids[start:start + CHUNK]]
        for item in items:
            item.chain_root = item.event_id
        logged += len(run_rule(rule, items, now=now))
    return logged


def fire_due(now: dt.datetime | None = None) -> int:
    """Fire every enabled schedule rule whose time came since its last check."""
    now = now or timezone.now()
    fired = 0
    for rule in Rule.objects.active().scheduled().order_by("pk"):
        since = rule.last_fired_at or (now - dt.timedelta(minutes=1))
        since = max(since, now - CATCH_UP)
        for fire_at in due_times(rule, since, now):
            fired += fire(rule, fire_at, now=now)
            rule.refresh_from_db(fields=["paused_at"])
            if rule.paused_at:
                break
        Rule.objects.filter(pk=rule.pk).update(last_fired_at=now)
    return fired
