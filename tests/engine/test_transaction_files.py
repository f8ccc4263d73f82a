"""Transaction CSVs as exports really arrive: line endings, BOM, delimiters, quotes, GBK."""

import json

import pytest
from typer.testing import CliRunner

from valuecrm.commands.model import app
from valuecrm.engine.summary import summarize
from valuecrm.engine.transaction_files import TransactionFileError, read_csv_frame

runner = CliRunner()

HEADER = ["customer_id", "date", "amount"]
ROWS = [
    ["1", "2024-01-01", "10"],
    ["1", "2024-01-11", "20.5"],
    ["1", "2024-01-21", "30"],
    ["2", "2024-01-05", "5"],
    ["2", "2024-01-15", "7"],
]


def _text(header, rows, delimiter=",", ends=None):
    """CSV text; ``ends`` gives each line's ending (header first), default LF everywhere."""
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    ends = ends or ["\n"] * len(lines)
    return "".join(line + end for line, end in zip(lines, ends, strict=True))


def _crlf_after_lf_header():
    return _text(HEADER, ROWS, ends=["\n"] + ["\r\n"] * len(ROWS))


VARIANTS = {
    "lf": lambda: _text(HEADER, ROWS).encode(),
    "crlf": lambda: _text(HEADER, ROWS, ends=["\r\n"] * 6).encode(),
    "crlf_after_lf_header": lambda: _crlf_after_lf_header().encode(),
    "mixed": lambda: _text(HEADER, ROWS, ends=["\r\n", "\n", "\r\n", "\n", "\n", "\r\n"]).encode(),
    "bom": lambda: b"\xef\xbb\xbf" + _text(HEADER, ROWS, ends=["\r\n"] * 6).encode(),
    "semicolon": lambda: _text(HEADER, ROWS, delimiter=";", ends=["\n"] + ["\r\n"] * 5).encode(),
    "tab": lambda: _text(HEADER, ROWS, delimiter="\t", ends=["\n"] + ["\r\n"] * 5).encode(),
    "quoted": lambda: (
        b'customer_id,date,amount,note\n'
        b'"1","2024-01-01","10","a, b"\r\n'
        b'1,2024-01-11,20.5,"say ""hi"""\r\n'
        b'1,2024-01-21,30,"two\nlines"\r\n'
        b'2,2024-01-05,5,\r\n'
        b'2,2024-01-15,7,""\r\n'
    ),
    "gbk": lambda: _text(["customer_id", "date", "amount", "门店"],
                         [r + ["上海店"] for r in ROWS], ends=["\n"] + ["\r\n"] * 5).encode("gbk"),
    "utf16": lambda: _text(HEADER, ROWS, ends=["\r\n"] * 6).encode("utf-16"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_summary_reads_every_csv_variant(tmp_path, variant):
    path = tmp_path / f"{variant}.csv"
    path.write_bytes(VARIANTS[variant]())

    summary = summarize(path)

    assert list(summary.index) == [1, 2]
    assert summary["frequency"].tolist() == [2, 1]
    assert summary["recency"].tolist() == [20.0, 10.0]
    assert summary["T"].tolist() == [20.0, 16.0]
    assert summary["monetary_value"].tolist() == [25.25, 7.0]


@pytest.mark.parametrize("variant", ["crlf_after_lf_header", "gbk", "semicolon", "quoted"])
def test_model_fit_cli_accepts_the_transactions_file(tmp_path, variant):
    path = tmp_path / "orders.csv"
    path.write_bytes(VARIANTS[variant]())
    result = runner.invoke(app, ["fit", "bgnbd", "-i", str(path), "--format", "transactions"])
    assert "could not sniff" not in result.output.lower()
    assert "sniffing" not in result.output.lower()
    # Two customers are too few to fit well, but reading and summarising succeeded:
    # either a fit or the engine's convergence message, never a file error.
    if result.exit_code == 0:
        assert json.loads(result.stdout)["n"] == 2
    else:
        assert result.exit_code == 1 and "orders.csv" not in result.output


def test_summary_format_reads_gbk_semicolon_file(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_bytes("客户;frequency;recency;T\r\n张三;1;5;10\n李四;0;0;8\r\n".encode("gbk"))
    frame = read_csv_frame(path)
    assert list(frame.columns) == ["客户", "frequency", "recency", "T"]
    assert frame["客户"].tolist() == ["张三", "李四"]
    assert frame["T"].tolist() == [10, 8]


def test_too_many_fields_names_file_and_line(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer_id,date,amount\n1,2024-01-01,10\r\n1,2024-01-02,5,oops\r\n")
    with pytest.raises(TransactionFileError) as info:
        summarize(path)
    assert info.value.line == 3
    assert str(info.value) == (
        "orders.csv, line 3: expected 3 columns like the header, found 4 "
        "(a missing quote or an extra comma?)"
    )


def test_bad_date_names_file_line_and_column(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer_id,date,amount\n1,2024-01-01,10\r\n2,\"x\ny\",3\r\n3,2024-13-45,5\r\n")
    with pytest.raises(TransactionFileError) as info:
        summarize(path)
    assert (info.value.line, info.value.column) == (3, "date")
    assert str(info.value) == "orders.csv, line 3, column 'date': 'x\\ny' is not a date"


def test_negative_amount_names_the_line(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer_id;date;amount\n1;2024-01-01;10\n1;2024-01-03;-4\n")
    with pytest.raises(TransactionFileError) as info:
        summarize(path)
    assert (info.value.line, info.value.column) == (3, "amount")


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "orders.csv"
    # \xff\xff is neither UTF-8 nor GB18030
    path.write_bytes(b"customer_id,date,amount\n1,2024-01-01,10\n2,2024-01-02,\xff\xff\n")
    with pytest.raises(TransactionFileError) as info:
        summarize(path)
    assert info.value.line == 3
    assert "neither UTF-8 nor GBK" in str(info.value)


def test_cli_reports_file_error_with_exit_code_2(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer_id,date,amount\n1,2024-01-01,10\n1,\"2024-01-02,5\n")
    result = runner.invoke(app, ["fit", "bgnbd", "-i", str(path), "--format", "transactions"])
    assert result.exit_code == 2
    assert "orders.csv, line 3" in result.output


def test_empty_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"")
    with pytest.raises(TransactionFileError, match="orders.csv: the file is empty"):
        summarize(path)


def test_clean_file_is_still_read_by_duckdb(tmp_path, monkeypatch):
    """The fallback is a fallback: a clean file never reaches pandas."""
    import valuecrm.engine.transaction_files as files

    def refuse(*args, **kwargs):
        raise AssertionError("forgiving reader used for a clean file")

    monkeypatch.setattr(files, "read_csv_frame", refuse)
    path = tmp_path / "orders.csv"
    path.write_bytes(VARIANTS["lf"]())
    assert summarize(path)["frequency"].tolist() == [2, 1]
