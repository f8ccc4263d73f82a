"""Writes on imports: upload, mapping, the whole-file check, running, undo, mapping
presets and the retention rules.

Views, the API, the CLI and the worker all call these; permission checks live here.
"""

import logging
import time
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability, require
from valuecrm.common import events, heartbeat, history
from valuecrm.common.encryption import blind_index, index_updates
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.locks import LockHeld, job_lock
from valuecrm.customers import search_index
from valuecrm.customers.models import ContactPoint, Customer, Interaction, Note
from valuecrm.customers.search_tokens import refresh_tokens
from valuecrm.imports.mapping import check_mapping, suggest_mapping
from valuecrm.imports.models import (
    ImportChange,
    ImportKind,
    ImportMode,
    ImportRowError,
    ImportRun,
    ImportStatus,
    MappingPreset,
)
from valuecrm.imports.progress import progress_clear, progress_path, progress_write
from valuecrm.imports.readers import sniff
from valuecrm.imports.row_errors import coded, render_run
from valuecrm.imports.runner import DUPLICATE_ACTIONS, KEYS, Engine, Outcome
from valuecrm.orders.models import Order, Product

logger = logging.getLogger(__name__)
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
OPTION_KEYS = {"mode", "key", "source", "customer_source", "dayfirst", "decimal_comma",
               "on_duplicate", "decisions", "phone_region", "fuzzy"}
# A check no worker has taken for this long (its queueing, its progress file) has lost
# its task: the run goes back to draft so it can be started again. Once a worker has
# taken a run, its heartbeat decides instead (common.heartbeat: about a minute).
ANALYSIS_STALE_AFTER = timedelta(minutes=15)
HEARTBEAT_KIND = "import"
# Drafts (uploaded, never imported) untouched for this long are deleted with their file.
DRAFT_KEPT_FOR = timedelta(hours=24)


def uploads_dir() -> Path:
    # A shared path in the production profile: the app process stores, any worker reads.
    path = Path(getattr(settings, "VALUECRM_STORAGE_DIR", None) or settings.DATA_DIR) / "imports" / "files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _require_importer(actor, kind: str) -> None:
    require(actor, Capability.IMPORTS_RUN, _("Your role cannot import records."))
    if kind == ImportKind.PRODUCTS:
        require(actor, Capability.CATALOGUE_CHANGE, _("Only managers can change the product catalogue."))


def _require_own(actor, run: ImportRun) -> None:
    if run.created_by_id != actor.pk and not has_capability(actor, Capability.IMPORTS_MANAGE):
        raise NotFound(_("Import not found."))


def _check_kind(kind: str) -> None:
    if kind not in ImportKind.values:
        raise ValidationFailed(_("Validation failed"), errors={"kind": [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(ImportKind.values)}]})


@transaction.atomic
def import_upload(*, actor, kind: str, name: str, chunks) -> ImportRun:
    """Store an uploaded file (an iterable of byte chunks), recognise its format,
    encoding, delimiter and header, and suggest a mapping. Returns a draft run."""
    _check_kind(kind)
    _require_importer(actor, kind)
    base = str(name or "").replace("\\", "/").replace("\x00", "").rsplit("/", 1)[-1]
    safe_name = "".join(c for c in base if c.isprintable()).strip(" .")[:200] or "upload"
    target = uploads_dir() / f"{uuid.uuid4().hex}-{safe_name}"
    size = 0
    with open(target, "wb") as handle:
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                handle.close()
                target.unlink(missing_ok=True)
                raise ValidationFailed(_("The file is too large."), errors={"file": [
                    _("The file is too large.")]})
            handle.write(chunk)
    try:
        info = sniff(target)
    except ValidationFailed:
        target.unlink(missing_ok=True)
        raise
    return ImportRun.objects.create(
        kind=kind, created_by=actor, file_path=str(target), original_name=safe_name,
        file_format=info.format, encoding=info.encoding, delimiter=info.delimiter,
        header_row=info.header_row, headers=info.headers,
        mapping=suggest_mapping(kind, info.headers),
        options={"mode": ImportMode.ALL_OR_NOTHING},
    )


