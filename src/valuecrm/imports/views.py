"""The import wizard: upload → map → preview → whole-file check (in the worker) →
duplicates → import → result; and the history.

Thin: each view reads the request, calls a service or selector and renders.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from valuecrm.common.errors import DomainError
from valuecrm.imports import selectors, services
from valuecrm.imports.mapping import targets_for
from valuecrm.imports.models import ImportKind, ImportMode, ImportStatus, MappingPreset
from valuecrm.imports.runner import KEYS

PREVIEW_ROWS = 20


def _run_or_404(request, pk):
    run = selectors.import_run_get(request.user, pk)
    if run is None:
        raise Http404
    return run


def _draft_or_detail(run):
    """None for a draft; else where the run is now: its check in progress, or its result."""
    if run.status == ImportStatus.DRAFT:
        return None
    if run.status == ImportStatus.ANALYSING:
        return redirect("import-review", pk=run.pk)
    return redirect("import-detail", pk=run.pk)


@login_required
@require_GET
def import_history(request):
    runs = list(selectors.import_history_for(request.user)[:100])
    undoable = services.undoable_run()
    return render(request, "imports/history.html", {
        "runs": runs, "undoable_id": undoable.pk if undoable else None,
    })


@login_required
@require_http_methods(["GET", "POST"])
def import_wizard(request):
    """Step 1: choose what to import and upload the file."""
    if not request.user.can_write:
        raise DjangoPermissionDenied(_("Your role cannot import records."))
    kind = request.POST.get("kind") or request.GET.get("kind") or ImportKind.CUSTOMERS
    errors = {}
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors["file"] = [_("Choose a file.")]
        else:
            try:
                run = services.import_upload(actor=request.user, kind=kind, name=upload.name,
                                             chunks=upload.chunks())
            except DomainError as exc:
                errors = exc.errors or {"file": [exc.detail]}
            else:
                return redirect("import-map", pk=run.pk)
    return render(request, "imports/upload.html", {
        "kinds": ImportKind.choices, "kind": kind, "errors": errors, "step": 1,
    }, status=422 if errors else 200)


def _form_options(post) -> dict:
    return {
        "mode": post.get("mode") or ImportMode.ALL_OR_NOTHING,
        "key": post.get("key", ""),
        "source": post.get("source", "import").strip() or "import",
        "dayfirst": post.get("dayfirst") == "on",
        "decimal_comma": post.get("decimal_comma") == "on",
    }


@login_required
@require_http_methods(["GET", "POST"])
def import_map(request, pk):
    """Step 2: which column goes where (suggestions pre-filled), options, presets."""
    run = _run_or_404(request, pk)
    if (done := _draft_or_detail(run)) is not None:
        return done
    errors = {}
    if request.method == "POST":
        mapping = {h: request.POST.get(f"col-{i}", "") for i, h in enumerate(run.headers)}
        try:
            run = services.import_configure(actor=request.user, run=run, mapping=mapping,
                                            options=_form_options(request.POST))
            if request.POST.get("preset_name", "").strip():
                services.preset_save(actor=request.user, kind=run.kind,
                                     name=request.POST["preset_name"], mapping=run.mapping)
                messages.success(request, _("Mapping saved as a preset."))
        except DomainError as exc:
            errors = {k if k != "__all__" else "general": v
                      for k, v in (exc.errors or {"general": [exc.detail]}).items()}
            run.mapping = mapping
        else:
            return redirect("import-preview", pk=run.pk)
    targets = targets_for(run.kind)
    columns = [{"index": i, "header": h, "target": run.mapping.get(h, ""),
                "errors": errors.get(f"mapping.{h}", [])} for i, h in enumerate(run.headers)]
    return render(request, "imports/map.html", {
        "run": run, "columns": columns, "targets": sorted(targets.items(), key=lambda t: t[1]),
        "errors": errors, "presets": selectors.mapping_presets(run.kind), "keys": KEYS,
        "modes": ImportMode.choices, "step": 2,
    }, status=422 if errors else 200)


@login_required
@require_POST
def import_preset_apply(request, pk):
    run = _run_or_404(request, pk)
    preset = MappingPreset.objects.filter(pk=request.POST.get("preset") or 0, kind=run.kind).first() \
        if (request.POST.get("preset") or "").isdigit() else None
    if preset is None:
        messages.error(request, _("Choose a preset."))
    else:
        try:
            services.preset_apply(actor=request.user, run=run, preset=preset)
            messages.success(request, _("Preset “%(name)s” applied.") % {"name": preset.name})
        except DomainError as exc:
            messages.error(request, exc.detail)
    return redirect("import-map", pk=run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def import_preview(request, pk):
    """Step 3: the first rows as they will be stored; POST queues the whole-file check."""
    run = _run_or_404(request, pk)
    if (done := _draft_or_detail(run)) is not None:
        return done
    if request.method == "POST":
        try:
            run = services.import_analyse_start(actor=request.user, run=run)
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect("import-map", pk=run.pk)
        return redirect("import-review", pk=run.pk)
    try:
        rows = selectors.import_preview(run, PREVIEW_ROWS)
    except DomainError as exc:
        messages.error(request, exc.detail)
        rows = []
    targets = targets_for(run.kind)
    mapped = [(i, h, run.mapping[h], targets.get(run.mapping[h], run.mapping[h]))
              for i, h in enumerate(run.headers) if run.mapping.get(h)]
    table = []
    for row in rows:
        cells = []
        for index, header, target, _label in mapped:
            raw = row["raw"][index] if index < len(row["raw"]) else ""
            if target.startswith("cf:"):
                stored = row["values"].get("custom_fields", {}).get(target[3:], "")
            else:
                stored = row["values"].get(target, "")
            if isinstance(stored, list):
                stored = ", ".join(stored)
            cells.append({"raw": raw, "value": stored, "errors": row["errors"].get(header, [])})
        table.append({"number": row["number"], "cells": cells,
                      "row_errors": row["errors"].get("", [])})
    has_errors = any(row["row_errors"] or any(c["errors"] for c in row["cells"]) for row in table)
    return render(request, "imports/preview.html", {
        "run": run, "mapped": mapped, "table": table, "has_errors": has_errors, "step": 3,
    })


@login_required
@require_http_methods(["GET", "POST"])
def import_review(request, pk):
    """Step 4: the whole-file check — its progress while the worker checks, then row
    errors and possible duplicates to decide on (or why the check failed)."""
    run = _run_or_404(request, pk)
    if run.status == ImportStatus.ANALYSING:
        if request.method == "POST":
            return redirect("import-review", pk=run.pk)
        return render(request, "imports/analysing.html", {
            "run": run, "progress": selectors.import_progress(run), "step": 4})
    if (done := _draft_or_detail(run)) is not None:
        return done
    if request.method == "POST":
        decisions = {}
        for entry in run.review:
            if entry.get("kind") != "existing":
                continue
            choice = request.POST.get(f"decision-{entry['row']}", "")
            if choice == "merge":
                decisions[str(entry["row"])] = f"merge:{entry['match_id']}"
            elif choice in ("create", "skip"):
                decisions[str(entry["row"])] = choice
        options = {"decisions": decisions}
        if request.POST.get("mode") in ImportMode.values:
            options["mode"] = request.POST["mode"]
        try:
            run = services.import_configure(actor=request.user, run=run, options=options)
            run = services.import_start(actor=request.user, run=run)
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect("import-review", pk=run.pk)
        return redirect("import-detail", pk=run.pk)
    return render(request, "imports/review.html", {
        "run": run, "analysis_error": run.analysis_error,
        "candidates": [e for e in run.review if e.get("kind") == "existing"],
        "in_file": [e for e in run.review if e.get("kind") == "in_file"],
        "errors": selectors.import_errors(run, limit=200), "modes": ImportMode.choices,
        "step": 4,
    })


@login_required
@require_GET
def import_analysis(request, pk):
    """The whole-file check's progress block, polled by htmx. When the check is over the
    browser goes on to the review step, which shows its outcome or why it failed."""
    run = _run_or_404(request, pk)
    if run.status == ImportStatus.ANALYSING and services.import_runs_recover(run.pk):
        run.refresh_from_db()
    if run.status != ImportStatus.ANALYSING:
        url = reverse("import-review", args=[run.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return render(request, "imports/_analysis.html", {
        "run": run, "progress": selectors.import_progress(run)})


@login_required
@require_GET
def import_detail(request, pk):
    """Step 5: progress while it runs (polled), then the result."""
    run = _run_or_404(request, pk)
    if run.status == ImportStatus.DRAFT:
        return redirect("import-map", pk=run.pk)
    if run.status == ImportStatus.ANALYSING:
        return redirect("import-review", pk=run.pk)
    context = _result_context(run)
    context.update(step=5, errors=selectors.import_errors(run, limit=50),
                   file_kept=selectors.import_file_kept(run),
                   retention_days=settings.VALUECRM_IMPORT_FILE_RETENTION_DAYS)
    return render(request, "imports/detail.html", context)


def _result_context(run) -> dict:
    undoable = services.undoable_run()
    retries = list(run.retries.order_by("id")) if not run.is_active else []
    return {"run": run, "progress": selectors.import_progress(run),
            "can_undo": undoable is not None and undoable.pk == run.pk,
            "can_retry": not retries and services.retry_possible(run),
            "retries": retries, "valid_rows": max(0, run.total_rows - run.failed_count),
            "customers_url": selectors.import_customers_url(run)}


@login_required
@require_GET
def import_progress(request, pk):
    run = _run_or_404(request, pk)
    if run.is_active and services.import_runs_recover(run.pk):  # its worker died
        run.refresh_from_db()
    return render(request, "imports/_progress.html", _result_context(run))


@login_required
@require_GET
def import_errors_csv(request, pk):
    run = _run_or_404(request, pk)
    response = StreamingHttpResponse(selectors.error_csv_lines(run),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{run.pk}-errors.csv"'
    return response


@login_required
@require_POST
def import_retry(request, pk):
    """"Import the valid rows" of a failed all-or-nothing run: one click, a new linked run."""
    run = _run_or_404(request, pk)
    try:
        retry = services.import_retry_valid_rows(actor=request.user, run=run)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("import-detail", pk=run.pk)
    return redirect("import-detail", pk=retry.pk)


@login_required
@require_POST
def import_undo(request, pk):
    run = _run_or_404(request, pk)
    try:
        services.import_undo_start(actor=request.user, run=run)
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("import-detail", pk=run.pk)
