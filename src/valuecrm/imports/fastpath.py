"""Column-at-a-time cleaning for large imports: cheap answers for the common spellings.

`validate.RowCleaner.clean` (cell by cell, through normalize_values) is the reference.
A batch is cleaned here one column at a time: each cell first meets a fast path
that only answers when it is sure to give exactly what the reference gives
(ASCII-only regexes for ISO and y/m/d dates, plain amounts with ¥/￥/$/RMB and
thousands separators, ordinary e-mail addresses, 11-digit mobiles); everything
else — every invalid cell included — goes through the reference handler, so the
error messages are the reference's own. Handlers that are pure functions of the
cell (dates, choices, yes/no, currencies) are memoised per column, since a file
repeats those values endlessly. tests/imports/test_fastpath.py checks agreement
with the reference on generated valid and invalid cells.

Why not pyarrow.compute: measured on 50,000 amounts, cast-to-decimal plus
to_pylist took 190 ms against 34 ms for the regex loop below (building Python
Decimals dominates), and pyarrow's strptime reads 2024/02/30 as 1 March instead
of rejecting it.
"""

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal

from valuecrm.customers.normalize import half_width
from valuecrm.imports import normalize_values as nv
from valuecrm.imports.row_errors import RowProblem

MISS = object()
EMPTY = object()
MEMO_LIMIT = 100_000
CENT = Decimal("0.01")


class Failed:
    """A cell the reference handler rejected, with its reason: a row_errors.RowProblem
    (rendered in the reader's language later) or, from handlers without codes, text."""

    __slots__ = ("message",)

    def __init__(self, exc: ValueError):
        self.message = exc if isinstance(exc, RowProblem) else str(exc)


# [0-9] and re.ASCII throughout: Python's \d also matches other scripts' digits,
# which the reference reads through half_width/int with its own rules.
_DATE = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})|([0-9]{4})([0-9]{2})([0-9]{2})",
                   re.ASCII)
_DAY = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})", re.ASCII)
_CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?", re.ASCII)
MIDNIGHT = dt.time(0, 0)
_AMOUNT = re.compile(r"(?:[¥￥$]|RMB ?)?([0-9]{1,3}(?:,[0-9]{3}){1,3}|[0-9]{1,12})(?:\.([0-9]{1,2}))?")
# A strict subset of what Django's EmailValidator accepts (dot-atom local part of
# common characters, LDH labels, alphabetic top-level domain).
_EMAIL = re.compile(r"[a-z0-9_%+\-]+(?:\.[a-z0-9_%+\-]+)*@"
                    r"(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII)


def text_column(handle: Callable, max_length: int) -> Callable:
    """`column` for plain text, in bulk: one pass that folds and strips every cell, and
    the reference handler only for cells that are empty, too long or hold a NUL."""
    one = column(handle, text(max_length))

    def run(cells: list) -> tuple[list, list[int]]:
        if not set(map(type, cells)) <= {str}:
            return one(cells)
        whole = "".join(cells)
        if "\x00" in whole:
            return one(cells)
        if whole.isascii():  # the usual column: nothing to fold, strip at C speed
            values = list(map(str.strip, cells))
        else:
            values = [cell.strip() if cell.isascii() else half_width(cell).strip()
                      for cell in cells]
        # half_width keeps whitespace whitespace, so a folded cell is empty exactly when
        # the raw cell is blank, which is what `clean` calls empty.
        lengths = list(map(len, values))
        if lengths and min(lengths) and max(lengths) <= max_length:
            return values, []
        special = [i for i, value in enumerate(values) if not value or len(value) > max_length]
        for position in special:
            if not values[position]:
                values[position] = EMPTY
            else:
                try:
                    values[position] = handle(cells[position])
                except ValueError as exc:
                    values[position] = Failed(exc)
        return values, special
    return run


def text(max_length: int) -> Callable:
    def fast(cell):
        if type(cell) is str:
            value = (cell if cell.isascii() else half_width(cell)).strip()
            if value and len(value) <= max_length and "\x00" not in value:
                return value
        return MISS
    return fast


def email(cell):
    if type(cell) is str:
        value = (cell if cell.isascii() else half_width(cell)).strip().lower()
        if len(value) <= 254 and _EMAIL.fullmatch(value):
            return value
    return MISS


def phone(region: str) -> Callable | None:
    if region.upper() != "CN":
        return None

    def fast(cell):
        if type(cell) is str:
            digits = cell.strip()
            if (len(digits) == 11 and digits[0] == "1" and digits.isascii() and digits.isdigit()
                    and nv._mobile_prefix_valid(digits[:7])):
                return "+86" + digits
        return MISS
    return fast


def amount(decimal_comma: bool) -> Callable | None:
    if decimal_comma:
        return None

    def fast(cell):
        if type(cell) is str:
            match = _AMOUNT.fullmatch(cell.strip())
            if match:
                whole, cents = match.group(1, 2)
                whole = whole.replace(",", "")
                if cents is None:
                    return Decimal(whole + ".00")
                if len(cents) == 2:
                    return Decimal(whole + "." + cents)
                return Decimal(whole + "." + cents).quantize(CENT)
        return MISS
    return fast


def _year_ok(year: int) -> bool:
    return nv.MIN_YEAR <= year <= nv.MAX_YEAR


def date(cell):
    if type(cell) is str:
        match = _DATE.fullmatch(cell.strip())
        if match:
            parts = match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6)
            year = int(parts[0])
            if _year_ok(year):
                try:
                    return dt.date(year, int(parts[1]), int(parts[2]))
                except ValueError:
                    pass
    return MISS


