"""API v1: imports. POST a file with its mapping and options to run an import;
read the history, one run and its error file."""

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from valuecrm.common.errors import Malformed, NotFound, ValidationFailed
from valuecrm.common.http import JsonTooDeep, loads_bounded_json
from valuecrm.common.schemas import ProblemOut
from valuecrm.imports import selectors, services
from valuecrm.imports.models import ImportRun

router = Router(tags=["imports"])
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}


class ImportRunOut(Schema):
    id: int
    kind: str
    status: str
    file: str
    format: str
    encoding: str
    created_by: str | None
    created_at: str
    finished_at: str | None
    dry_run: bool
    mapping: dict
    options: dict
    total_rows: int
    processed_rows: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    detail: str
    retry_of: int | None
    errors_url: str
    duplicates: list[dict]


def _out(run: ImportRun) -> dict:
    progress = selectors.import_progress(run)
    return {
        "id": run.pk, "kind": run.kind, "status": run.status, "file": run.original_name,
        "format": run.file_format, "encoding": run.encoding,
        "created_by": run.created_by.username if run.created_by else None,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "dry_run": run.dry_run, "mapping": run.mapping, "options": run.options,
        "total_rows": run.total_rows, "processed_rows": progress.get("processed", 0),
        "created": progress.get("created", 0), "updated": progress.get("updated", 0),
        "unchanged": progress.get("unchanged", 0), "skipped": progress.get("skipped", 0),
        "failed": progress.get("failed", 0), "detail": run.detail_text,
        "retry_of": run.retry_of_id,
        "errors_url": f"/api/v1/imports/{run.pk}/errors.csv", "duplicates": run.review[:100],
    }


def _json_field(name: str, text: str | None) -> dict | None:
    if text in (None, ""):
        return None
    try:
        value = loads_bounded_json(text)
    except JsonTooDeep as exc:
        raise Malformed(_("Validation failed"), errors={name: [str(exc)]}) from None
    except ValueError:
        raise ValidationFailed(_("Validation failed"), errors={name: [_("Expected JSON.")]}) from None
    if not isinstance(value, dict):
        raise ValidationFailed(_("Validation failed"), errors={name: [_("Expected an object.")]})
    return value


@router.post("/imports", response={201: ImportRunOut, **ERRORS})
def import_create(request, file: UploadedFile = File(...), kind: str = Form(...),
                  mapping: str = Form(""), options: str = Form(""), dry_run: bool = Form(False)):
    """Upload a CSV (UTF-8/GBK/UTF-16, any delimiter), XLSX, JSON or JSON Lines file and run
    it in the worker. `mapping` is JSON {column: field} (omit for the suggested mapping,
    "" skips a column, cf:<key> for custom fields); `options` is JSON: mode "all"|"partial",
    key "email"|"phone"|"external_id", source, dayfirst, decimal_comma,
    on_duplicate "auto"|"create"|"skip"|"merge"."""
    mapping_value = _json_field("mapping", mapping)
    options_value = _json_field("options", options)
    run = services.import_upload(actor=request.user, kind=kind, name=file.name,
                                 chunks=file.chunks())
    run = services.import_configure(actor=request.user, run=run, mapping=mapping_value,
                                    options=options_value or {})
    run = services.import_start(actor=request.user, run=run, dry_run=dry_run)
    run.refresh_from_db()
    return Status(201, _out(run))


@router.get("/imports", response={200: list[ImportRunOut]})
def import_list(request, limit: int = 50):
    limit = max(1, min(limit, 200))
    return [_out(run) for run in selectors.import_runs_for(request.user)[:limit]]


@router.get("/imports/{run_id}", response={200: ImportRunOut, 404: ProblemOut})
def import_detail(request, run_id: int):
    run = selectors.import_run_get(request.user, run_id)
    if run is None:
        raise NotFound(_("Import not found."))
    return _out(run)


@router.get("/imports/{run_id}/errors.csv", response={404: ProblemOut})
def import_errors_csv(request, run_id: int):
    run = selectors.import_run_get(request.user, run_id)
    if run is None:
        raise NotFound(_("Import not found."))
    response = StreamingHttpResponse(selectors.error_csv_lines(run),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{run.pk}-errors.csv"'
    return response


@router.post("/imports/{run_id}/valid-rows", response={201: ImportRunOut, **ERRORS})
def import_retry_valid_rows(request, run_id: int):
    """Import the valid rows of a failed all-or-nothing run: a new run over the same
    stored file in partial mode, linked by `retry_of`. Asking again returns that run."""
    run = selectors.import_run_get(request.user, run_id)
    if run is None:
        raise NotFound(_("Import not found."))
    retry = services.import_retry_valid_rows(actor=request.user, run=run)
    retry.refresh_from_db()
    return Status(201, _out(retry))


@router.post("/imports/{run_id}/undo", response={200: ImportRunOut, **ERRORS})
def import_undo(request, run_id: int):
    run = selectors.import_run_get(request.user, run_id)
    if run is None:
        raise NotFound(_("Import not found."))
    # Queued for the worker (a large undo takes minutes); poll GET /imports/{id} until
    # the status is "undone" (or back to "succeeded" with the reason in `detail`).
    run = services.import_undo_start(actor=request.user, run=run)
    run.refresh_from_db()
    return _out(run)
