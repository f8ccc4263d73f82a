"""The CDNOW importer: both file layouts, idempotent re-import, all-or-nothing errors."""

import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.orders.cdnow import cdnow_import
from valuecrm.orders.models import Order, OrderLine

REPO = Path(__file__).resolve().parents[2]
CDNOW_DIR = Path(os.environ.get("VALUECRM_CDNOW_DIR", REPO / "../shared/datasets/cdnow"))
SAMPLE = CDNOW_DIR / "CDNOW_sample.txt"


@pytest.fixture
def write(tmp_path):
    def _write(text, name="cdnow.txt"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def test_sample_file_imports_every_row(db):
    result = cdnow_import(SAMPLE)

    assert (result.file_format, result.rows) == ("sample", 6919)
    assert result.customers_created == Customer.objects.filter(source="cdnow").count() == 2357
    assert result.orders_created == Order.objects.filter(source="cdnow").count() == 6919
    assert OrderLine.objects.filter(order__source="cdnow").count() == 6919
    # The first rows of the file: customer 00004 bought twice in January 1997.
    customer = Customer.objects.get(source="cdnow", external_id="00004")
    assert customer.name == "CDNOW 00004"
    first = customer.orders.order_by("placed_at").first()
    assert first.external_id == "00004-19970101-1"
    assert first.total_amount == Decimal("29.33")
    assert first.status == "paid"
    assert first.placed_at == datetime(1997, 1, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    line = first.lines.get()
    assert (line.name, line.quantity) == ("CDs", 2)
    total = sum(Order.objects.filter(source="cdnow").values_list("total_amount", flat=True))
    expected = sum(Decimal(row.split()[4]) for row in SAMPLE.read_text().splitlines() if row.strip())
    assert total == expected


def test_reimport_changes_nothing(db):
    cdnow_import(SAMPLE)
    before = list(Order.objects.order_by("id").values_list("id", "external_id", "total_amount"))

    again = cdnow_import(SAMPLE)

    assert (again.customers_created, again.orders_created, again.orders_existing) == (0, 0, 6919)
    assert list(Order.objects.order_by("id").values_list("id", "external_id", "total_amount")) == before
    assert Customer.objects.count() == 2357


def test_master_format_with_header_and_same_day_rows(db, write):
    path = write(
        " customer_id  date number_of_cds  dollar_value\n"
        " 00001 19970101  1   11.77\n"
        " 00002 19970112  1   12.00\n"
        " 00002 19970112  5   77.00\n"
        " 00003 19970102  2   20.76\n"
    )
    result = cdnow_import(path)

    assert (result.file_format, result.rows, result.customers_created) == ("master", 4, 3)
    assert list(Order.objects.filter(customer__external_id="00002").order_by("external_id")
                .values_list("external_id", "total_amount")) == [
        ("00002-19970112-1", Decimal("12.00")), ("00002-19970112-2", Decimal("77.00"))]
    line = OrderLine.objects.get(order__external_id="00003-19970102-1")
    assert (line.quantity, line.unit_price) == (2, Decimal("10.38"))


def test_sample_rows_land_on_the_same_customers_as_master_rows(db, write):
    cdnow_import(write(" 00004 19970101  2   29.33\n", "master.txt"))
    result = cdnow_import(write(" 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n",
                                "sample.txt"))
    assert (result.customers_created, result.orders_created, result.orders_existing) == (0, 1, 1)
    assert Customer.objects.count() == 1


def test_custom_source_keeps_imports_apart(db, write):
    path = write(" 00001 19970101  1   11.77\n")
    cdnow_import(path, source="cdnow-test")
    assert Customer.objects.get().source == "cdnow-test"
    assert Order.objects.get().source == "cdnow-test"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (" 00001 19970101 1 11.77\n 00002 19971301 1 12.00\n", "line 2", "is not a yyyymmdd date"),
        (" 00001 19970101 1 11.77\n 00002 19970102 x 12.00\n", "line 2", "number of CDs"),
        (" 00001 19970101 1 11.77\n\n 00002 19970102 1 1O.00\n", "line 3", "dollar value"),
        (" 00001 19970101 1 11.77\n 00002 19970102 1 -3.00\n", "line 2", "≥ 0"),
        (" 00001 19970101 1 11.77\n 00002 19970102 1\n", "line 2", "expected 4 columns"),
        (" 00001 19970101 1 11.77 9 9\n", "line 1", "expected 4 or 5 columns"),
        (" 00001 0001 19970101 1 11.77\n 0000A 0001 19970102 1 1.00\n", "line 2", "customer id"),
    ],
)
def test_malformed_line_is_named_and_nothing_is_written(db, write, text, line, message):
    path = write(text)
    with pytest.raises(ValidationFailed) as caught:
        cdnow_import(path)
    assert line in caught.value.errors
    assert message in caught.value.errors[line][0]
    assert line in caught.value.detail
    assert Customer.objects.count() == 0 and Order.objects.count() == 0


def test_every_malformed_line_is_listed(db, write):
    path = write(" 00001 19970101 1 11.77\n 00002 bad 1 1.00\n 00003 19970101 1 1.00\n 00004 x 1 1\n")
    with pytest.raises(ValidationFailed) as caught:
        cdnow_import(path)
    assert sorted(caught.value.errors) == ["line 2", "line 4"]


def test_empty_file_is_an_error(db, write):
    with pytest.raises(ValidationFailed, match="no transactions"):
        cdnow_import(write("\n\n"))


def test_cli_reports_the_bad_line_and_exits_non_zero(db, write):
    from valuecrm.cli import app

    path = write(" 00001 19970101 1 11.77\n 00002 19970230 1 12.00\n")
    result = CliRunner().invoke(app, ["import-cdnow", str(path)])
    assert result.exit_code == 1
    assert "line 2: date '19970230' is not a yyyymmdd date" in result.output
    assert Order.objects.count() == 0

    ok = CliRunner().invoke(app, ["import-cdnow", str(SAMPLE), "--source", "cdnow"])
    assert ok.exit_code == 0, ok.output
    assert "6,919 new orders" in ok.output
