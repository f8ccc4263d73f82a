"""CSV export of a customer-list view: same search, filters, sort and visibility.

UTF-8 with a byte-order mark, because Excel (the tool most of our users open a CSV
with, especially on Chinese Windows) otherwise reads UTF-8 as GBK and garbles names.
Rows are produced lazily, in keyset batches of plain values, so an export of 100k customers streams
with flat memory.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator, Mapping

from django.utils.translation import get_language, override
from django.utils.translation import gettext as _

from valuecrm.customers.columns import all_columns
from valuecrm.customers.filters import ActiveFilter, clean_filters
from valuecrm.customers.models import Customer, CustomFieldDefinition
from valuecrm.customers.selectors import (
    DEFAULT_SORT,
    customer_queryset,
    customer_value_batches,
    parse_sort,
)

BOM = "\ufeff"
# A cell starting with these is run as a formula by spreadsheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d.]*")


def _safe_cell(value) -> str:
    text = "" if value is None else str(value)
    # "+8613800138000" or "-12.5" are data, not formulas; "=HYPERLINK(…)" is a formula.
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def customer_export_table(
    *, user, search: str = "", filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    sort: str = DEFAULT_SORT,
) -> tuple[list[str], Iterator[list]]:
    """(header, rows) of a list-view export; every format (CSV, XLSX) writes these.

    Arguments are validated and the header is built now, in the request's language;
    the rows (lists of plain values: the id, then text cells) are fetched lazily.
    """
    active = filters if isinstance(filters, list) else clean_filters(filters, user=user)
    parse_sort(sort)
    customer_queryset(user=user, search=search, filters=active)  # validates the search now
    zh = (get_language() or "").startswith("zh")
    definitions = list(CustomFieldDefinition.objects.all())
    yes_no = (_("Yes"), _("No"))

    def custom_value(value) -> str:
        if isinstance(value, bool):
            return yes_no[0] if value else yes_no[1]
        return "" if value is None else str(value)

    columns = [(str(column.label), column.text) for column in all_columns()]
    header = (["ID"] + [label for label, _text in columns]
              + [(d.label_zh if zh and d.label_zh else d.label) for d in definitions])
    language = get_language()
    fields = tuple(f for column in all_columns() for f in column.fields) + ("custom_fields",)
    through = Customer.tags.through

    def rows() -> Iterator[list]:
        with override(language):
            # 900 ids per tag lookup stays under SQLite's historical 999-parameter limit.
            batches = customer_value_batches(user=user, fields=fields, search=search,
                                             filters=active, sort=sort, batch_size=900)
            for batch in batches:
                tags: dict[int, list[str]] = {}
                links = through.objects.filter(customer_id__in=[r["id"] for r in batch])
                for customer_id, name in links.order_by("tag__name").values_list("customer_id", "tag__name"):
                    tags.setdefault(customer_id, []).append(name)
                for row in batch:
                    row["tags"] = tags.get(row["id"], [])
                    custom = row["custom_fields"] or {}
                    yield ([row["id"]] + [text(row) for _label, text in columns]
                           + [custom_value(custom.get(d.key)) for d in definitions])
                yield []  # end of a batch: lets a writer flush

    return header, rows()


def customer_csv_lines(
    *, user, search: str = "", filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    sort: str = DEFAULT_SORT,
) -> Iterator[str]:
    """The export as CSV text chunks: BOM + header first, then the customers."""
    header, rows = customer_export_table(user=user, search=search, filters=filters, sort=sort)
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(header)
    first = BOM + flush()

    def lines() -> Iterator[str]:
        for row in rows:
            if not row:
                yield flush()
                continue
            writer.writerow([row[0]] + [_safe_cell(cell) for cell in row[1:]])
        if buffer.tell():
            yield flush()

    return itertools.chain([first], lines())
