"""Reads on imports: history, one run, its progress, its errors and the error file."""

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability
from valuecrm.accounts.roles import Scope
from valuecrm.common.errors import NotFound
from valuecrm.imports.models import (
    ImportKind,
    ImportRowError,
    ImportRun,
    ImportStatus,
    MappingPreset,
)
from valuecrm.imports.progress import progress_read
from valuecrm.imports.readers import FileInfo, read_rows
from valuecrm.imports.validate import RowCleaner

ERROR_COLUMN = "error"


def import_runs_for(user) -> QuerySet[ImportRun]:
    """Managers and all-scope roles see every import; others their own."""
    runs = ImportRun.objects.select_related("created_by")
    if user.can(Capability.IMPORTS_MANAGE) or user.scope == Scope.ALL:
        return runs
    return runs.filter(created_by=user)


def import_history_for(user) -> QuerySet[ImportRun]:
    """The import history: the runs the user may see, less other people's drafts (uploads
    not imported yet are their own business; the user's own stay, to continue them)."""
    unfinished = Q(status__in=(ImportStatus.DRAFT, ImportStatus.ANALYSING))
    return import_runs_for(user).exclude(unfinished & ~Q(created_by=user))


def import_run_get(user, pk) -> ImportRun | None:
    try:
        return import_runs_for(user).filter(pk=int(pk)).first()
    except (TypeError, ValueError, OverflowError):
        return None


def import_progress(run: ImportRun) -> dict:
    """Counts so far: from the progress file while running, else from the run."""
    if run.status == ImportStatus.UNDOING:  # the import's own counts, and the undo's
        live = progress_read(run.pk)
        return {"processed": run.processed_rows, "created": run.created_count,
                "updated": run.updated_count, "unchanged": run.unchanged_count,
                "skipped": run.skipped_count, "failed": run.failed_count,
                "total": run.total_rows, "undo_done": live.get("undo_done", 0),
                "undo_total": live.get("undo_total", 0)}
    if run.is_active:
        live = progress_read(run.pk)
        if live:
            return {**live, "total": run.total_rows}
    return {"processed": run.processed_rows, "created": run.created_count,
            "updated": run.updated_count, "unchanged": run.unchanged_count,
            "skipped": run.skipped_count, "failed": run.failed_count, "total": run.total_rows}


def import_file_kept(run: ImportRun) -> bool:
    """Whether the uploaded file is still stored (the retention rules delete it)."""
    return run.file_removed_at is None and bool(run.file_path) and Path(run.file_path).is_file()


def import_customers_url(run: ImportRun) -> str:
    """The customer list filtered to the customers this run created or changed (the
    `import_run` filter, see imports.customer_filter), or "" when there are none to show."""
    if run.kind == ImportKind.PRODUCTS or run.dry_run or run.status != ImportStatus.SUCCEEDED:
        return ""
    if not (run.created_count or run.updated_count or run.created_ids):
        return ""
    return f"{reverse('customer-list')}?import_run={run.pk}"


def import_errors(run: ImportRun, limit: int | None = None) -> QuerySet[ImportRowError]:
    errors = run.row_errors.all()
    return errors[:limit] if limit else errors


def error_csv_lines(run: ImportRun, language: str | None = None) -> Iterator[str]:
    """The failed rows with their original values and an error column, as CSV lines
    (UTF-8 with BOM so spreadsheet programs read Chinese correctly). Fix and re-import.
    The reasons are in `language` (the requester's; the response streams after the
    request's translation may have moved on), else the active one."""
    # Read now, not when the first line is asked for: that is after the view returned.
    language = language or translation.get_language()

    def lines() -> Iterator[str]:
        with translation.override(language):
            yield from _error_csv_lines(run)
    return lines()


def _error_csv_lines(run: ImportRun) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(["row", *run.headers, ERROR_COLUMN])
    yield "\ufeff" + flush()
    current, values, reasons = None, [], []
    for error in run.row_errors.order_by("row_number", "id").iterator(chunk_size=2000):
        if error.row_number != current and current is not None:
            writer.writerow([current, *_padded(values, run.headers), "; ".join(reasons)])
            yield flush()
            reasons = []
        current, values = error.row_number, error.values
        reasons.append(f"{error.column}: {error.message}" if error.column else error.message)
    if current is not None:
        writer.writerow([current, *_padded(values, run.headers), "; ".join(reasons)])
        yield flush()


def _padded(values: list, headers: list) -> list:
    values = ["" if v is None else v for v in values][: len(headers)]
    return values + [""] * (len(headers) - len(values))


def import_preview(run: ImportRun, limit: int = 20) -> list[dict]:
    """The first rows as they will be stored (no database lookups), with their errors."""
    if not import_file_kept(run):
        raise NotFound(_("The uploaded file is no longer stored. Upload it again."))
    info = FileInfo(format=run.file_format, encoding=run.encoding, delimiter=run.delimiter,
                    header_row=run.header_row, headers=list(run.headers))
    cleaner = RowCleaner(run.kind, info.headers, run.mapping, run.options)
    rows = []
    for index, row in enumerate(read_rows(run.file_path, info)):
        if index >= limit:
            break
        cleaned = cleaner.clean(row.number, row.values, row.problem)
        by_column = {}
        for column, reason in cleaned.errors:
            by_column.setdefault(column, []).append(reason)
        rows.append({"number": row.number, "raw": row.values, "values": cleaned.values,
                     "errors": by_column})
    return rows


def mapping_presets(kind: str) -> QuerySet[MappingPreset]:
    return MappingPreset.objects.filter(kind=kind)
