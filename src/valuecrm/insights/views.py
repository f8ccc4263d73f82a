"""Value pages: the dashboard, its CSV exports, "run scoring now", the model report
and the value settings (lifecycle rules, tiers, warnings and the playbook).

Thin: the numbers come from services.kpis (via insights.dashboard) and selectors;
the writes from services.scoring and services.policies. Counts on the dashboard are restricted to the
customers the user can see; the model report describes the model, not customers.
"""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.http import safe_next_url
from valuecrm.customers.extensions import registry
from valuecrm.insights import dashboard as value_dashboard_data
from valuecrm.insights import report as report_data
from valuecrm.insights import selectors
from valuecrm.insights.forms import SETTINGS_SECTIONS, PlaybookCellForm, PolicyForm, SettingsSection
from valuecrm.insights.models import (
    RANKED_TIERS,
    ScoreRun,
)
from valuecrm.insights.services import (
    can_change_policies,
    ensure_not_running,
    playbook_entry_clear,
    playbook_entry_set,
    policy_update,
    score_run_create,
    score_runs_recover,
)
from valuecrm.insights.services.kpis import parse_range

CSV_BOM = "\ufeff"


def _requested_range(request):
    """(start, end, preset days or None, errors) from ?range=30|90|365 or ?start=&end=."""
    preset = request.GET.get("range", "")
    if preset.isdigit() and int(preset) in dict(value_dashboard_data.RANGE_PRESETS):
        start, end = value_dashboard_data.preset_range(int(preset))
        return start, end, int(preset), {}
    try:
        start, end = parse_range(request.GET.get("start"), request.GET.get("end"))
    except ValidationFailed as exc:
        start, end = parse_range(None, None)
        return start, end, 30, exc.errors
    days = (end - start).days + 1
    is_preset = days in dict(value_dashboard_data.RANGE_PRESETS) and end == timezone.localdate()
    return start, end, days if is_preset else None, {}


@login_required
@require_GET
def value_dashboard(request):
    start, end, preset, errors = _requested_range(request)
    score_runs_recover()  # a run whose worker died is shown failed, not running
    data = value_dashboard_data.dashboard(request.user, start, end)
    context = {
        **data,
        # Cards other apps register (customers/extensions.py) follow the value ones.
        "cards": [*data.get("cards", []), *registry.kpi_card_figures(request.user, start, end)],
        "start": start,
        "end": end,
        "preset": preset,
        "range_errors": errors,
        "presets": value_dashboard_data.RANGE_PRESETS,
        "range_query": f"start={start.isoformat()}&end={end.isoformat()}",
        "status": value_dashboard_data.run_status(),
        "can_run_scoring": value_dashboard_data.can_run_scoring(request.user),
        "scope_limited": request.user.scope != "all",
    }
    return render(request, "insights/dashboard.html", context)