def clean_options(kind: str, options: dict, mapping: dict) -> dict:
    errors: dict[str, list[str]] = {}
    if not isinstance(options, dict):
        raise ValidationFailed(_("Validation failed"), errors={"options": [_("Expected an object.")]})
    for key in options:
        if key not in OPTION_KEYS:
            errors.setdefault(f"options.{key}", []).append(_("Unknown option."))
    cleaned = dict(options)
    mode = cleaned.get("mode") or ImportMode.ALL_OR_NOTHING
    if mode not in ImportMode.values:
        errors.setdefault("options.mode", []).append(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(ImportMode.values)})
    cleaned["mode"] = mode
    key = cleaned.get("key") or ""
    if kind == ImportKind.CUSTOMERS and key:
        if key not in KEYS:
            errors.setdefault("options.key", []).append(
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(KEYS)})
        elif key not in mapping.values():
            errors.setdefault("options.key", []).append(
                _("Map a column to “%(field)s” to use it as the key.") % {"field": key})
    action = cleaned.get("on_duplicate") or "auto"
    if action not in DUPLICATE_ACTIONS:
        errors.setdefault("options.on_duplicate", []).append(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(DUPLICATE_ACTIONS)})
    decisions = cleaned.get("decisions") or {}
    if not isinstance(decisions, dict) or not all(
        isinstance(v, str) and (v in ("create", "skip") or v.startswith("merge:")
                                and v[6:].isdigit()) for v in decisions.values()
    ):
        errors.setdefault("options.decisions", []).append(
            _("Each decision is create, skip or merge:<customer id>."))
    for name in ("source", "customer_source"):
        source = cleaned.get(name, "import")
        if name == "customer_source" and source in (None, ""):
            continue
        if not isinstance(source, str) or not source.strip() or len(source) > 50 \
                or "\x00" in source:
            errors.setdefault(f"options.{name}", []).append(
                _("Enter a source name of 1–50 characters."))
    region = cleaned.get("phone_region")
    if region not in (None, "") and not (isinstance(region, str) and len(region) == 2
                                         and region.isascii() and region.isalpha()):
        errors.setdefault("options.phone_region", []).append(
            _("Enter a two-letter country code such as CN."))
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    for flag in ("dayfirst", "decimal_comma"):
        cleaned[flag] = bool(cleaned.get(flag))
    cleaned["fuzzy"] = cleaned.get("fuzzy", True) is not False
    return cleaned


@transaction.atomic
def import_configure(*, actor, run: ImportRun, mapping: dict | None = None,
                     options: dict | None = None) -> ImportRun:
    """Set the mapping and options of a draft run; raises ValidationFailed naming what is wrong."""
    _require_own(actor, run)
    _require_importer(actor, run.kind)
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.status == ImportStatus.ANALYSING:
        raise Conflict(_("The whole file is being checked; wait for the check to finish."))
    if run.status != ImportStatus.DRAFT:
        raise Conflict(_("This import has already been started."))
    if mapping is not None:
        if isinstance(mapping, dict):
            bad = [k for k, v in mapping.items() if v is not None and not isinstance(v, str)]
            if bad:
                raise ValidationFailed(_("The column mapping is not usable."), errors={
                    f"mapping.{k}": [_("Expected a field name.")] for k in bad})
            mapping = {str(k): (v or "") for k, v in mapping.items()}
        errors = check_mapping(run.kind, mapping, run.headers)
        if errors:
            raise ValidationFailed(_("The column mapping is not usable."), errors=errors)
        run.mapping = {h: mapping.get(h, "") for h in run.headers}
    else:
        errors = check_mapping(run.kind, run.mapping, run.headers)
        if errors:
            raise ValidationFailed(_("The column mapping is not usable."), errors=errors)
    if options is not None:
        merged = {**run.options, **options}
        run.options = clean_options(run.kind, merged, run.mapping)
    run.save(update_fields=["mapping", "options", "updated_at"])
    return run


# ---------------------------------------------------------------- the whole-file check

@transaction.atomic
def import_analyse_start(*, actor, run: ImportRun) -> ImportRun:
    """Queue the whole-file check of a draft for the worker (after commit): a dry run that
    finds the counts, row errors and duplicate candidates for the review step and keeps
    nothing else. The run is "analysing" until the worker returns it to draft."""
    _require_own(actor, run)
    run = import_configure(actor=actor, run=run)  # a usable mapping; locks the draft
    run.status = ImportStatus.ANALYSING
    run.worker = ""  # no worker has taken this check yet
    run.detail, run.detail_code, run.detail_params = "", "", {}
    run.save(update_fields=["status", "worker", "detail", "detail_code", "detail_params",
                            "updated_at"])
    progress_clear(run.pk)  # an earlier check's counts must not show as this one's
    from valuecrm.imports.tasks import import_analyse_task

    # The row errors are stored as text: in the language of the user who asked.
    run_id, actor_id, language = run.pk, actor.pk, translation.get_language()
    transaction.on_commit(lambda: import_analyse_task(run_id, actor_id, language))
    return run


