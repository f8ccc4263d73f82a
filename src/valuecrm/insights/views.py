"""Value pages: the dashboard, its CSV exports, "run scoring now" and the model report.

Thin: the numbers come from services.kpis (via insights.dashboard) and selectors;
the writes from services.scoring. Counts on the dashboard are restricted to the
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
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.common.errors import Conflict, ValidationFailed
from valuecrm.common.http import safe_next_url
from valuecrm.insights import dashboard as value_dashboard_data
from valuecrm.insights import report as report_data
from valuecrm.insights import selectors
from valuecrm.insights.models import ScoreRun
from valuecrm.insights.services import ensure_not_running, score_run_create
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
    data = value_dashboard_data.dashboard(request.user, start, end)
    context = {
        **data,
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