def moment(zone) -> Callable:
    """Date-times as "2024-03-05", "2024/3/5 14:30" or "2024-03-05 14:30:05". The date
    and the time of day are memoised apart: an order export repeats each day thousands
    of times and has at most 86,400 times of day, so a cell costs two dict lookups."""
    days: dict[str, dt.date] = {}
    clocks: dict[str, dt.time] = {}
    combine = dt.datetime.combine

    def fast(cell):
        if type(cell) is not str:
            return MISS
        day_text, _space, clock_text = cell.strip().partition(" ")
        day = days.get(day_text)
        if day is None:
            match = _DAY.fullmatch(day_text)
            if not match:
                return MISS
            year, month, date_of_month = (int(part) for part in match.group(1, 2, 3))
            if not _year_ok(year):
                return MISS
            try:
                day = dt.date(year, month, date_of_month)
            except ValueError:
                return MISS
            if len(days) >= MEMO_LIMIT:
                days.clear()
            days[day_text] = day
        if not clock_text:
            return combine(day, MIDNIGHT, zone)
        clock = clocks.get(clock_text)
        if clock is None:
            match = _CLOCK.fullmatch(clock_text)
            if not match:
                return MISS
            hour, minute, second = match.group(1, 2, 3)
            try:
                clock = dt.time(int(hour), int(minute), int(second or 0))
            except ValueError:
                return MISS
            clocks[clock_text] = clock  # bounded: 24 × 60 × 61 spellings at most
        return combine(day, clock, zone)
    return fast


def column(handle: Callable, fast: Callable | None = None, memo: bool = False) -> Callable:
    """A function cleaning a list of cells → (values, positions of empty or failed cells);
    an empty cell (None or blank text, as `RowCleaner.clean` sees it) gives EMPTY.

    Every fast path answers MISS for an empty cell (no pattern matches blank text), so
    the common case is one comprehension over the column; only the misses come back
    for the empty check, the memo and the reference handler."""
    cache: dict = {}

    def slow(cell):
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            return EMPTY
        keyed = memo and type(cell) is str
        if keyed:
            value = cache.get(cell, MISS)
            if value is not MISS:
                return value
        try:
            value = handle(cell)
        except ValueError as exc:
            value = Failed(exc)
        if keyed:
            if len(cache) >= MEMO_LIMIT:
                cache.clear()
            cache[cell] = value
        return value

    def run(cells: list) -> tuple[list, list[int]]:
        if fast is not None:
            out = [fast(cell) for cell in cells]
        elif memo:
            get = cache.get
            out = [get(cell, MISS) if type(cell) is str else MISS for cell in cells]
        else:
            out = [MISS] * len(cells)
        for position in [i for i, value in enumerate(out) if value is MISS]:
            out[position] = slow(cells[position])
        special = [i for i, value in enumerate(out) if value is EMPTY or type(value) is Failed]
        return out, special
    return run