def _in_language(language: str | None):
    return translation.override(language) if language else nullcontext()


def import_analyse_execute(run_id: int, actor_id: int | None = None,
                           language: str | None = None) -> ImportRun | None:
    """The worker's half of the check, as the user who asked for it and in their language.
    Never raises and never leaves the run analysing: it returns to draft with the outcome
    stored, or with the reason the check failed in `detail` (and no counts)."""
    with _in_language(language):
        return _analyse(run_id, actor_id)


def _analyse(run_id: int, actor_id: int | None) -> ImportRun | None:
    run = ImportRun.objects.select_related("created_by").filter(pk=run_id).first()
    if run is None or run.status != ImportStatus.ANALYSING:
        return run  # deleted, or given up as stalled, meanwhile
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    actor = actor or run.created_by
    outcome, detail = None, ""
    _claim(run)
    run.dry_run = True
    try:
        if actor is None:
            raise ValidationFailed(_("The user who started the check no longer exists."))
        with heartbeat.beating(HEARTBEAT_KIND, run.pk):
            outcome = Engine(run, actor).execute()
    except ValidationFailed as exc:
        detail = exc.detail
    except OSError:
        logger.exception("check of import %s: the file cannot be read", run.pk)
        detail = _("The uploaded file can no longer be read. Upload it again.")
    except Exception:
        logger.exception("check of import %s failed", run.pk)
        detail = _("The check stopped on an unexpected error; nothing was written. "
                   "Check the whole file again, or upload the file again.")
    if not _analysis_end(run, outcome, detail):
        return ImportRun.objects.filter(pk=run.pk).first()  # as it is now, if still there
    return run


def _analysis_end(run: ImportRun, outcome, detail: str, *, worker: str | None = None) -> bool:
    """Back to draft with the check's outcome (or none, and the reason), unless the run
    moved on meanwhile (given up as stalled, deleted, checked again by another worker)."""
    with transaction.atomic():
        current = ImportRun.objects.select_for_update().filter(
            pk=run.pk, status=ImportStatus.ANALYSING)
        if worker is not None:
            current = current.filter(worker=worker)
        if not current.exists():
            return False
        _store_outcome(run, outcome or Outcome())
        run.status = ImportStatus.DRAFT
        run.dry_run = False
        run.worker = ""
        run.detail, run.detail_code, run.detail_params = detail, "", {}
        run.save()
    progress_clear(run.pk)
    return True


def _last_sign_of_life(run: ImportRun) -> datetime:
    try:
        written = progress_path(run.pk).stat().st_mtime
    except OSError:
        return run.updated_at
    return max(run.updated_at, datetime.fromtimestamp(written, tz=UTC))


def _claim(run: ImportRun) -> None:
    """This process works on the run now: its name and a first heartbeat on the row."""
    run.worker = heartbeat.worker_name()
    run.heartbeat_at = timezone.now()
    ImportRun.objects.filter(pk=run.pk).update(worker=run.worker, heartbeat_at=run.heartbeat_at)


def _worker_died(run: ImportRun, now: datetime) -> bool:
    return heartbeat.is_dead(HEARTBEAT_KIND, run.pk, worker=run.worker,
                             heartbeat_at=run.heartbeat_at, now=now)


def import_runs_recover(run_id: int | None = None, *, now: datetime | None = None) -> int:
    """Give up on checks, imports and undos whose worker died (common.heartbeat: its
    process is gone, or it has not beaten for a minute). Nothing of theirs was kept —
    each writes in one transaction, which the database rolled back — so: a check goes
    back to draft, an import is failed, an undo returns the run to "succeeded", each with
    the reason. A check no worker ever took is given up after ANALYSIS_STALE_AFTER.
    Called every minute by the worker, when it starts, and by the pages that poll a run.
    Returns how many runs it recovered."""
    now = now or timezone.now()
    active = ImportRun.objects.filter(status__in=(ImportStatus.ANALYSING, ImportStatus.RUNNING,
                                                  ImportStatus.UNDOING))
    if run_id is not None:
        active = active.filter(pk=run_id)
    recovered = 0
    for run in active:
        if run.status == ImportStatus.ANALYSING and not run.worker:
            quiet_since = now - ANALYSIS_STALE_AFTER
            if run.updated_at >= quiet_since or _last_sign_of_life(run) >= quiet_since:
                continue  # still waiting for a worker to take it
        elif not _worker_died(run, now):
            continue
        recovered += _recover(run, now)
    return recovered


