"""The batch fast path agrees with the cell-by-cell reference (RowCleaner.clean).

Generated cells mix the common spellings the fast path answers (ISO and y/m/d
dates, ¥/RMB amounts, ordinary e-mails, 11-digit mobiles) with near misses and
plain junk that must fall through to the reference and fail with its message.
"""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuecrm.imports import fastpath
from valuecrm.imports.readers import Row
from valuecrm.imports.validate import RowCleaner

JUNK = st.text(alphabet="0123456789-/.: TZ年月日¥￥$,RMBrmb@._+ab１２＠\u3000\x00é", max_size=24)


@st.composite
def date_cells(draw):
    year = draw(st.sampled_from([1800, 1899, 1900, 1990, 2024, 2200, 2201, 9999]))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    style = draw(st.integers(0, 5))
    text = [f"{year}-{month:02d}-{day:02d}", f"{year}/{month}/{day}", f"{year}.{month}.{day}",
            f"{year}{month:02d}{day:02d}", f"{year}年{month}月{day}日", f"{day}/{month}/{year}"][style]
    if draw(st.booleans()):
        hour, minute = draw(st.integers(0, 25)), draw(st.integers(0, 61))
        text += draw(st.sampled_from([f" {hour:02d}:{minute:02d}", f"T{hour:02d}:{minute:02d}:05",
                                      f" {hour:02d}:{minute:02d}:{minute % 62:02d}",
                                      f" {hour}:{minute}", "Z", " 下午2:30"]))
    return draw(st.sampled_from(["", " ", "\u3000"])) + text + draw(st.sampled_from(["", " "]))


@st.composite
def amount_cells(draw):
    number = draw(st.one_of(st.integers(0, 10**13), st.decimals(0, 10**6, places=3)))
    body = draw(st.sampled_from(["{:,}", "{}", "{:.2f}", "{:,.2f}", "{:.1f}"])).format(number)
    prefix = draw(st.sampled_from(["", "¥", "￥", "$", "RMB ", "RMB", "rmb ", "-", "(", "€"]))
    suffix = draw(st.sampled_from(["", "", ")", "元", " "]))
    return prefix + body + suffix


@st.composite
def email_cells(draw):
    local = draw(st.from_regex(r"[A-Za-z0-9._%+\-'!]{0,12}", fullmatch=True))
    domain = draw(st.from_regex(r"[A-Za-z0-9\-]{0,8}(\.[A-Za-z0-9\-]{0,6}){0,3}", fullmatch=True))
    at = draw(st.sampled_from(["@", "＠", "", "@@"]))
    return draw(st.sampled_from(["", " "])) + local + at + domain


@st.composite
def phone_cells(draw):
    digits = draw(st.from_regex(r"1[0-9]{10}|[0-9]{7,12}", fullmatch=True))
    style = draw(st.integers(0, 3))
    if style == 1:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 2:
        return "+86 " + digits
    if style == 3:
        return digits.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    return digits


def _reference_agrees(handle, fast, cell):
    value = fast(cell)
    if value is fastpath.MISS:
        return
    assert handle(cell) == value  # an answer only where the reference gives the same one
    if isinstance(value, dt.datetime):
        assert handle(cell).tzinfo == value.tzinfo


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.one_of(date_cells(), JUNK))
def test_dates_agree(cell):
    cleaner = RowCleaner("customers", ["b"], {"b": "birthday"}, {})
    _reference_agrees(cleaner._handlers()["birthday"], fastpath.date, cell)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.one_of(date_cells(), JUNK))
def test_moments_agree(cell):
    from django.utils import timezone

    cleaner = RowCleaner("orders", ["t"], {"t": "placed_at"}, {})
    _reference_agrees(cleaner._moment, fastpath.moment(timezone.get_default_timezone()), cell)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.one_of(amount_cells(), JUNK))
def test_amounts_agree(cell):
    cleaner = RowCleaner("orders", ["a"], {"a": "total_amount"}, {})
    _reference_agrees(cleaner._handlers()["total_amount"], fastpath.amount(False), cell)


@settings(max_examples=200, deadline=None)
@given(cell=st.one_of(email_cells(), st.emails(), JUNK))
def test_emails_agree(cell):
    from valuecrm.imports import normalize_values as nv

    _reference_agrees(nv.email_address, fastpath.email, cell)


