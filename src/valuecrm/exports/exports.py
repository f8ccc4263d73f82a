"""Exports: the customer list as XLSX, and the whole account as JSON Lines.

XLSX uses the same rows as the CSV export (customers.exports), so both formats
show exactly the view the user asked for — same search, filters, sort and
visibility. openpyxl's write-only mode keeps memory flat for large lists.

The account export is for migrating to another system or archiving: one JSON
Lines file per table (one object per line, UTF-8), plus manifest.json with row
counts. Password hashes and API token digests are never written.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.customers.exports import customer_export_table

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def customer_xlsx(*, user, search="", filters=None, sort="-id", target) -> int:
    """Write the list view to `target` (a path or binary file) as XLSX; returns the row count.

    Text stays text: a cell starting with "=" is stored as a string, never a formula.
    """
    header, rows = customer_export_table(user=user, search=search, filters=filters, sort=sort)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_("Customers")[:31])
    sheet.freeze_panes = "B2"
    sheet.append(header)
    count = 0
    for row in rows:
        if not row:
            continue
        cells = [row[0]]
        for value in row[1:]:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
        count += 1
    book.save(target)
    return count


# ---------------------------------------------------------------- account export

@dataclass(frozen=True)
class Table:
    file: str
    model: str  # app_label.Model
    exclude: tuple[str, ...] = ()


def _tables() -> list[Table]:
    return [
        Table("teams", "accounts.Team"),
        Table("users", "accounts.User", exclude=("password",)),
        Table("custom_field_definitions", "customers.CustomFieldDefinition"),
        Table("tags", "customers.Tag"),
        Table("customers", "customers.Customer"),
        Table("customer_tags", "customers.Customer_tags"),
        Table("contact_points", "customers.ContactPoint"),
        Table("addresses", "customers.Address"),
        Table("interactions", "customers.Interaction"),
        Table("tasks", "customers.Task"),
        Table("notes", "customers.Note"),
        Table("products", "sales.Product"),
        Table("orders", "sales.Order"),
        Table("order_lines", "sales.OrderLine"),
    ]


def _model(label: str):
    from django.apps import apps

    app_label, name = label.split(".")
    if name == "Customer_tags":
        return apps.get_model("customers", "Customer").tags.through
    return apps.get_model(app_label, name)


def _lines(table: Table) -> Iterator[str]:
    model = _model(table.model)
    # attnames: foreign keys as "owner_id", the way another system will want to join them.
    columns = [f.attname for f in model._meta.concrete_fields if f.name not in table.exclude]
    rows = model._default_manager.order_by("pk").values_list(*columns)
    for row in rows.iterator(chunk_size=2000):
        yield json.dumps(dict(zip(columns, row, strict=True)), cls=DjangoJSONEncoder,
                         ensure_ascii=False) + "\n"


def account_export(directory: Path | str) -> dict[str, int]:
    """Write one <table>.jsonl per table and manifest.json into `directory`; returns counts."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in _tables():
        n = 0
        with open(directory / f"{table.file}.jsonl", "w", encoding="utf-8") as handle:
            for line in _lines(table):
                handle.write(line)
                n += 1
        counts[table.file] = n
    manifest = {"format": "valuecrm-account-export", "version": 1,
                "exported_at": timezone.now().isoformat(), "tables": counts}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return counts


def require_account_exporter(actor) -> None:
    require(actor, Capability.DATA_EXPORT_ALL, _("Only administrators can export the whole account."))


def account_export_zip(*, actor) -> Path:
    """The account export as a zip in a temporary file (the caller streams and deletes it)."""
    require_account_exporter(actor)
    with tempfile.TemporaryDirectory(prefix="valuecrm-export-") as tmp:
        account_export(tmp)
        handle = tempfile.NamedTemporaryFile(prefix="valuecrm-account-", suffix=".zip", delete=False)
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, arcname=path.name)
        handle.close()
        return Path(handle.name)
