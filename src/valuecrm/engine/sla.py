"""Business-minutes clocks for service-level targets.

A calendar says which minutes are *business minutes*: weekly opening hours per
weekday in a time zone, closed on public holidays, open on the adjusted working
days (China's 调休, when a weekend day is worked in exchange for a longer holiday),
closed on custom closures.

The definition every function here keeps (and the property test checks against a
minute-by-minute counter): a UTC minute ``m`` (minutes since the Unix epoch) is a
business minute iff its *local wall time* falls inside an opening interval of its
local date. So in a DST autumn night the repeated hour counts twice and in the
spring night the skipped hour counts never — exactly what a clock on the wall shows.

A deadline ``due(start, n)`` is the instant the n-th business minute at or after
``start`` ends; ``due(start, 0) == start``. A paused clock (waiting on the customer,
on hold) keeps what it has consumed: consumed + remaining = target, so a policy
change that replaces the target keeps the time already spent (GLPI #15605).

Holidays come from the maintained ``chinese_calendar`` package (statutory holidays
and 调休 from the State Council notices). It covers the years its release knows
(2004–2026 for 1.11); for a later year only weekly hours and custom closures apply,
which :func:`holiday_data_covers` lets callers report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "BusinessCalendar", "business_minutes_between", "due_minute", "holiday_data_covers",
    "minute_of", "moment_of", "open_intervals",
]

DAY = 1440
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def minute_of(moment: datetime) -> int:
    """Whole UTC minutes since the epoch (seconds are dropped: clocks tick per minute)."""
    return int((moment - _EPOCH).total_seconds() // 60)


def moment_of(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


def holiday_data_covers(year: int) -> bool:
    try:
        chinese_calendar.is_holiday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=8192)
def _cn_day(day: date) -> str:
    """'open', 'closed' (statutory holiday or weekend) or 'adjusted' (调休: a worked weekend day)."""
    try:
        workday = chinese_calendar.is_workday(day)
    except NotImplementedError:
        return "closed" if day.weekday() >= 5 else "open"
    if not workday:
        return "closed"
    return "adjusted" if day.weekday() >= 5 else "open"


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours in local minutes of the day, per weekday (0 = Monday).

    ``hours[w]`` is a tuple of (start, end) with 0 ≤ start < end ≤ 1440. ``holidays``
    is "CN" for China's statutory calendar or None. An adjusted working day (调休)
    opens with the hours of the first weekday that has any (normally Monday).
    """

    timezone: str = "Asia/Shanghai"
    hours: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7
    holidays: str | None = None
    closures: frozenset[date] = frozenset()
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self):
        if len(self.hours) != 7:
            raise ValueError("hours needs 7 weekdays")
        for day in self.hours:
            for start, end in day:
                if not 0 <= start < end <= DAY:
                    raise ValueError(f"bad interval {start}-{end}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_hours(self, day: date) -> tuple[tuple[int, int], ...]:
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        if day in self.closures:
            result = ()
        elif self.holidays == "CN":
            kind = _cn_day(day)
            if kind == "closed":
                result = ()
            elif kind == "adjusted":
                result = next((h for h in self.hours if h), ())
            else:
                result = self.hours[day.weekday()]
        else:
            result = self.hours[day.weekday()]
        self._cache[day] = result
        return result

    def is_open(self, minute: int) -> bool:
        """The definition, one minute at a time (slow; the tests' oracle uses its own)."""
        local = moment_of(minute).astimezone(self.zone)
        of_day = local.hour * 60 + local.minute
        return any(s <= of_day < e for s, e in self.day_hours(local.date()))


def _offset(zone: ZoneInfo, minute: int) -> int:
    return int(moment_of(minute).astimezone(zone).utcoffset().total_seconds() // 60)


def _pieces(zone: ZoneInfo, start: int, end: int):
    """[start, end) cut where the UTC offset changes: (a, b, offset) with one offset each."""
    a = start
    while a < end:
        b = min(end, a + DAY)
        off = _offset(zone, a)
        if _offset(zone, b - 1) != off:
            lo, hi = a, b - 1  # first minute with another offset lies in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(zone, mid) == off:
                    lo = mid
                else:
                    hi = mid
            b = hi
        yield a, b, off
        a = b


def open_intervals(calendar: BusinessCalendar, start: int, end: int):
    """Business minutes in [start, end) as ordered, disjoint UTC [a, b) intervals."""
    zone = calendar.zone
    pending = None
    for a, b, off in _pieces(zone, start, end):
        lo, hi = a + off, b + off  # the same span in local minutes
        for day_number in range(lo // DAY, (hi - 1) // DAY + 1):
            day = date(1970, 1, 1) + timedelta(days=day_number)
            base = day_number * DAY
            for s, e in calendar.day_hours(day):
                x, y = max(lo, base + s), min(hi, base + e)
                if x < y:
                    x, y = x - off, y - off
                    if pending and pending[1] == x:
                        pending = (pending[0], y)
                    else:
                        if pending:
                            yield pending
                        pending = (x, y)
    if pending:
        yield pending


def business_minutes_between(calendar: BusinessCalendar, start: int, end: int) -> int:
    if end <= start:
        return 0
    return sum(b - a for a, b in open_intervals(calendar, start, end))


# A calendar with no opening hours never reaches a deadline; give up after this long.
HORIZON_DAYS = 3 * 366


def due_minute(calendar: BusinessCalendar, start: int, minutes: int) -> int | None:
    """The minute at which ``minutes`` business minutes from ``start`` are used up.

    None when the calendar has no business minutes within three years (a calendar
    with no hours at all).
    """
    if minutes <= 0:
        return start
    left = minutes
    window = 14 * DAY
    a = start
    while a < start + HORIZON_DAYS * DAY:
        for x, y in open_intervals(calendar, a, a + window):
            if y - x >= left:
                return x + left
            left -= y - x
        a += window
    return None