@login_required
@require_GET
def value_export(request, chart: str):
    if chart not in value_dashboard_data.CSV_CHARTS:
        raise Http404
    try:
        start, end = parse_range(request.GET.get("start"), request.GET.get("end"))
    except ValidationFailed as exc:
        text = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.errors.items())
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    data = value_dashboard_data.dashboard(request.user, start, end)
    header, rows = value_dashboard_data.chart_table(chart, data)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    # A BOM so Excel (Chinese Windows especially) reads the UTF-8 labels correctly.
    response = HttpResponse(CSV_BOM + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="value-{chart}-{start}-{end}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def value_run_scoring(request):
    """Queue a scoring run now (administrators and analysts); the worker executes it."""
    if not value_dashboard_data.can_run_scoring(request.user):
        raise DjangoPermissionDenied(_("Only administrators and analysts can start a scoring run."))
    from valuecrm.insights.tasks import score_run_task

    back = safe_next_url(request, reverse("value-dashboard"))
    try:
        ensure_not_running()
        with transaction.atomic():
            run = score_run_create(requested_by=request.user)
            transaction.on_commit(lambda: score_run_task(run.pk))
    except (Conflict, ValidationFailed) as exc:
        messages.error(request, exc.detail)
        return redirect(back)
    messages.success(request, _("Scoring run #%(id)s queued. The numbers update when it finishes.")
                     % {"id": run.pk})
    return redirect(back)


@login_required
@require_GET
def value_run_status(request):
    """The run-status strip alone (polled by htmx while a run is queued or running)."""
    score_runs_recover()  # a run whose worker died shows as failed, not running for ever
    return render(request, "insights/_run_status.html",
                  {"status": value_dashboard_data.run_status(),
                   "can_run_scoring": value_dashboard_data.can_run_scoring(request.user)})


@login_required
@require_GET
def model_report(request):
    run = None
    run_id = request.GET.get("run", "")
    if run_id:
        if not run_id.isdigit():
            return HttpResponseBadRequest(_("run: enter a run number."), content_type="text/plain; charset=utf-8")
        run = ScoreRun.objects.succeeded().filter(pk=int(run_id)).first()
        if run is None:
            raise Http404
    score_runs_recover()  # a run whose worker died is shown failed, in the history too
    report = selectors.model_report(run)
    context = {
        "report": report,
        "runs": list(selectors.score_runs(limit=30)),
        "status": value_dashboard_data.run_status(),
        "can_run_scoring": value_dashboard_data.can_run_scoring(request.user),
    }
    if report:
        model = report["transaction_model"]
        context.update({
            "model_name": report_data.model_name(model),
            "params": report_data.param_rows(model, report["params"]),
            "spend_params": report_data.param_rows(report["spend_model"], report["spend_params"]),
            "spend_model_name": report_data.model_name(report["spend_model"]),
            "comparison": [{**r, "name": report_data.model_name(r["model"]), "chosen": r["model"] == model}
                           for r in report["holdout_comparison"]],
            "churn_rows": report_data.churn_metric_rows(report["churn"]),
            "charts": report_data.report_charts(report),
        })
    return render(request, "insights/report.html", context)


# ----------------------------------------------------------------------------- value settings
def _tier_slug(tier: str) -> str:
    return tier or "any"


def _tier_from_slug(slug: str) -> str:
    if slug == "any":
        return ""
    if slug in RANKED_TIERS:
        return slug
    raise Http404


def _policies() -> dict:
    return {key: section.model.current() for key, section in SETTINGS_SECTIONS.items()}


def _section_context(request, section: SettingsSection, policy, *, form=None, saved=False, error="") -> dict:
    can_edit = can_change_policies(request.user)
    return {
        "section": section,
        "policy": policy,
        "form": form or PolicyForm.for_policy(section, policy),
        "saved": saved,
        "error": error,
        "can_edit": can_edit,
        "can_run_scoring": value_dashboard_data.can_run_scoring(request.user),
    }


def _playbook_cell_context(request, cell: dict, *, form=None, editing=False, focus=False) -> dict:
    entry = cell["entry"]
    if editing and form is None:
        form = PlaybookCellForm(auto_id=f"pb-{cell['stage']}-{_tier_slug(cell['tier'])}-%s", initial={
            "text_en": entry.text_en if entry else "",
            "text_zh": entry.text_zh if entry else "",
            "action_code": entry.action_code if entry else "",
        })
    if editing and focus:
        form.autofocus_first_error(fallback="text_en")
    return {
        "cell": cell,
        "tier_slug": _tier_slug(cell["tier"]),
        "form": form,
        "editing": editing,
        "focus": focus,
        "error": "",
        "can_edit": can_change_policies(request.user),
    }


def _cell_key(cell: dict) -> str:
    """"at_risk.A", "churned.any": a cell in ?edit= (the inline form without JavaScript)."""
    return f"{cell['stage']}.{_tier_slug(cell['tier'])}"


def _is_cell(context: dict | None, cell: dict) -> bool:
    other = (context or {}).get("cell")
    return other is not None and (other["stage"], other["tier"]) == (cell["stage"], cell["tier"])


def _playbook_row(request, stage: str, *, focus_tier: str) -> dict:
    row = next(row for row in selectors.playbook_grid() if row["stage"] == stage)
    row["cells"] = [_playbook_cell_context(request, cell, focus=cell["tier"] == focus_tier) for cell in row["cells"]]
    return row


def _settings_page(request, *, override: dict | None = None, status: int = 200):
    """The whole page; ``override`` replaces one section's context (a plain POST with errors)."""
    policies = _policies()
    sections = []
    saved = request.GET.get("saved", "")
    for key, section in SETTINGS_SECTIONS.items():
        if override and override.get("section") is section:
            sections.append(override)
        else:
            sections.append(_section_context(request, section, policies[key], saved=saved == key))
    edit = request.GET.get("edit", "")
    rows = selectors.playbook_grid()
    for row in rows:
        row["cells"] = [
            override if _is_cell(override, cell)
            else _playbook_cell_context(request, cell, editing=edit == _cell_key(cell), focus=edit == _cell_key(cell))
            for cell in row["cells"]
        ]
    context = {
        "sections": sections,
        "playbook_rows": rows,
        "playbook_saved": saved == "playbook",
        "tier_names": selectors.tier_names(),
        "can_edit": can_change_policies(request.user),
        "can_run_scoring": value_dashboard_data.can_run_scoring(request.user),
    }
    return render(request, "insights/settings.html", context, status=status)


@login_required
@require_GET
def value_settings(request):
    return _settings_page(request)


def _forbidden_section(request, section: SettingsSection, message: str):
    if not request.htmx:
        raise DjangoPermissionDenied(message)
    context = _section_context(request, section, section.model.current(), error=message)
    return render(request, "insights/_settings_section.html", context, status=403)


@login_required
@require_POST
def value_settings_save(request, section: str):
    """Save one section: the whole policy at once, or nothing (422 with the errors in place)."""
    spec = SETTINGS_SECTIONS.get(section)
    if spec is None:
        raise Http404
    if not can_change_policies(request.user):
        return _forbidden_section(request, spec, _("Only administrators can change value policies."))
    form = PolicyForm(spec, request.POST)
    if form.is_valid():
        try:
            policy = policy_update(actor=request.user, policy=spec.policy, data=form.to_service_data())
        except PermissionDenied as exc:
            return _forbidden_section(request, spec, exc.detail)
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            if not request.htmx:
                return redirect(f"{reverse('value-settings')}?saved={spec.key}#settings-{spec.key}")
            return render(request, "insights/_settings_section.html",
                          _section_context(request, spec, policy, saved=True))
    form.autofocus_first_error()
    context = _section_context(request, spec, spec.model.current(), form=form,
                               error=_("Nothing was saved. Correct the marked settings and save again."))
    if not request.htmx:
        return _settings_page(request, override=context, status=422)
    return render(request, "insights/_settings_section.html", context, status=422)


def _playbook_cell_or_404(stage: str, tier_slug: str) -> dict:
    try:
        return selectors.playbook_cell(stage, _tier_from_slug(tier_slug))
    except NotFound:
        raise Http404 from None


def _render_cell(request, context: dict, status: int = 200):
    return render(request, "insights/_playbook_cell.html", context, status=status)


def _playbook_saved(request, stage: str, tier: str):
    """The saved cell — or its whole row when the any-tier action changed, since the
    tier cells without an action of their own show it — plus the success note."""
    if tier:
        html = render_to_string("insights/_playbook_cell.html", _playbook_cell_context(
            request, selectors.playbook_cell(stage, tier), focus=True), request)
    else:
        html = render_to_string("insights/_playbook_row.html",
                                {"row": _playbook_row(request, stage, focus_tier=tier)}, request)
    html += render_to_string("insights/_playbook_status.html", {
        "playbook_saved": True, "oob": True,
        "can_run_scoring": value_dashboard_data.can_run_scoring(request.user),
    }, request)
    response = HttpResponse(html)
    if not tier:
        response["HX-Retarget"] = f"#pb-row-{stage}"
        response["HX-Reswap"] = "outerHTML"
    return response


def _playbook_forbidden(request, cell: dict, message: str):
    if not request.htmx:
        raise DjangoPermissionDenied(message)
    context = _playbook_cell_context(request, cell)
    context["error"] = message
    return _render_cell(request, context, status=403)


@login_required
@require_http_methods(["GET", "POST"])
def value_playbook_cell(request, stage: str, tier: str):
    """One playbook cell: GET shows it (with ?edit=1 its inline form), POST saves it."""
    if request.method == "POST":
        return _playbook_cell_save(request, stage, tier)
    cell = _playbook_cell_or_404(stage, tier)
    editing = request.GET.get("edit") == "1"
    if editing and not can_change_policies(request.user):
        return _playbook_forbidden(request, cell, _("Only administrators can change value policies."))
    return _render_cell(request, _playbook_cell_context(request, cell, editing=editing, focus=True))


def _playbook_cell_save(request, stage: str, tier: str):
    """Set the action of one stage × tier cell (en + 中文 text and action code)."""
    cell = _playbook_cell_or_404(stage, tier)
    if not can_change_policies(request.user):
        return _playbook_forbidden(request, cell, _("Only administrators can change value policies."))
    if request.POST.get("action") == "clear":
        try:
            playbook_entry_clear(actor=request.user, stage=cell["stage"], tier=cell["tier"])
        except PermissionDenied as exc:
            return _playbook_forbidden(request, cell, exc.detail)
        except ValidationFailed as exc:
            message = next(iter((exc.errors or {}).values()), [exc.detail])[0]
            if not request.htmx:
                messages.error(request, message)
                return redirect(f"{reverse('value-settings')}#settings-playbook")
            context = _playbook_cell_context(request, cell)
            context["error"] = message
            return _render_cell(request, context, status=422)
        if not request.htmx:
            return redirect(f"{reverse('value-settings')}?saved=playbook#settings-playbook")
        return _playbook_saved(request, cell["stage"], cell["tier"])
    form = PlaybookCellForm(request.POST, auto_id=f"pb-{stage}-{tier}-%s")
    if form.is_valid():
        try:
            playbook_entry_set(actor=request.user, stage=cell["stage"], tier=cell["tier"], **form.cleaned_data)
        except PermissionDenied as exc:
            return _playbook_forbidden(request, cell, exc.detail)
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            if not request.htmx:
                return redirect(f"{reverse('value-settings')}?saved=playbook#settings-playbook")
            return _playbook_saved(request, cell["stage"], cell["tier"])
    context = _playbook_cell_context(request, cell, form=form, editing=True, focus=True)
    if not request.htmx:
        return _settings_page(request, override=context, status=422)
    return _render_cell(request, context, status=422)