def _recover(run: ImportRun, now: datetime) -> int:
    if run.status == ImportStatus.ANALYSING:
        return int(_analysis_end(run, None, _(
            "The check of the whole file did not finish (the background worker stopped). "
            "Check the whole file again."), worker=run.worker))
    with transaction.atomic():
        current = ImportRun.objects.select_for_update().filter(
            pk=run.pk, status=run.status, worker=run.worker).first()
        if current is None:
            return 0  # it moved on meanwhile
        if current.status == ImportStatus.RUNNING:
            current.status = ImportStatus.FAILED
            current.finished_at = now
            _set_detail(current, "worker_stopped")
        else:  # UNDOING: the undo's transaction was rolled back; the import stands
            current.status = ImportStatus.SUCCEEDED
            _set_detail(current, "undo_worker_stopped")
        current.save()
    heartbeat.clear(HEARTBEAT_KIND, run.pk)
    progress_clear(run.pk)
    if current.status == ImportStatus.FAILED:
        _announce(current)
    return 1


@transaction.atomic
def import_start(*, actor, run: ImportRun, dry_run: bool = False) -> ImportRun:
    """Queue the run for the worker (after commit)."""
    _require_own(actor, run)
    _require_importer(actor, run.kind)
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.status != ImportStatus.DRAFT:
        raise Conflict(_("This import has already been started."))
    errors = check_mapping(run.kind, run.mapping, run.headers)
    if errors:
        raise ValidationFailed(_("The column mapping is not usable."), errors=errors)
    run.options = clean_options(run.kind, run.options, run.mapping)
    run.status = ImportStatus.QUEUED
    run.dry_run = dry_run
    run.save(update_fields=["status", "dry_run", "options", "updated_at"])
    from valuecrm.imports.tasks import import_run_task

    language = translation.get_language()  # of the row errors and the outcome's message
    transaction.on_commit(lambda: import_run_task(run.pk, language))
    return run


def _store_outcome(run: ImportRun, outcome) -> None:
    run.total_rows = run.processed_rows = outcome.total
    run.created_count = outcome.created if outcome.committed or run.dry_run else 0
    run.updated_count = outcome.updated if outcome.committed or run.dry_run else 0
    run.unchanged_count = outcome.unchanged
    run.skipped_count = outcome.skipped
    run.failed_count = outcome.failed
    run.review = outcome.review
    run.created_ids = outcome.created_ids
    ImportRowError.objects.filter(run=run).delete()
    ImportRowError.objects.bulk_create(
        [_row_error(run, number, column, reason, raw)
         for number, column, reason, raw in outcome.errors], batch_size=2000)


def _row_error(run: ImportRun, number: int, column: str, reason, raw) -> ImportRowError:
    code, params, text = coded(reason)
    return ImportRowError(run=run, row_number=number, column=column[:255], reason=text,
                          code=code, params=params, values=[_cell(v) for v in raw])


def _set_detail(run: ImportRun, code: str = "", text: str = "", **params) -> None:
    """The run's outcome: as a code (rendered for each reader) or as plain text."""
    run.detail_code = code
    run.detail_params = params
    run.detail = render_run(code, params, text) if code else text


