"""Reading transaction files (CSV, Parquet) the way real exports arrive.

DuckDB reads a clean CSV fastest, so it goes first. Its dialect sniffer refuses
files it cannot classify — a header ending in LF followed by CRLF rows (Excel
re-saves), GBK text from a Chinese ERP, UTF-16 from some spreadsheet exports — so
when it fails the file is read again by a forgiving reader: the text encoding is
detected (BOM, strict UTF-8, else GB18030 ⊇ GBK/GB2312), the delimiter sniffed
from the first lines (``,`` ``;`` tab ``|``), and pandas parses it, which accepts
LF, CRLF and mixed line endings and quoted fields (embedded delimiters, doubled
quotes, newlines). A file neither can read raises :class:`TransactionFileError`
naming the file, the line and — where one is to blame — the column.

The import wizard (``valuecrm.imports.readers``) accepts the same files; this
module cannot share its code because the engine imports nothing from the web app.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

__all__ = ["TransactionFileError", "detect_encoding", "read_csv_frame", "locate_bad_value"]

DELIMITERS = ",;\t|"
_HEAD_BYTES = 64 * 1024
_CHUNK = 1 << 20
# pandas' C parser: "Error tokenizing data. C error: Expected 3 fields in line 5, saw 4"
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_IN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


class TransactionFileError(ValueError):
    """A transaction file that cannot be read, with where it went wrong."""

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None,
                 column: str | None = None):
        self.path = Path(path)
        self.line = line
        self.column = column
        self.problem = problem
        where = str(self.path.name)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")


def _line_of_offset(path: Path, offset: int) -> int:
    """1-based line number of the byte at ``offset``."""
    with open(path, "rb") as handle:
        return handle.read(offset).count(b"\n") + 1


def _decodes_whole(path: Path, encoding: str) -> int | None:
    """None when the file decodes in ``encoding``, else the byte offset of the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return done + exc.start
            if not chunk:
                return None
            done += len(chunk)


def detect_encoding(path: Path | str) -> str:
    """BOM → UTF-8 (strict) → GB18030 (a superset of GBK and GB2312).

    Raises TransactionFileError naming the line of the first byte that fits none.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = ""
    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    first_bad = None
    for candidate in candidates:
        bad = _decodes_whole(path, candidate)
        if bad is None:
            return candidate
        first_bad = bad if first_bad is None else max(first_bad, bad)
    raise TransactionFileError(
        path, "the text is neither UTF-8 nor GBK/GB18030; save the file as UTF-8",
        line=_line_of_offset(path, first_bad or 0),
    )


def _head_text(path: Path, encoding: str) -> str:
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)


def sniff_delimiter(sample: str) -> str:
    """The delimiter of the first lines of a CSV: csv.Sniffer, else the commonest in the header."""
    lines = sample.splitlines()[:20]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0]
        return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def read_csv_frame(path: Path | str, *, dtype=None) -> pd.DataFrame:
    """The forgiving reader: any line endings, BOM, ``,;\\t|``, quotes, UTF-8/GBK/UTF-16."""
    path = Path(path)
    encoding = detect_encoding(path)
    delimiter = sniff_delimiter(_head_text(path, encoding))
    try:
        frame = pd.read_csv(path, sep=delimiter, encoding=encoding, dtype=dtype)
    except pd.errors.EmptyDataError:
        raise TransactionFileError(path, "the file is empty") from None
    except pd.errors.ParserError as exc:
        text = str(exc)
        if match := _FIELD_COUNT.search(text):
            expected, line, seen = (int(g) for g in match.groups())
            raise TransactionFileError(
                path, f"expected {expected} columns like the header, found {seen} "
                      f"(a missing quote or an extra {_delimiter_name(delimiter)}?)",
                line=line,
            ) from None
        if match := _EOF_IN_QUOTE.search(text):
            raise TransactionFileError(path, "a quoted field is never closed",
                                       line=int(match.group(1)) + 1) from None
        raise TransactionFileError(path, f"cannot be parsed as CSV: {text}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}.get(delimiter, repr(delimiter))


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number where the record starts, {column: raw text}) for each data row."""
    encoding = detect_encoding(path)
    delimiter = sniff_delimiter(_head_text(path, encoding))
    with open(path, encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        start = reader.line_num + 1
        for values in reader:
            yield start, dict(zip(header, values, strict=False))
            start = reader.line_num + 1


def locate_bad_value(path: Path | str, column: str,
                     is_bad: Callable[[str], bool]) -> tuple[int, str] | None:
    """(line, raw value) of the first row whose ``column`` ``is_bad``, or None.

    For error messages only: it re-reads the file with the csv module so the line
    number is exact even when quoted fields span lines.
    """
    path = Path(path)
    if path.suffix.lower() in {".parquet", ".pq"}:
        return None
    for line, record in _records(path):
        if is_bad(record.get(column, "")):
            return line, record.get(column, "")
    return None


def read_csv_table(path: Path, con):
    """The CSV as an Ibis table: DuckDB on ``con`` first, then the forgiving reader.

    DuckDB's result is materialised into a table so that a file which sniffs but
    fails further down (bad bytes on row 90,000) falls back here rather than failing
    later in the middle of a summary. A one-column result means DuckDB guessed the
    dialect wrong (UTF-16 read as one garbled column, say): the forgiving reader
    decides instead.
    """
    import ibis

    if path.stat().st_size == 0:
        raise TransactionFileError(path, "the file is empty")
    name = _table_name(path)
    try:
        # Plain SQL rather than ibis' read_csv().cache(): no temporary view to finalise.
        con.con.execute(f'CREATE TEMP TABLE "{name}" AS SELECT * FROM read_csv($path)',
                        {"path": str(path)})
    except Exception:  # duckdb's own exception types; any of them means "try the forgiving reader"
        pass
    else:
        table = con.table(name)
        if len(table.columns) > 1:
            return table
    return ibis.memtable(read_csv_frame(path))


def _table_name(path: Path) -> str:
    return "transactions_" + re.sub(r"\W", "_", path.stem, flags=re.ASCII)[:40]


def read_parquet_table(path: Path, con):
    try:
        return con.read_parquet(str(path))
    except Exception as exc:
        raise TransactionFileError(path, f"is not a readable Parquet file ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
