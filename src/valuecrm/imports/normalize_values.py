"""Cell values → stored values: text, dates, amounts, choices, yes/no, phones, e-mails.

Each function raises ValueError with a message for the person fixing the file.
Phones and e-mails go through customers.normalize (the one normaliser of the app);
the phone wrapper only remembers answers, because validity of a Chinese mobile
number depends on its length and its first seven digits alone, and a million-row
file repeats those prefixes endlessly.
"""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from valuecrm.customers.normalize import half_width, normalize_email, normalize_phone
from valuecrm.imports.row_errors import RowProblem

EXCEL_EPOCH = dt.date(1899, 12, 30)
MIN_YEAR, MAX_YEAR = 1900, 2200
MONEY_LIMIT = Decimal("1e12")

_CN_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?(.*)$")
_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](.*))?$")
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[ T](.*))?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[ T]?(\d{2}):?(\d{2}):?(\d{2})?)?$")
_TIME = re.compile(r"^(\d{1,2})[:时点](\d{1,2})(?:[:分](\d{1,2})(?:\.\d+)?秒?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_CN_TIME = re.compile(r"^(上午|下午)?\s*(.*)$")
_CURRENCY_NOISE = re.compile(r"(?i)^(?:rmb|cny|usd|eur|hkd|us\$|hk\$|[¥￥$€£元])+|(?:rmb|cny|usd|eur|hkd|[¥￥$€£元块])+$")
_MOBILE_CN = re.compile(r"^(?:\+?86)?(1\d{10})$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def clean_text(value) -> str:
    """Any cell → trimmed text with full-width ASCII turned half-width; None → ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 13800138000.0 from a spreadsheet is the number, not a float
    text = str(value)
    if not text.isascii():
        text = half_width(text)
    return text.strip()


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise RowProblem("date_range", min=MIN_YEAR, max=MAX_YEAR)


def _make_date(year, month, day) -> dt.date:
    year, month, day = int(year), int(month), int(day)
    _check_year(year)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise RowProblem("not_calendar_date", value=f"{year:04d}-{month:02d}-{day:02d}") from None


def _parse_time(text: str) -> dt.time | None:
    text = text.strip()
    if not text:
        return None
    if len(text) in (5, 8) and text[2] == ":" and text.isascii():
        try:  # HH:MM and HH:MM:SS, the usual case
            return dt.time.fromisoformat(text)
        except ValueError:
            pass
    match = _CN_TIME.match(text)
    afternoon = match.group(1) == "下午"
    body = match.group(2).strip()
    if body.endswith(("秒", "分")):
        body = body[:-1]
    timed = _TIME.match(body)
    if not timed:
        raise RowProblem("not_time", value=text)
    hour, minute, second = int(timed.group(1)), int(timed.group(2)), int(timed.group(3) or 0)
    if afternoon and hour < 12:
        hour += 12
    try:
        return dt.time(hour, minute, second)
    except ValueError:
        raise RowProblem("not_time", value=text) from None


def _excel_serial(number: float) -> dt.datetime:
    if not 1 <= number < 2958466:
        raise RowProblem("not_serial_date", value=str(number))
    moment = dt.datetime.combine(EXCEL_EPOCH, dt.time()) + dt.timedelta(days=number)
    _check_year(moment.year)
    return moment.replace(microsecond=0)


def parse_moment(value, *, dayfirst: bool = False) -> tuple[dt.date, dt.time | None]:
    """A cell → (date, time or None). Accepts 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日,
    20240305, 05/03/2024 (month first unless `dayfirst`), Excel serial numbers, ISO
    date-times and a trailing time (14:30, 14:30:05, 下午2:30, 14时30分)."""
    if isinstance(value, dt.datetime):
        _check_year(value.year)
        return value.date(), value.timetz() if value.tzinfo else value.time()
    if isinstance(value, dt.date):
        _check_year(value.year)
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 19000101 <= value <= 22001231 and float(value).is_integer():
            value = str(int(value))
        else:
            moment = _excel_serial(float(value))
            return moment.date(), (moment.time() if moment.time() != dt.time() else None)
    text = clean_text(value)
    if not text:
        raise RowProblem("date_missing")
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:  # the common case, 20× faster than the regexes
            day = dt.date.fromisoformat(text)
        except ValueError:
            pass
        else:
            _check_year(day.year)
            return day, None
    for pattern in (_YMD, _CN_DATE):
        match = pattern.match(text)
        if match:
            return _make_date(*match.group(1, 2, 3)), _parse_time(match.group(4) or "")
    match = _DMY.match(text)
    if match:
        first, second, year = match.group(1, 2, 3)
        day, month = (first, second) if dayfirst else (second, first)
        return _make_date(year, month, day), _parse_time(match.group(4) or "")
    match = _COMPACT.match(text)
    if match:
        day = _make_date(*match.group(1, 2, 3))
        time = None
        if match.group(4):
            time = _parse_time(f"{match.group(4)}:{match.group(5)}:{match.group(6) or '00'}")
        return day, time
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        _check_year(moment.year)
        return moment.date(), moment.timetz() if moment.tzinfo else moment.time()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        moment = _excel_serial(float(text))
        return moment.date(), (moment.time() if moment.time() != dt.time() else None)
    raise RowProblem("not_date", value=text)


def parse_date(value, *, dayfirst: bool = False) -> dt.date:
    return parse_moment(value, dayfirst=dayfirst)[0]


def parse_datetime(value, *, dayfirst: bool = False, default_time=dt.time(0, 0)) -> dt.datetime:
    """An aware datetime; a date without time is read at `default_time` in the site's zone."""
    day, time = parse_moment(value, dayfirst=dayfirst)
    time = time or default_time
    if time.tzinfo is not None:
        return dt.datetime.combine(day, time)
    # Django caches the site zone (and resets it when the setting changes).
    return dt.datetime.combine(day, time, timezone.get_default_timezone())


def parse_amount(value, *, decimal_comma: bool = False, allow_negative: bool = False) -> Decimal:
    """'¥1,234.50', '￥1234.5', 'RMB 1,234.50', '$1,234', '1.234,50' (with
    `decimal_comma`), '1 234,50 €' → Decimal with two places."""
    if isinstance(value, bool):
        raise RowProblem("amount_missing")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    else:
        text = clean_text(value)
        if not text:
            raise RowProblem("amount_missing")
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1]
        text = text.replace(" ", "").replace("\u00a0", "").replace("'", "")
        sign = ""
        if text[:1] in "+-":
            sign, text = text[:1], text[1:]
        text = _CURRENCY_NOISE.sub("", text)
        if text[:1] in "+-" and not sign:
            sign, text = text[:1], text[1:]
        if decimal_comma:
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
        try:
            number = Decimal(sign + text)
        except InvalidOperation:
            raise RowProblem("not_amount", value=clean_text(value)) from None
        if negative:
            number = -number
    if not number.is_finite() or abs(number) >= MONEY_LIMIT:
        raise RowProblem("not_amount", value=str(value))
    if number < 0 and not allow_negative:
        raise RowProblem("negative_amount", value=str(value))
    return number.quantize(Decimal("0.01"))


_TRUE = {"1", "true", "yes", "y", "t", "on", "是", "有", "对", "√", "✓", "同意", "x"}
_FALSE = {"0", "false", "no", "n", "f", "off", "否", "无", "不", "不同意", ""}


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = clean_text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowProblem("not_yes_no", value=text)


def parse_choice(value, choices: dict[str, str], synonyms: dict[str, str] | None = None) -> str:
    """A label, value or synonym (case-insensitive) → the stored choice value."""
    text = clean_text(value)
    if not text:
        return ""
    lowered = text.lower()
    if lowered in choices:
        return lowered
    if synonyms and lowered in synonyms:
        return synonyms[lowered]
    for stored, label in choices.items():
        if lowered == str(label).lower():
            return stored
    raise RowProblem("not_choice", value=text, choices=", ".join(c for c in choices if c))


@lru_cache(maxsize=65536)
def _mobile_prefix_valid(prefix7: str) -> bool:
    try:
        normalize_phone(prefix7 + "0000", "CN")
    except ValidationError:
        return False
    return True


def phone_e164(value, region: str | None = None) -> str:
    """customers.normalize.normalize_phone, with Chinese mobiles answered from the
    per-prefix memo. Raises ValueError."""
    if value is None:
        return ""
    text = clean_text(value)
    if not text:
        return ""
    region = (region or settings.VALUECRM_PHONE_REGION or "").upper()
    compact = _PHONE_NOISE.sub("", text)
    match = _MOBILE_CN.match(compact)
    if match and (region == "CN" or compact.startswith("+86")):
        digits = match.group(1)
        if _mobile_prefix_valid(digits[:7]):
            return "+86" + digits
        raise RowProblem("not_phone", value=text)
    try:
        return normalize_phone(text, region or None)
    except ValidationError:
        raise RowProblem("not_phone", value=text) from None


def email_address(value) -> str:
    """customers.normalize.normalize_email; raises ValueError."""
    try:
        return normalize_email(clean_text(value))
    except ValidationError:
        raise RowProblem("not_email", value=clean_text(value)) from None


def split_tags(value) -> list[str]:
    text = clean_text(value)
    if not text:
        return []
    parts = re.split(r"[,;，；、|/]+", text)
    seen, tags = set(), []
    for part in parts:
        part = part.strip()
        if part and part.lower() not in seen:
            seen.add(part.lower())
            tags.append(part)
    return tags