@settings(max_examples=200, deadline=None)
@given(cell=st.one_of(phone_cells(), JUNK))
def test_phones_agree(cell):
    from valuecrm.imports import normalize_values as nv

    _reference_agrees(lambda v: nv.phone_e164(v, "CN"), fastpath.phone("CN"), cell)


def test_fast_paths_answer_the_common_spellings():
    zone = dt.UTC
    assert fastpath.date("1990/1/5") == dt.date(1990, 1, 5)
    assert fastpath.date("19900105") == dt.date(1990, 1, 5)
    assert fastpath.date("1990-02-30") is fastpath.MISS  # left to the reference, which rejects it
    assert fastpath.moment(zone)("2024-03-05 14:30") == dt.datetime(2024, 3, 5, 14, 30, tzinfo=zone)
    assert str(fastpath.amount(False)("¥1,234.5")) == "1234.50"
    assert str(fastpath.amount(False)("RMB 12")) == "12.00"
    assert fastpath.amount(False)("-12") is fastpath.MISS
    assert fastpath.email(" User1@Example.COM ") == "user1@example.com"
    assert fastpath.email("a..b@example.com") is fastpath.MISS


CUSTOMER_HEADERS = ["id", "name", "phone", "email", "city", "birthday", "gender", "tags", "vip"]
CUSTOMER_MAPPING = {"id": "external_id", "name": "name", "phone": "phone", "email": "email",
                    "city": "city", "birthday": "birthday", "gender": "gender", "tags": "tags",
                    "vip": "consent_email"}
ORDER_HEADERS = ["no", "customer", "mail", "at", "amount", "status", "currency"]
ORDER_MAPPING = {"no": "external_id", "customer": "customer_external_id",
                 "mail": "customer_email", "at": "placed_at", "amount": "total_amount",
                 "status": "status", "currency": "currency"}


def _rows(draw, cells, width):
    rows = []
    for number in range(2, 2 + draw(st.integers(1, 12))):
        values = [draw(strategy) for strategy in cells]
        if draw(st.integers(0, 9)) == 0:
            values = values[: draw(st.integers(0, width - 1))]
            rows.append(Row(number, values, "The row has too few values."))
        else:
            rows.append(Row(number, values))
    return rows


def _maybe_blank(strategy):
    return st.one_of(strategy, st.sampled_from(["", "  ", "\u3000"]))


@st.composite
def customer_rows(draw):
    cells = [_maybe_blank(st.from_regex(r"C[0-9]{3}", fullmatch=True)),
             _maybe_blank(st.sampled_from(["王伟", "Li Lei", "x" * 201, "a\x00b", "　李娜　"])),
             _maybe_blank(phone_cells()), _maybe_blank(email_cells()),
             _maybe_blank(st.sampled_from(["上海", "北京", "y" * 101])),
             _maybe_blank(date_cells()),
             _maybe_blank(st.sampled_from(["男", "女", "M", "female", "robot"])),
             _maybe_blank(st.sampled_from(["VIP", "VIP,新客", "t" * 51])),
             _maybe_blank(st.sampled_from(["是", "否", "yes", "maybe"]))]
    return _rows(draw, cells, len(CUSTOMER_HEADERS))


@st.composite
def order_rows(draw):
    cells = [_maybe_blank(st.from_regex(r"O[0-9]{4}", fullmatch=True)),
             _maybe_blank(st.from_regex(r"C[0-9]{3}", fullmatch=True)),
             _maybe_blank(email_cells()), _maybe_blank(date_cells()),
             _maybe_blank(amount_cells()),
             _maybe_blank(st.sampled_from(["已付款", "交易成功", "paid", "lost"])),
             _maybe_blank(st.sampled_from(["CNY", "¥", "rmb", "dollars"]))]
    return _rows(draw, cells, len(ORDER_HEADERS))


def _same(cleaner, rows):
    fast = cleaner.clean_batch(rows)
    reference = [cleaner.clean(row.number, row.values, row.problem) for row in rows]
    assert [(r.number, r.values, r.errors) for r in fast] == \
        [(r.number, r.values, r.errors) for r in reference]


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=customer_rows())
def test_customer_batches_agree_with_row_by_row(rows):
    _same(RowCleaner("customers", CUSTOMER_HEADERS, CUSTOMER_MAPPING, {}), rows)


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=order_rows())
def test_order_batches_agree_with_row_by_row(rows):
    _same(RowCleaner("orders", ORDER_HEADERS, ORDER_MAPPING, {}), rows)
