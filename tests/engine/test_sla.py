"""The business-minutes clock against a brute-force minute counter.

The oracle below shares no code with valuecrm.engine.sla: it converts every UTC
minute of the test span to wall time with pandas (not zoneinfo arithmetic),
decides each local day from chinese_calendar directly, and counts minutes one by
one (as a cumulative sum over a boolean mask) — pauses simply switch minutes off.
"""

from datetime import date, datetime, timedelta

import chinese_calendar
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine.sla import (
    BusinessCalendar,
    business_minutes_between,
    due_minute,
    holiday_data_covers,
    minute_of,
)

H = lambda hh, mm=0: hh * 60 + mm  # noqa: E731
WEEKDAYS = ((H(9), H(12)), (H(13), H(18)))
CALENDARS = {
    # China: lunch break, statutory holidays, 调休 Saturdays/Sundays, one custom closure.
    "cn": BusinessCalendar("Asia/Shanghai", (WEEKDAYS,) * 5 + ((), ()), "CN",
                           frozenset({date(2026, 6, 1)})),
    # China, open every day 08:00–22:00 except statutory holidays.
    "cn7": BusinessCalendar("Asia/Shanghai", (((H(8), H(22)),),) * 7, "CN"),
    # New York: a night shift across the 02:00 DST switch every day, office hours on weekdays.
    "ny": BusinessCalendar("America/New_York",
                           (((H(0, 30), H(3, 30)), (H(9), H(17))),) * 5 + (((H(0, 30), H(3, 30)),),) * 2),
    # London: Sunday early hours cover the 01:00 switch.
    "lon": BusinessCalendar("Europe/London",
                            (((H(8), H(20)),),) * 5 + ((), ((H(0), H(2, 30)),))),
}

SPAN_START = datetime(2025, 12, 20)
SPAN_END = datetime(2027, 4, 1)
BASE = minute_of(pd.Timestamp(SPAN_START, tz="UTC").to_pydatetime())


def _oracle_mask(cal: BusinessCalendar) -> np.ndarray:
    utc = pd.date_range(SPAN_START, SPAN_END, freq="min", inclusive="left", tz="UTC")
    wall = utc.tz_convert(cal.timezone).tz_localize(None).as_unit("s").asi8 // 60
    day_no, of_day = wall // 1440, wall % 1440
    days, inverse = np.unique(day_no, return_inverse=True)
    starts = np.full((len(days), 2), -1)
    ends = np.full((len(days), 2), -1)
    for i, n in enumerate(days):
        d = date(1970, 1, 1) + timedelta(days=int(n))
        if d in cal.closures:
            hours = ()
        elif cal.holidays == "CN":
            try:
                work = chinese_calendar.is_workday(d)
            except NotImplementedError:
                work = d.weekday() < 5
            if not work:
                hours = ()
            elif d.weekday() >= 5:
                hours = next(h for h in cal.hours if h)
            else:
                hours = cal.hours[d.weekday()]
        else:
            hours = cal.hours[d.weekday()]
        for j, (s, e) in enumerate(hours):
            starts[i, j], ends[i, j] = s, e
    s, e = starts[inverse], ends[inverse]
    return ((of_day >= s[:, 0]) & (of_day < e[:, 0])) | ((of_day >= s[:, 1]) & (of_day < e[:, 1]))


@pytest.fixture(scope="module")
def masks():
    return {key: _oracle_mask(cal) for key, cal in CALENDARS.items()}


def _brute_due(mask, opened, target, pauses):
    """The minute after the target-th counted minute; paused minutes do not count."""
    live = mask[opened - BASE:].copy()
    for p, r in pauses:
        live[p - opened:r - opened] = False
    counted = np.cumsum(live)
    hit = np.searchsorted(counted, target)  # first index where the count reaches target
    return opened + int(hit) + 1


def _engine_due(cal, opened, target, pauses):
    """What the service does on each status change: consume while running, keep it paused."""
    consumed, running_since = 0, opened
    for p, r in pauses:
        spent = business_minutes_between(cal, running_since, p)
        if consumed + spent >= target:
            break  # already due before this pause
        consumed += spent
        running_since = r
    return due_minute(cal, running_since, target - consumed)


