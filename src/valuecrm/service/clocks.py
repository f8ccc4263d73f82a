"""The ORM ↔ engine boundary for SLA clocks: calendars to engine calendars, and a
ticket's due instants from its policy, consumed minutes and running start."""

from datetime import date, datetime

from valuecrm.engine import sla


def _minutes(text: str) -> int:
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)


def engine_calendar(calendar) -> sla.BusinessCalendar:
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for row in calendar.hours or []:
        days[int(row["weekday"])].append((_minutes(row["start"]), _minutes(row["end"])))
    return sla.BusinessCalendar(
        timezone=calendar.timezone,
        hours=tuple(tuple(sorted(d)) for d in days),
        holidays=calendar.holidays or None,
        closures=frozenset(date.fromisoformat(d) for d in calendar.closures or []),
    )


_CACHE: dict[tuple, sla.BusinessCalendar] = {}


def cached_calendar(calendar) -> sla.BusinessCalendar:
    """One engine calendar per stored version (its day cache then serves every ticket)."""
    key = (calendar.pk, calendar.updated_at)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        found = _CACHE[key] = engine_calendar(calendar)
    return found


def due_at(calendar, start: datetime, minutes: int) -> datetime | None:
    due = sla.due_minute(cached_calendar(calendar), sla.minute_of(start), minutes)
    return None if due is None else sla.moment_of(due)


def minutes_between(calendar, start: datetime, end: datetime) -> int:
    return sla.business_minutes_between(cached_calendar(calendar), sla.minute_of(start), sla.minute_of(end))


def is_business_time(calendar, moment: datetime) -> bool:
    return cached_calendar(calendar).is_open(sla.minute_of(moment))
