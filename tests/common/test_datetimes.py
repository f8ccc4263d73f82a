import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import translation

from valuecrm.common.datetimes import parse_aware_datetime

SITE_TZ = ZoneInfo(settings.TIME_ZONE)


def test_naive_string_date_and_datetime_are_read_in_the_site_time_zone():
    errors = {}
    assert parse_aware_datetime(" 2024-03-05 10:30 ", "at", errors) == dt.datetime(2024, 3, 5, 10, 30, tzinfo=SITE_TZ)
    assert parse_aware_datetime(dt.date(2024, 3, 5), "at", errors) == dt.datetime(2024, 3, 5, tzinfo=SITE_TZ)
    naive = dt.datetime(2024, 3, 5, 8)
    assert parse_aware_datetime(naive, "at", errors) == naive.replace(tzinfo=SITE_TZ)
    assert errors == {}


def test_an_offset_is_kept_and_empty_is_none():
    errors = {}
    parsed = parse_aware_datetime("2024-03-05T10:30:00Z", "at", errors)
    assert parsed == dt.datetime(2024, 3, 5, 10, 30, tzinfo=dt.UTC)
    assert parse_aware_datetime("", "at", errors) is None
    assert parse_aware_datetime(None, "at", errors) is None
    assert errors == {}


def test_bad_input_is_reported_under_its_key():
    errors = {"placed_at": ["earlier"]}
    assert parse_aware_datetime("5 March", "placed_at", errors) is None
    assert parse_aware_datetime("2024-13-40", "due_at", errors) is None
    assert parse_aware_datetime(dt.date(1850, 1, 1), "acquired_at", errors) is None
    assert parse_aware_datetime("2201-01-01T00:00:00+00:00", "x", errors) is None
    assert errors == {
        "placed_at": ["earlier", "Enter a valid date/time."],
        "due_at": ["Enter a valid date/time."],
        "acquired_at": ["Enter a date/time between 1900 and 2200."],
        "x": ["Enter a date/time between 1900 and 2200."],
    }


def test_messages_are_translated():
    errors = {}
    with translation.override("zh-hans"):
        parse_aware_datetime("soon", "at", errors)
        parse_aware_datetime("1800-01-01", "at", errors)
    assert errors == {"at": ["请输入有效的日期时间。", "请输入 1900 至 2200 年之间的日期时间。"]}
