"""Reading uploaded files as rows, whatever the spreadsheet program or shop system wrote.

`sniff` looks at the start of a file once (format, text encoding, delimiter, header
row); `read_rows` then streams it: CSV and JSON Lines line by line, XLSX through
openpyxl's read-only row iterator. Only a JSON array is parsed whole (it has no
streaming form in the standard library). Every row carries the number a person
would find it under: the file line for CSV/JSON Lines, the sheet row for XLSX, the
item number for a JSON array.
"""

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from django.utils.translation import gettext as _

from valuecrm.common.errors import ValidationFailed
from valuecrm.imports.row_errors import RowProblem

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
HEADER_SCAN_ROWS = 20
MAX_FIELD = 1024 * 1024

csv.field_size_limit(MAX_FIELD)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class FileInfo:
    format: str  # csv | xlsx | json | jsonl
    encoding: str = ""
    delimiter: str = ""
    header_row: int = 1
    headers: list[str] = field(default_factory=list)


class Row(NamedTuple):
    """One data row. A named tuple rather than a dataclass: a million of them are made
    per million-row import, and a tuple is made several times faster."""

    number: int
    values: list  # in header order
    # set when the row itself is malformed (truncated, wrong width): a RowProblem
    problem: "RowProblem | str" = ""


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"file": [message]})


def detect_encoding(sample: bytes) -> str:
    """BOM → UTF-8 (strict) → UTF-16 without BOM → GB18030 (a superset of GBK/GB2312)."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if _decodes(sample, "utf-8"):
        return "utf-8"
    if len(sample) >= 4:
        even_nuls = sample[0::2].count(0)
        odd_nuls = sample[1::2].count(0)
        if odd_nuls > len(sample) // 4 and even_nuls == 0:
            return "utf-16-le"
        if even_nuls > len(sample) // 4 and odd_nuls == 0:
            return "utf-16-be"
    if _decodes(sample, "gb18030"):
        return "gb18030"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample).best()
    except ImportError:  # pragma: no cover - charset-normalizer comes with requests
        best = None
    if best is not None:
        return best.encoding
    raise _fail(_("The file's text encoding could not be recognised; save it as UTF-8."))


def _decodes(sample: bytes, encoding: str) -> bool:
    # The sample may end in the middle of a character: decode incrementally, not final.
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_format(path: Path, head: bytes) -> str:
    name = path.name.lower()
    if head.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    return "csv"


def sniff(path: Path | str) -> FileInfo:
    """Format, encoding, delimiter and header of the file; raises ValidationFailed."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if not head.strip():
        raise _fail(_("The file is empty."))
    file_format = detect_format(path, head)
    if file_format == "xlsx":
        return _sniff_xlsx(path)
    encoding = detect_encoding(head)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    text = text.lstrip("\ufeff")
    if file_format in ("json", "jsonl"):
        info = FileInfo(format=file_format, encoding=encoding)
        info.headers = _json_headers(path, info)
        return info
    lines = text.splitlines()
    if len(head) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last sampled line is probably cut
    sample = "\n".join(lines)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        delimiter = max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","
    info = FileInfo(format="csv", encoding=encoding, delimiter=delimiter)
    rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))
    info.header_row, info.headers = _header_of(rows)
    return info


def _looks_like_label(value) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text or len(text) > 60:
        return False
    return not text.replace(".", "", 1).replace("-", "", 1).isdigit()


def _header_of(rows: list[list]) -> tuple[int, list[str]]:
    """The first row with at least half of the widest row's cells filled with labels.

    Spreadsheets often carry a title (a merged cell) or a blank line above the real
    header; those rows have one filled cell and are passed over.
    """
    scan = rows[:HEADER_SCAN_ROWS]
    width = max((sum(1 for v in r if v not in (None, "")) for r in scan), default=0)
    for index, row in enumerate(scan):
        labels = sum(1 for v in row if _looks_like_label(v))
        if width and labels * 2 >= width and labels >= min(2, width):
            return index + 1, _clean_headers(row)
    raise _fail(_("No header row found: the first rows of the file should name the columns."))


def _clean_headers(row: list) -> list[str]:
    headers, seen = [], {}
    for index, value in enumerate(row):
        name = "" if value is None else str(value).strip().lstrip("\ufeff")
        name = name or f"column {index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        headers.append(name)
    # Trailing empty header cells are formatting, not columns.
    while len(headers) > 1 and headers[-1] == f"column {len(headers)}":
        headers.pop()
    return headers


# ---------------------------------------------------------------- XLSX

def _open_workbook(path: Path):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged workbook fails in many library-specific ways
        raise _fail(_("The spreadsheet could not be read (%(error)s). Is it a complete .xlsx file?")
                    % {"error": exc.__class__.__name__}) from None


def _sniff_xlsx(path: Path) -> FileInfo:
    workbook = _open_workbook(path)
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for row in sheet.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True):
            rows.append(list(row))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, TypeError) as exc:
        raise _fail(_("The spreadsheet could not be read (%(error)s). Is it a complete .xlsx file?")
                    % {"error": exc.__class__.__name__}) from None
    finally:
        workbook.close()
    info = FileInfo(format="xlsx")
    info.header_row, info.headers = _header_of(rows)
    return info


