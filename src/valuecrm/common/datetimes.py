"""Reading a moment in time from service input (API bodies, forms, import rows)."""

from datetime import date, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _


def parse_aware_datetime(value, key: str, errors: dict) -> datetime | None:
    """A timezone-aware datetime from a datetime, a date or an ISO 8601 string.

    Empty input is ``None``; a date means its midnight; naive values are read in
    settings.TIME_ZONE. Bad input appends a message to ``errors[key]`` and
    returns ``None``, so a service can report every bad field at once.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            errors.setdefault(key, []).append(_("Enter a valid date/time."))
            return None
    if not 1900 <= parsed.year <= 2200:
        # Far-off years overflow when converted to UTC for storage.
        errors.setdefault(key, []).append(_("Enter a date/time between 1900 and 2200."))
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def site_hour_in_huey_clock(hour: int) -> str:
    """The crontab hour at which Huey runs a job at `hour` o'clock site time (Huey
    evaluates crontabs in UTC unless configured otherwise)."""
    import datetime as dt
    import zoneinfo

    from django.conf import settings

    if not settings.HUEY.get("utc", True):
        return str(hour)
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    offset = dt.datetime.now(zone).utcoffset() or dt.timedelta(0)
    return str(int((hour - offset.total_seconds() // 3600) % 24))