# Where tickets open: the Spring Festival and National Day weeks with their 调休 weekends,
# the DST weekends of New York and London, and anywhere in 2026.
HOT_SPOTS = [
    (datetime(2026, 2, 9), datetime(2026, 3, 2)),
    (datetime(2026, 9, 24), datetime(2026, 10, 13)),
    (datetime(2026, 3, 6), datetime(2026, 3, 10)),
    (datetime(2026, 3, 27), datetime(2026, 3, 30)),
    (datetime(2026, 10, 23), datetime(2026, 10, 26)),
    (datetime(2026, 10, 30), datetime(2026, 11, 3)),
    (datetime(2026, 1, 1), datetime(2026, 12, 31)),
]


def _random_ticket(rng):
    lo, hi = HOT_SPOTS[rng.integers(len(HOT_SPOTS))]
    a, b = minute_of(pd.Timestamp(lo, tz="UTC")), minute_of(pd.Timestamp(hi, tz="UTC"))
    opened = int(rng.integers(a, b))
    target = int(rng.choice([1, 30, 60, 240, 480, 540, 960, 1440, 2400, 4800]) + rng.integers(0, 90))
    pauses, t = [], opened
    for _ in range(int(rng.integers(0, 4))):
        p = t + int(rng.integers(1, 3 * 1440))
        r = p + int(rng.integers(1, 4 * 1440))
        pauses.append((p, r))
        t = r
    return opened, target, pauses


def test_ten_thousand_random_tickets_match_the_minute_counter(masks):
    rng = np.random.default_rng(20260207)
    keys = list(CALENDARS)
    mismatches = []
    for n in range(10_000):
        key = keys[n % len(keys)]
        opened, target, pauses = _random_ticket(rng)
        expected = _brute_due(masks[key], opened, target, pauses)
        got = _engine_due(CALENDARS[key], opened, target, pauses)
        if got != expected:
            mismatches.append((key, opened, target, pauses, got, expected))
    assert mismatches == []


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(CALENDARS)),
       day=st.integers(0, 364), of_day=st.integers(0, 1439), target=st.integers(0, 3000))
def test_due_and_between_are_inverse(key, day, of_day, target):
    cal = CALENDARS[key]
    start = minute_of(pd.Timestamp(datetime(2026, 1, 1), tz="UTC")) + day * 1440 + of_day
    due = due_minute(cal, start, target)
    assert business_minutes_between(cal, start, due) == target
    if target:
        assert cal.is_open(due - 1)  # the deadline ends on a business minute


def test_spring_festival_2026_closes_the_week_and_opens_the_adjusted_saturday():
    cal = CALENDARS["cn"]
    # Friday 13 Feb 2026 17:00 Beijing (09:00 UTC) with 120 minutes to go: 60 that day,
    # the rest on the adjusted working Saturday 14 Feb (调休) from 09:00.
    start = minute_of(pd.Timestamp("2026-02-13 09:00", tz="UTC"))
    assert due_minute(cal, start, 120) == minute_of(pd.Timestamp("2026-02-14 02:00", tz="UTC"))
    # From the last minute of Saturday's shift, the next business minute is after the holiday
    # (15–23 Feb closed): Tuesday 24 Feb 09:00 Beijing.
    sat_end = minute_of(pd.Timestamp("2026-02-14 10:00", tz="UTC"))
    assert due_minute(cal, sat_end, 1) == minute_of(pd.Timestamp("2026-02-24 01:01", tz="UTC"))


def test_new_york_autumn_night_counts_the_repeated_hour_twice():
    cal = CALENDARS["ny"]
    # 1 Nov 2026: 00:30–03:30 on the wall is four real hours (01:00–02:00 happens twice).
    start = minute_of(pd.Timestamp("2026-11-01 04:30", tz="UTC"))  # 00:30 EDT
    end = minute_of(pd.Timestamp("2026-11-01 08:30", tz="UTC"))  # 03:30 EST
    assert business_minutes_between(cal, start, end) == 240


def test_a_calendar_without_hours_has_no_deadline():
    assert due_minute(BusinessCalendar("UTC"), 0, 5) is None


def test_holiday_data_years():
    assert holiday_data_covers(2026) is True
    assert holiday_data_covers(2040) is False