def _xlsx_rows(path: Path, info: FileInfo) -> Iterator[Row]:
    workbook = _open_workbook(path)
    width = len(info.headers)
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(min_row=info.header_row + 1,
                                                     values_only=True), start=info.header_row + 1):
            values = list(row[:width]) + [None] * (width - len(row))
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            yield Row(number, values)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, TypeError) as exc:
        raise _fail(_("The spreadsheet is damaged after row %(row)s (%(error)s).")
                    % {"row": info.header_row, "error": exc.__class__.__name__}) from None
    finally:
        workbook.close()


# ---------------------------------------------------------------- CSV

def _csv_batches(path: Path, info: FileInfo, size: int) -> Iterator[list[Row]]:
    """The CSV's rows in lists of `size` (a plain loop: at millions of rows a generator
    step per row is a measurable share of an import)."""
    width = len(info.headers)
    with open(path, encoding=info.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=info.delimiter, strict=True)
        batch: list[Row] = []
        append = batch.append
        try:
            for _index in range(info.header_row):
                next(reader)
            # line_num counts the physical lines read so far (a quoted cell may span
            # several), so a record starts on the line after the previous one ended.
            last = reader.line_num
            try:
                for values in reader:
                    start, last = last + 1, reader.line_num
                    if len(values) == width and values[0].strip():
                        append(Row(start, values))  # the usual row, checked no further
                    elif values and "".join(values).strip():
                        append(_odd_row(start, values, width))
                    if len(batch) >= size:
                        yield batch
                        batch = []
                        append = batch.append
            except csv.Error as exc:
                append(Row(last + 1, [], RowProblem("row_malformed", error=str(exc))))
        except UnicodeDecodeError:
            raise _fail(_("The file is not valid %(encoding)s text after line %(line)d.")
                        % {"encoding": info.encoding, "line": reader.line_num}) from None
        if batch:
            yield batch


def _odd_row(start: int, values: list, width: int) -> Row:
    """A non-blank row whose first cell is blank or whose width is not the header's."""
    if len(values) > width and not any(v.strip() for v in values[width:]):
        return Row(start, values[:width])  # trailing empty cells, as spreadsheets write
    if len(values) != width:
        return Row(start, values, RowProblem("row_width", found=len(values), expected=width))
    return Row(start, values)


# ---------------------------------------------------------------- JSON

def _json_headers(path: Path, info: FileInfo) -> list[str]:
    keys: dict[str, None] = {}
    for index, (_number, item) in enumerate(_json_items(path, info)):
        if isinstance(item, dict):
            keys.update(dict.fromkeys(str(k) for k in item))
        if index >= 200:
            break
    if not keys:
        raise _fail(_("The JSON file has no objects with fields."))
    return list(keys)


def _json_items(path: Path, info: FileInfo) -> Iterator[tuple[int, object]]:
    if info.format == "json":
        with open(path, encoding=info.encoding) as handle:
            try:
                data = json.load(handle)
            except json.JSONDecodeError as exc:
                raise _fail(_("The JSON file is not valid at line %(line)d: %(error)s.")
                            % {"line": exc.lineno, "error": exc.msg}) from None
        if isinstance(data, dict):
            # {"customers": [...]} — take the first list inside.
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise _fail(_("The JSON file must hold a list of objects."))
        yield from enumerate(data, start=1)
        return
    with open(path, encoding=info.encoding) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip().lstrip("\ufeff")
            if not line:
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, ValueError(exc.msg)


def _json_rows(path: Path, info: FileInfo) -> Iterator[Row]:
    for number, item in _json_items(path, info):
        if isinstance(item, ValueError):
            yield Row(number, [], RowProblem("json_line", error=str(item)))
        elif not isinstance(item, dict):
            yield Row(number, [], RowProblem("json_not_object"))
        else:
            yield Row(number, [item.get(h) for h in info.headers])


def read_rows(path: Path | str, info: FileInfo) -> Iterator[Row]:
    """Stream the data rows (after the header) of a sniffed file."""
    for batch in read_batches(path, info, 1000):
        yield from batch


def read_batches(path: Path | str, info: FileInfo, size: int) -> Iterator[list[Row]]:
    """The data rows of a sniffed file in lists of at most `size`, streamed."""
    path = Path(path)
    if info.format == "csv":
        return _csv_batches(path, info, size)
    rows = _xlsx_rows(path, info) if info.format == "xlsx" else _json_rows(path, info)
    return _batched(rows, size)


def _batched(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(islice(rows, size)):
        yield batch


def estimate_rows(path: Path | str, info: FileInfo) -> int | None:
    """About how many data rows the file holds, without reading it all: the file size
    over the bytes per line of its first megabyte (text formats), or the sheet's stated
    size (XLSX). Good enough to choose how to load; never used as a count."""
    path = Path(path)
    size = path.stat().st_size
    if info.format == "xlsx":
        workbook = _open_workbook(path)
        try:
            rows = workbook.worksheets[0].max_row
        finally:
            workbook.close()
        return max(0, rows - info.header_row) if rows else None
    if info.format == "json":
        return None
    with open(path, "rb") as handle:
        sample = handle.read(1 << 20)
    lines = sample.count(b"\n") or 1
    return max(0, round(size / len(sample) * lines) - info.header_row) if sample else 0