def _cell(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def import_execute(run_id: int, language: str | None = None) -> ImportRun:
    """Run a queued import (the worker's job), in the language of who queued it. Never
    raises for bad data: the outcome, row errors and any failure are stored on the run."""
    with _in_language(language):
        return _execute(run_id)


IMPORT_LOCK = "imports"


def _execute(run_id: int) -> ImportRun:
    """Claim and run a queued import. Raises Conflict, leaving the run queued, while
    another process runs an import (the lock holds across workers and machines)."""
    try:
        with job_lock(IMPORT_LOCK):
            return _execute_locked(run_id)
    except LockHeld:
        raise Conflict(_("Another import is running; this one waits its turn.")) from None


def _execute_locked(run_id: int) -> ImportRun:
    # Claimed by a conditional update: a job delivered twice (or to two workers) runs once.
    # It names its worker and first heartbeat at once (common.heartbeat: the recovery
    # sweep fails a run whose worker died).
    now = timezone.now()
    claimed = ImportRun.objects.filter(pk=run_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now, updated_at=now,
        worker=heartbeat.worker_name(), heartbeat_at=now)
    run = ImportRun.objects.select_related("created_by").get(pk=run_id)
    if not claimed:
        return run
    try:
        with heartbeat.beating(HEARTBEAT_KIND, run.pk):
            outcome = Engine(run, run.created_by).execute()
    except ValidationFailed as exc:
        run.status = ImportStatus.FAILED
        _set_detail(run, text=exc.detail)
    except Exception:
        # Leave a readable state behind rather than a run stuck in "running".
        logger.exception("import %s failed", run.pk)
        run.status = ImportStatus.FAILED
        _set_detail(run, text=_("The import stopped on an unexpected error; nothing was written."))
    else:
        _store_outcome(run, outcome)
        if run.dry_run:
            run.status = ImportStatus.SUCCEEDED
            _set_detail(run, "dry_run")
        elif outcome.committed:
            run.status = ImportStatus.SUCCEEDED
            if outcome.failed:
                _set_detail(run, "rows_not_imported", n=outcome.failed)
            else:
                _set_detail(run)
        else:
            run.status = ImportStatus.FAILED
            _set_detail(run, "nothing_imported", n=outcome.failed)
    run.finished_at = timezone.now()
    run.save()
    _announce(run)
    progress_clear(run.pk)
    return run


def _announce(run: ImportRun) -> None:
    """One batch event per finished run; rules that care about imported rows start here
    (imported rows are history, so they do not each raise customer/order events)."""
    if run.dry_run:
        return
    with events.acting(events.ActorKind.IMPORT, "import"):
        events.emit(events.ImportFinished(run_id=run.pk, kind=run.kind, status=run.status,
                                          created=run.created_count, updated=run.updated_count,
                                          failed=run.failed_count), actor=run.created_by)


def import_run_now(*, actor, run: ImportRun, dry_run: bool = False,
                   on_progress=None) -> ImportRun:
    """Run a configured draft in this process (the CLI), with a progress callback."""
    _require_own(actor, run)
    _require_importer(actor, run.kind)
    run.options = clean_options(run.kind, run.options, run.mapping)
    errors = check_mapping(run.kind, run.mapping, run.headers)
    if errors:
        raise ValidationFailed(_("The column mapping is not usable."), errors=errors)
    run.status = ImportStatus.QUEUED
    run.dry_run = dry_run
    run.save(update_fields=["status", "dry_run", "options", "updated_at"])
    if on_progress is None:
        return import_execute(run.pk)
    try:
        with job_lock(IMPORT_LOCK):
            return _run_in_process(run, actor, dry_run, on_progress)
    except LockHeld:
        raise Conflict(_("Another import is running; this one waits its turn.")) from None


def _run_in_process(run: ImportRun, actor, dry_run: bool, on_progress) -> ImportRun:
    run.status = ImportStatus.RUNNING
    run.started_at = timezone.now()
    run.worker, run.heartbeat_at = heartbeat.worker_name(), run.started_at
    run.save(update_fields=["status", "started_at", "worker", "heartbeat_at", "updated_at"])
    try:
        with heartbeat.beating(HEARTBEAT_KIND, run.pk):
            outcome = Engine(run, actor, on_progress=on_progress).execute()
    except ValidationFailed as exc:
        run.status = ImportStatus.FAILED
        _set_detail(run, text=exc.detail)
    else:
        _store_outcome(run, outcome)
        run.status = ImportStatus.SUCCEEDED if (outcome.committed or dry_run) else ImportStatus.FAILED
        if run.status == ImportStatus.FAILED:
            _set_detail(run, "nothing_imported", n=outcome.failed)
        elif dry_run:
            _set_detail(run, "dry_run")
        elif outcome.failed:
            _set_detail(run, "rows_not_imported", n=outcome.failed)
    run.finished_at = timezone.now()
    run.save()
    _announce(run)
    progress_clear(run.pk)
    return run


# ---------------------------------------------------------------- the valid rows of a failed run

def retry_possible(run: ImportRun) -> bool:
    """Whether "import the valid rows" applies: an all-or-nothing run that wrote nothing
    because some rows failed, whose file is still stored."""
    return (run.status == ImportStatus.FAILED and not run.dry_run and run.failed_count > 0
            and run.mode == ImportMode.ALL_OR_NOTHING and run.file_removed_at is None
            and bool(run.file_path) and Path(run.file_path).is_file())


@transaction.atomic
def import_retry_valid_rows(*, actor, run: ImportRun) -> ImportRun:
    """Import the valid rows of a failed all-or-nothing run: a new run over the same
    stored file, with the same mapping and duplicate decisions, in partial mode, linked
    to the failed one (`retry_of`) and queued for the worker. The failed run keeps its
    row errors (and so its error file). Asking twice gives the run made the first time,
    unless that one failed too."""
    _require_own(actor, run)
    _require_importer(actor, run.kind)
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    earlier = run.retries.exclude(status=ImportStatus.FAILED).order_by("-id").first()
    if earlier is not None:
        return earlier
    if not retry_possible(run):
        if run.status == ImportStatus.FAILED and run.failed_count and (
            run.file_removed_at is not None or not Path(run.file_path).is_file()
        ):
            raise Conflict(_("The uploaded file is no longer stored. Upload it again."))
        raise Conflict(_("Only an all-or-nothing import that failed on row errors can import "
                         "its valid rows."))
    retry = ImportRun.objects.create(
        kind=run.kind, created_by=actor, file_path=run.file_path,
        original_name=run.original_name, file_format=run.file_format, encoding=run.encoding,
        delimiter=run.delimiter, header_row=run.header_row, headers=run.headers,
        mapping=run.mapping, options={**run.options, "mode": ImportMode.PARTIAL},
        retry_of=run,
    )
    return import_start(actor=actor, run=retry)


# ---------------------------------------------------------------- undo

def undoable_run(*, include_undoing: bool = False) -> ImportRun | None:
    """Only the most recent import that wrote something can be undone (with
    include_undoing: or is being undone)."""
    statuses = [ImportStatus.SUCCEEDED] + ([ImportStatus.UNDOING] if include_undoing else [])
    return (ImportRun.objects.filter(status__in=statuses, dry_run=False)
            .order_by("-finished_at", "-id").first())


def _id_filter(ranges) -> list[tuple[int, int]]:
    return [(int(lo), int(hi)) for lo, hi in ranges or []]


def _require_undoable(actor, run: ImportRun, *, status=ImportStatus.SUCCEEDED) -> ImportRun:
    _require_own(actor, run)
    require(actor, Capability.IMPORTS_RUN, _("Your role cannot change records."))
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    latest = undoable_run(include_undoing=True)
    if run.status != status or run.dry_run or latest is None or latest.pk != run.pk:
        raise Conflict(_("Only the most recent completed import can be undone."))
    return run


@transaction.atomic
def import_undo_start(*, actor, run: ImportRun) -> ImportRun:
    """Queue the undo of the latest import for the worker (a large one takes minutes):
    the run is "undoing" until the worker has finished, and its page polls the progress."""
    run = _require_undoable(actor, run)
    run.status = ImportStatus.UNDOING
    run.worker = ""
    run.save(update_fields=["status", "worker", "updated_at"])
    progress_clear(run.pk)
    from valuecrm.imports.tasks import import_undo_task

    run_id, actor_id, language = run.pk, actor.pk, translation.get_language()
    transaction.on_commit(lambda: import_undo_task(run_id, actor_id, language))
    return run


def import_undo_execute(run_id: int, actor_id: int, language: str | None = None) -> ImportRun | None:
    """The worker's half of an undo. Never leaves the run "undoing": it ends undone, or
    back to "succeeded" (nothing changed) with the reason in `detail`."""
    with _in_language(language):
        run = ImportRun.objects.select_related("created_by").filter(pk=run_id).first()
        if run is None or run.status != ImportStatus.UNDOING:
            return run
        actor = get_user_model().objects.filter(pk=actor_id).first()
        _claim(run)
        reason = ""
        try:
            if actor is None:
                raise ValidationFailed(_("The user who asked for the undo no longer exists."))
            with heartbeat.beating(HEARTBEAT_KIND, run.pk):
                return _undo(actor, run, status=ImportStatus.UNDOING,
                             on_progress=lambda done, total: progress_write(
                                 run.pk, undo_done=done, undo_total=total))
        except (Conflict, ValidationFailed, PermissionDenied, NotFound) as exc:
            reason = exc.detail
        except Exception:
            logger.exception("undo of import %s failed", run.pk)
            reason = _("The undo stopped on an unexpected error; nothing was changed.")
        finally:
            progress_clear(run.pk)
        with transaction.atomic():
            ImportRun.objects.filter(pk=run.pk, status=ImportStatus.UNDOING).update(
                status=ImportStatus.SUCCEEDED, detail=reason, detail_code="", detail_params={},
                updated_at=timezone.now())
        return ImportRun.objects.filter(pk=run.pk).first()


def import_undo(*, actor, run: ImportRun, on_progress=None) -> ImportRun:
    """Delete what the run created and restore what it changed on existing records, in
    this process (the CLI, tests); pages and the API queue it with import_undo_start."""
    return _undo(actor, run, on_progress=on_progress)


UNDO_BATCH = 5000  # ids deleted per statement
UNDO_REPORT_EVERY = 1.0  # seconds between progress reports


@transaction.atomic
def _undo(actor, run: ImportRun, *, status=ImportStatus.SUCCEEDED, on_progress=None) -> ImportRun:
    run = _require_undoable(actor, run, status=status)
    created = run.created_ids or {}
    order_ranges = _id_filter(created.get("orders"))
    customer_ranges = _id_filter(created.get("customers"))
    for lo, hi in customer_ranges:
        others = Order.objects.filter(customer_id__gte=lo, customer_id__lte=hi)
        for olo, ohi in order_ranges:
            others = others.exclude(pk__gte=olo, pk__lte=ohi)
        if others.exists():
            raise Conflict(_("Customers created by this import now have orders from elsewhere; "
                             "undo is no longer possible."))
    # Progress in id-range steps of UNDO_BATCH ids (what was created) and one step per
    # restored record, so a large undo reports something every few seconds.
    deletions = [(model, lo, hi) for model, key in (
        (Order, "orders"), (Interaction, "interactions"), (Note, "notes"),
        (ContactPoint, "contact_points"), (Customer, "customers"), (Product, "products"))
        for lo, hi in _id_filter(created.get(key))]
    n_changes = ImportChange.objects.filter(run=run).count()
    total = sum(hi - lo + 1 for _, lo, hi in deletions) + n_changes
    done = 0
    last_report = 0.0

    def report(step: int, force: bool = False) -> None:
        nonlocal done, last_report
        done += step
        now = time.monotonic()
        if on_progress is not None and (force or now - last_report >= UNDO_REPORT_EVERY):
            last_report = now
            on_progress(done, total)

    report(0, force=True)
    for model, lo, hi in deletions:
        for start in range(lo, hi + 1, UNDO_BATCH):
            end = min(hi, start + UNDO_BATCH - 1)
            model.objects.filter(pk__gte=start, pk__lte=end).delete()
            report(end - start + 1)
    restored: set[int] = set()
    for change in ImportChange.objects.filter(run=run).order_by("-id").iterator(chunk_size=2000):
        report(1)
        before = dict(change.before)
        if change.model == "product":
            Product.objects.filter(pk=change.object_id).update(**before)
            continue
        tags = before.pop("_added_tags", [])
        points = before.pop("_added_contact_points", [])
        if tags:
            Customer.tags.through.objects.filter(customer_id=change.object_id,
                                                 tag_id__in=tags).delete()
        for kind, value in points:
            ContactPoint.objects.filter(customer_id=change.object_id, kind=kind,
                                        value_bidx=blind_index("contact", value)).delete()
        for kind in ("email", "phone"):
            if kind in before and before[kind]:
                ContactPoint.objects.filter(customer_id=change.object_id, kind=kind).update(
                    is_primary=False)
                ContactPoint.objects.filter(customer_id=change.object_id, kind=kind,
                                            value_bidx=blind_index("contact", before[kind])
                                            ).update(is_primary=True)
        if before:
            Customer.objects.filter(pk=change.object_id).update(updated_at=timezone.now(), **before,
                                                                **index_updates(Customer, before))
            if {"email", "phone"} & set(before):
                fresh = Customer.objects.get(pk=change.object_id)
                refresh_tokens([fresh.pk], [fresh.email], [fresh.phone], replace=True)
            if "name" in before:
                search_index.refresh([change.object_id], [before["name"]])
            restored.add(change.object_id)
    # The restores went through QuerySet.update(); put them on the records' history.
    surviving = set(Customer.objects.filter(pk__in=restored).values_list("pk", flat=True))
    history.record_bulk_changes(Customer, {pk: {} for pk in surviving}, actor=actor,
                                reason=f"import-undo:{run.pk}")
    report(0, force=True)
    run.status = ImportStatus.UNDONE
    run.undone_at = timezone.now()
    run.detail, run.detail_code, run.detail_params = "", "", {}
    run.save(update_fields=["status", "undone_at", "detail", "detail_code", "detail_params",
                            "updated_at"])
    events.emit(events.ImportUndone(run_id=run.pk), actor=actor)
    return run


# ---------------------------------------------------------------- retention

def imports_clean_up(*, now: datetime | None = None) -> dict[str, int]:
    """The retention rules (a daily task): give up on stalled checks; delete drafts
    untouched for DRAFT_KEPT_FOR with their file and progress; delete the uploaded file
    of runs finished more than VALUECRM_IMPORT_FILE_RETENTION_DAYS ago, keeping the run,
    its counts, row errors (the failed-rows CSV) and undo data; delete upload files no
    run refers to. Returns how many of each."""
    now = now or timezone.now()
    done = {"stalled_checks": import_runs_recover(now=now), "drafts": 0, "files": 0,
            "orphan_files": 0}

    draft_cutoff = now - DRAFT_KEPT_FOR
    old_drafts = ImportRun.objects.filter(status=ImportStatus.DRAFT, updated_at__lt=draft_cutoff)
    for run in old_drafts.only("pk", "file_path"):
        # The same conditions again: the user may have come back to it meanwhile.
        deleted, _rows = ImportRun.objects.filter(
            pk=run.pk, status=ImportStatus.DRAFT, updated_at__lt=draft_cutoff).delete()
        if deleted:
            _upload_release(run)
            progress_clear(run.pk)
            done["drafts"] += 1

    days = max(0, int(settings.VALUECRM_IMPORT_FILE_RETENTION_DAYS))
    finished = (ImportRun.objects.finished().filter(file_removed_at__isnull=True)
                .alias(ended=Coalesce("finished_at", "created_at"))
                .filter(ended__lt=now - timedelta(days=days)))
    for run in finished.only("pk", "file_path"):
        _upload_release(run)
        ImportRun.objects.filter(pk=run.pk).update(file_removed_at=now, updated_at=now)
        done["files"] += 1

    kept = {Path(p).name for p in ImportRun.objects.filter(file_removed_at__isnull=True)
            .values_list("file_path", flat=True)}
    for path in uploads_dir().iterdir():
        # Recent files may belong to an upload whose run is not committed yet.
        if (path.is_file() and path.name not in kept
                and datetime.fromtimestamp(path.stat().st_mtime, tz=UTC) < draft_cutoff):
            path.unlink(missing_ok=True)
            done["orphan_files"] += 1
    return done


def _upload_release(run: ImportRun) -> bool:
    """Delete a run's stored upload unless another run still keeps the same file (a run
    importing the valid rows of a failed one reads the failed run's upload)."""
    if ImportRun.objects.filter(file_path=run.file_path, file_removed_at__isnull=True) \
            .exclude(pk=run.pk).exists():
        return False
    return _upload_remove(run.file_path)


def _upload_remove(file_path: str) -> bool:
    """Delete a stored upload; only ever a file in the uploads directory."""
    if not file_path:
        return False
    path = Path(file_path).resolve()
    if path.parent != uploads_dir().resolve():
        logger.warning("not deleting %s: outside the uploads directory", path)
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# ---------------------------------------------------------------- presets

@transaction.atomic
def preset_save(*, actor, kind: str, name: str, mapping: dict) -> MappingPreset:
    _check_kind(kind)
    _require_importer(actor, kind)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("Validation failed"), errors={"name": [
            _("Enter a name of 1–100 characters.")]})
    if not isinstance(mapping, dict) or not mapping:
        raise ValidationFailed(_("Validation failed"), errors={"mapping": [
            _("Expected an object of column → field.")]})
    try:
        preset, _created = MappingPreset.objects.update_or_create(
            kind=kind, name=name, defaults={"mapping": mapping, "created_by": actor})
    except IntegrityError as exc:
        raise Conflict(_("A preset with this name already exists.")) from exc
    return preset


def preset_apply(*, actor, run: ImportRun, preset: MappingPreset) -> ImportRun:
    """Apply a preset to a run's columns; columns the preset does not know keep their suggestion."""
    if preset.kind != run.kind:
        raise ValidationFailed(_("Validation failed"), errors={"preset": [
            _("This preset is for another kind of import.")]})
    mapping = dict(run.mapping)
    for header in run.headers:
        if header in preset.mapping:
            mapping[header] = preset.mapping[header] or ""
    from_preset = {preset.mapping[h] for h in run.headers if preset.mapping.get(h)}
    for header in run.headers:
        if header not in preset.mapping and mapping.get(header) in from_preset:
            mapping[header] = ""
    return import_configure(actor=actor, run=run, mapping=mapping)


@transaction.atomic
def preset_delete(*, actor, preset: MappingPreset) -> None:
    if preset.created_by_id != actor.pk and not has_capability(actor, Capability.IMPORTS_MANAGE):
        raise PermissionDenied(_("Only its author or a manager can delete this preset."))
    preset.delete()
