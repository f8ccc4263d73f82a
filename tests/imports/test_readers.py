import datetime as dt
import zipfile

import openpyxl
import pytest

from valuecrm.common.errors import ValidationFailed
from valuecrm.imports.readers import read_rows, sniff

HEADER = ["姓名", "手机号", "城市"]
ROWS = [HEADER, ["张三", "13800138000", "上海"], ["李四", "13900139000", "北京"]]


@pytest.mark.parametrize("encoding,expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("utf-16", "utf-16"),
    ("utf-16-le", "utf-16-le"),
])
def test_encodings_are_detected_and_read(write_csv, encoding, expected):
    path = write_csv("c.csv", ROWS, encoding=encoding)
    info = sniff(path)
    assert (info.format, info.encoding, info.headers) == ("csv", expected, HEADER)
    rows = list(read_rows(path, info))
    assert [(r.number, r.values) for r in rows] == [(2, ROWS[1]), (3, ROWS[2])]


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiters_are_sniffed(write_csv, delimiter):
    path = write_csv("c.csv", [["name", "email", "city"], ["A, Ltd", "a@x.cn", "Paris"]],
                     delimiter=delimiter)
    info = sniff(path)
    assert info.delimiter == delimiter
    assert list(read_rows(path, info))[0].values == ["A, Ltd", "a@x.cn", "Paris"]


def test_multiline_field_keeps_the_starting_line_number(write_csv):
    path = write_csv("c.csv", [["name", "note"], ["A", "line1\nline2"], ["B", "x"]])
    rows = list(read_rows(path, sniff(path)))
    assert [r.number for r in rows] == [2, 4]


def test_truncated_csv_reports_the_cut_row(write_csv):
    path = write_csv("c.csv", [["name", "phone", "city"], ["A", "13800138000", "上海"]],
                     raw_tail=b"B,1390")
    rows = list(read_rows(path, sniff(path)))
    assert rows[1].number == 3
    assert "2 values but the header has 3" in str(rows[1].problem)


def test_csv_cut_inside_quotes_is_reported(write_csv):
    path = write_csv("c.csv", [["name", "note"], ["A", "ok"]], raw_tail=b'B,"never closed')
    rows = list(read_rows(path, sniff(path)))
    assert rows[-1].number == 3 and "malformed" in str(rows[-1].problem)


def test_xlsx_with_merged_title_row(data_dir):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["2024 年客户名单"])
    sheet.merge_cells("A1:D1")
    sheet.append(["姓名", "手机", "生日", "金额"])
    sheet.append(["张三", 13800138000, dt.datetime(1990, 5, 1), 12.5])
    path = data_dir / "c.xlsx"
    book.save(path)
    info = sniff(path)
    assert (info.format, info.header_row, info.headers) == ("xlsx", 2, ["姓名", "手机", "生日", "金额"])
    rows = list(read_rows(path, info))
    assert rows[0].number == 3
    assert rows[0].values == ["张三", 13800138000, dt.datetime(1990, 5, 1), 12.5]


def test_broken_xlsx_is_a_clear_error(data_dir):
    book = openpyxl.Workbook()
    book.active.append(["name", "phone"])
    path = data_dir / "c.xlsx"
    book.save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValidationFailed) as caught:
        sniff(path)
    assert "xlsx" in caught.value.detail


def test_xlsx_that_is_not_a_zip(data_dir):
    path = data_dir / "fake.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValidationFailed):
        sniff(path)
    assert not zipfile.is_zipfile(path)


def test_json_array_and_lines(data_dir):
    array = data_dir / "c.json"
    array.write_text('[{"name": "A", "email": "a@x.cn"}, {"name": "B", "phone": "1"}]')
    info = sniff(array)
    assert info.headers == ["name", "email", "phone"]
    assert [r.values for r in read_rows(array, info)] == [["A", "a@x.cn", None], ["B", None, "1"]]
    lines = data_dir / "c.jsonl"
    lines.write_text('{"name": "A"}\n\n{"name": "B"\n{"name": "C"}\n')
    info = sniff(lines)
    rows = list(read_rows(lines, info))
    assert [(r.number, bool(r.problem)) for r in rows] == [(1, False), (3, True), (4, False)]


def test_empty_file(data_dir):
    path = data_dir / "e.csv"
    path.write_bytes(b"")
    with pytest.raises(ValidationFailed):
        sniff(path)
