import datetime as dt
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from valuecrm.customers.normalize import normalize_phone
from valuecrm.imports import normalize_values as nv
from valuecrm.imports.mapping import suggest_mapping


@pytest.mark.parametrize("text,expected", [
    ("2024-03-05", dt.date(2024, 3, 5)), ("2024/3/5", dt.date(2024, 3, 5)),
    ("2024.3.5", dt.date(2024, 3, 5)), ("2024年3月5日", dt.date(2024, 3, 5)),
    ("２０２４年３月５日", dt.date(2024, 3, 5)), ("20240305", dt.date(2024, 3, 5)),
    ("03/05/2024", dt.date(2024, 3, 5)), (45356, dt.date(2024, 3, 5)),
    ("45356", dt.date(2024, 3, 5)), (dt.datetime(2024, 3, 5, 9), dt.date(2024, 3, 5)),
])
def test_dates(text, expected):
    assert nv.parse_date(text) == expected


def test_day_first_option():
    assert nv.parse_date("05/03/2024", dayfirst=True) == dt.date(2024, 3, 5)
    assert nv.parse_date("05/03/2024") == dt.date(2024, 5, 3)


@pytest.mark.parametrize("text,expected", [
    ("2024-03-05 14:30", (14, 30, 0)), ("2024/3/5 下午2:30", (14, 30, 0)),
    ("2024年3月5日 14时30分", (14, 30, 0)), ("2024-03-05T14:30:05", (14, 30, 5)),
    ("20240305 143005", (14, 30, 5)),
])
def test_datetimes_are_read_in_site_time(settings, text, expected):
    moment = nv.parse_datetime(text)
    assert moment.tzinfo == ZoneInfo(settings.TIME_ZONE)
    assert (moment.hour, moment.minute, moment.second) == expected


@pytest.mark.parametrize("text", ["2024-02-30", "yesterday", "1800-01-01", "2024年13月1日", ""])
def test_bad_dates(text):
    with pytest.raises(ValueError):
        nv.parse_date(text)


@pytest.mark.parametrize("text,expected", [
    ("¥1,234.50", "1234.50"), ("￥1234.5", "1234.50"), ("RMB 1,234.50", "1234.50"),
    ("$1,234", "1234.00"), ("１２３.４", "123.40"), ("1234元", "1234.00"), (12.5, "12.50"),
])
def test_amounts(text, expected):
    assert nv.parse_amount(text) == Decimal(expected)


def test_decimal_comma():
    assert nv.parse_amount("1.234,50 €", decimal_comma=True) == Decimal("1234.50")


@pytest.mark.parametrize("text", ["-5", "¥-5.00", "(12.00)", "abc", "1,2,3.4.5", "NaN"])
def test_bad_amounts(text):
    with pytest.raises(ValueError):
        nv.parse_amount(text)


def test_phone_and_email_full_width():
    assert nv.phone_e164("１３８ ００１３ ８０００") == "+8613800138000"
    assert nv.phone_e164("+86 138-0013-8000") == "+8613800138000"
    assert nv.email_address("  Li.Lei＠Example.COM ") == "li.lei@example.com"
    with pytest.raises(ValueError):
        nv.phone_e164("12345")
    with pytest.raises(ValueError):
        nv.email_address("not-an-email")


def test_clean_text_full_width():
    assert nv.clean_text("  ＡＢＣ１２３ ") == "ABC123"
    assert nv.clean_text(13800138000.0) == "13800138000"


def test_mobile_prefix_memo_agrees_with_phonenumbers():
    # The memo answers Chinese mobiles from their first seven digits; it must agree
    # with the full check on every number it answers.
    rng = random.Random(7)
    for _ in range(3000):
        number = "1" + "".join(rng.choice("0123456789") for _ in range(10))
        try:
            expected = normalize_phone(number, "CN")
        except ValidationError:
            expected = None
        try:
            got = nv.phone_e164(number, "CN")
        except ValueError:
            got = None
        assert got == expected, number


def test_header_suggestions_in_chinese_and_english(db):
    headers = ["姓名", "手机号", "电子邮件", "公司", "城市", "省份", "性别", "生日", "标签",
               "客户编号", "Notes"]
    assert suggest_mapping("customers", headers) == {
        "姓名": "name", "手机号": "phone", "电子邮件": "email", "公司": "company", "城市": "city",
        "省份": "region", "性别": "gender", "生日": "birthday", "标签": "tags",
        "客户编号": "external_id", "Notes": "note",
    }
    order_headers = ["订单号", "客户ID", "下单时间", "实付金额", "Order Status"]
    assert suggest_mapping("orders", order_headers) == {
        "订单号": "external_id", "客户ID": "customer_external_id", "下单时间": "placed_at",
        "实付金额": "total_amount", "Order Status": "status",
    }
