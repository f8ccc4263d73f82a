"""Reading a moment in time from service input (API bodies, forms, import rows, filters).

One rule for how far off a date may be, used by the customer-list filters
(FilterSpec), the KPI range, the scoring date and the API schemas
(common/schemas.py): years outside 1900..2200 are refused with a message naming
the bounds. Far-off years are never real CRM facts, and year 1 or 9999 overflow
when a local midnight is converted to UTC for a database query (a 500 before).
"""

import re
from datetime import date, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

MIN_YEAR = 1900
MAX_YEAR = 2200

# ISO 8601 calendar dates in [MIN_YEAR, MAX_YEAR] that exist (29 February only in
# leap years: 1900, 2100 and 2200 are not). The API schemas publish these patterns,
# so what the spec calls valid is exactly what the server accepts.
_LEAP_YEARS = r"(?:19(?:0[48]|[2468][048]|[13579][26])|20(?:[02468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))"
_ANY_YEAR = r"(?:19\d\d|2[01]\d\d|2200)"
ISO_DATE_PATTERN = (
    rf"(?:{_ANY_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    rf"|02-(?:0[1-9]|1\d|2[0-8]))|{_LEAP_YEARS}-02-29)"
)
# UTC offsets stop at ±14:59: real zones span −12:00..+14:00, and PostgreSQL refuses
# a displacement beyond ±15:59 (a 500 before) while Python accepts up to ±23:59.
ISO_TIME_PATTERN = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?"
ISO_DATETIME_PATTERN = rf"{ISO_DATE_PATTERN}(?:[T ]{ISO_TIME_PATTERN})?"
_ISO_DATE = re.compile(ISO_DATE_PATTERN)
_ISO_DATETIME = re.compile(ISO_DATETIME_PATTERN)


def out_of_bounds_message() -> str:
    return _("Enter a date between %(first)s and %(last)s.") % {
        "first": f"{MIN_YEAR}-01-01", "last": f"{MAX_YEAR}-12-31"}


def check_date_bounds(value: date) -> date:
    """``value`` itself, or ValueError (with a user-facing message) when its year is
    outside [MIN_YEAR, MAX_YEAR]. Works for dates and datetimes."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(out_of_bounds_message())
    return value


def parse_bounded_date(raw) -> date:
    """A date from a date or a ``YYYY-MM-DD`` string within the bounds; ValueError
    with a user-facing message otherwise (the FilterSpec/KPI/scoring contract)."""
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return check_date_bounds(raw)
    text = str(raw).strip()
    try:
        value = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        value = None
    if value is None:
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    return check_date_bounds(value)


def iso_date_from_text(raw) -> date:
    """Strict API reading of a date: exactly ISO_DATE_PATTERN (ValueError otherwise)."""
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return check_date_bounds(raw)
    if not isinstance(raw, str):
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    if not _ISO_DATE.fullmatch(raw):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) and _is_real_date(raw):
            raise ValueError(out_of_bounds_message())
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    return date.fromisoformat(raw)


def iso_datetime_from_text(raw) -> datetime:
    """Strict API reading of a date/time: exactly ISO_DATETIME_PATTERN (a bare date is
    its midnight; naive values are site-local later, see parse_aware_datetime)."""
    if isinstance(raw, datetime):
        return check_date_bounds(raw)
    if not isinstance(raw, str):
        raise ValueError(_("Enter a date/time as YYYY-MM-DDTHH:MM[:SS][±HH:MM]."))
    if not _ISO_DATETIME.fullmatch(raw):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw[:10]) and _is_real_date(raw[:10]):
            raise ValueError(out_of_bounds_message())
        raise ValueError(_("Enter a date/time as YYYY-MM-DDTHH:MM[:SS][±HH:MM]."))
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _is_real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


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
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
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
