"""Value pages: the dashboard, its CSV exports, "run scoring now", the model report
and the value settings (lifecycle rules, tiers, warnings and the playbook).

Thin: the numbers come from services.kpis (via insights.dashboard) and selectors;
the writes from services.scoring and services.policies. Counts on the dashboard are restricted to the
customers the user can see; the model report describes the model, not customers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.http import safe_next_url
from valuecrm.insights import dashboard as value_dashboard_data
from valuecrm.insights import report as report_data
from valuecrm.insights import selectors
from valuecrm.insights.models import (
    LifecycleRules,
    PlaybookEntry,
    ScoreRun,
    Stage,
    Tier,
    TierPolicy,
    WarningPolicy,
)
from valuecrm.insights.services import (
    ensure_not_running,
    playbook_entry_set,
    policy_update,
    score_run_create,
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


# ----------------------------------------------------------------------------- value settings
def _can_change_policies(user) -> bool:
    """Whether the settings page renders for editing.

    Only picks the look (inputs or read-only) and refuses a non-admin POST early;
    the policy services check the actor again on every write.
    """
    return bool(user.is_superuser or user.role == "admin")


_DAYS = gettext_lazy("days")
_SHARE = "0–1"
_TIMES = gettext_lazy("× usual interval")

# Field → (unit shown after the input, step of the number input).
POLICY_UNITS = {
    "new_days": (_DAYS, "1"),
    "loyal_min_orders": (pgettext_lazy("unit after a number", "orders"), "1"),
    "loyal_min_tenure_days": (_DAYS, "1"),
    "at_risk_gap_factor": (_TIMES, "0.1"),
    "at_risk_p_alive": (_SHARE, "0.01"),
    "at_risk_spend_drop": (_SHARE, "0.01"),
    "churned_p_alive": (_SHARE, "0.01"),
    "churned_gap_factor": (_TIMES, "0.1"),
    "churned_min_gap_days": (_DAYS, "1"),
    "reactivated_days": (_DAYS, "1"),
    "trend_window_days": (_DAYS, "1"),
    "share_a": (_SHARE, "0.01"),
    "share_b": (_SHARE, "0.01"),
    "value_min_reasons": (gettext_lazy("of 5"), "1"),
    "gap_factor": (_TIMES, "0.1"),
    "spend_drop": (_SHARE, "0.01"),
    "p_alive_threshold": (_SHARE, "0.01"),
    "task_due_days": (_DAYS, "1"),
}

# Shorter labels than the models' verbose names where the group's heading already
# names the stage; the rest keep the model's label.
POLICY_LABELS = {
    "new_days": gettext_lazy("New for up to"),
    "loyal_min_orders": gettext_lazy("Orders at least"),
    "loyal_min_tenure_days": gettext_lazy("Customer for at least"),
    "at_risk_gap_factor": gettext_lazy("Gap since last order over"),
    "at_risk_p_alive": gettext_lazy("P(alive) below"),
    "at_risk_spend_drop": gettext_lazy("Spend down by more than"),
    "churned_p_alive": gettext_lazy("P(alive) below"),
    "churned_gap_factor": gettext_lazy("Gap since last order over"),
    "churned_min_gap_days": gettext_lazy("Gap at least"),
    "reactivated_days": gettext_lazy("Reactivated for"),
    "trend_window_days": gettext_lazy("Trend window"),
    "value_min_reasons": gettext_lazy("Reasons needed"),
    "enabled": gettext_lazy("Raise early warnings"),
    "tiers": gettext_lazy("Watch tiers"),
    "gap_factor": gettext_lazy("Buys less often: gap over"),
    "spend_drop": gettext_lazy("Spends less: down by more than"),
    "p_alive_threshold": gettext_lazy("Likely to stop: P(alive) below"),
    "task_due_days": gettext_lazy("Follow-up task due in"),
}

POLICY_HELP = {
    "new_days": gettext_lazy("After a first order a customer is new for this many days; "
                             "without a second order by then they are at risk."),
    "loyal_min_orders": gettext_lazy("An active customer with at least this many orders…"),
    "loyal_min_tenure_days": gettext_lazy("…whose first order was at least this many days ago is mature / loyal."),
    "at_risk_gap_factor": gettext_lazy("Days since the last order, as a multiple of the customer's usual "
                                       "interval between orders (2 = twice as long as usual)."),
    "at_risk_p_alive": gettext_lazy("Probability that they are still a customer (0.5 = 50 %)."),
    "at_risk_spend_drop": gettext_lazy("Spend in the latest trend window against the window before "
                                       "(0.5 = down by half)."),
    "churned_p_alive": gettext_lazy("Probability that they are still a customer (0.1 = 10 %)."),
    "churned_gap_factor": gettext_lazy("Days since the last order, as a multiple of the usual interval…"),
    "churned_min_gap_days": gettext_lazy("…and never fewer days than this, whatever the customer's rhythm."),
    "reactivated_days": gettext_lazy("How long a customer who bought again after being at risk or churned "
                                     "stays reactivated."),
    "trend_window_days": gettext_lazy("Spend in the latest window of this many days is compared with the "
                                      "window before."),
    "name_a": gettext_lazy("Shown wherever the tier appears, e.g. Gold."),
    "name_b": gettext_lazy("e.g. Silver."),
    "name_c": gettext_lazy("e.g. Bronze."),
    "share_a": gettext_lazy("The top share of buyers by predicted CLV (0.2 = top 20 %)."),
    "share_b": gettext_lazy("The next share after tier A (0.3 = next 30 %); everyone else is tier C. "
                            "Both shares together at most 1."),
    "value_min_reasons": gettext_lazy("Buys often, high spend, high margin, loyal, refers others: "
                                      "a buyer with at least this many is a value customer."),
    "enabled": gettext_lazy("When a watched customer slows down, raise an alert and give their owner "
                            "a follow-up task."),
    "tiers": gettext_lazy("Only customers in these tiers are watched."),
    "gap_factor": gettext_lazy("Days since the last order, as a multiple of their usual interval."),
    "spend_drop": gettext_lazy("Spend in the latest trend window below their usual spend by this share "
                               "(0.4 = 40 %)."),
    "p_alive_threshold": gettext_lazy("Warns once when the probability that they are still a customer "
                                      "falls below this."),
    "task_due_days": gettext_lazy("The owner's task is due this many days after the warning."),
}


@dataclass(frozen=True)
class FieldGroup:
    legend: str | Promise
    note: str | Promise
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SettingsSection:
    key: str  # in the URL and the element ids
    policy: str  # services.policies.EDITABLE
    model: type
    title: str | Promise
    intro: str | Promise
    icon: str
    groups: tuple[FieldGroup, ...]

    @property
    def fields(self) -> list[str]:
        return [name for group in self.groups for name in group.fields]


SETTINGS_SECTIONS = {section.key: section for section in (
    SettingsSection(
        "lifecycle", "lifecycle_rules", LifecycleRules, gettext_lazy("Lifecycle stages"),
        gettext_lazy("Each customer is judged by their own rhythm of buying. The stage is checked in this "
                     "order: churned, reactivated, at risk, mature / loyal, growing, new."),
        "signpost-split",
        (
            FieldGroup(Stage.NEW.label, gettext_lazy("First order recently, no repeat order yet."), ("new_days",)),
            FieldGroup(Stage.LOYAL.label, gettext_lazy("Enough orders over a long enough time, still active."),
                       ("loyal_min_orders", "loyal_min_tenure_days")),
            FieldGroup(Stage.AT_RISK.label, gettext_lazy("Any one of these signals."),
                       ("at_risk_gap_factor", "at_risk_p_alive", "at_risk_spend_drop")),
            FieldGroup(Stage.CHURNED.label, gettext_lazy("P(alive) below the threshold, or a long silence."),
                       ("churned_p_alive", "churned_gap_factor", "churned_min_gap_days")),
            FieldGroup(Stage.REACTIVATED.label, gettext_lazy("Bought again after being at risk or churned."),
                       ("reactivated_days",)),
            FieldGroup(gettext_lazy("Spend trend"), gettext_lazy("Used by the spend rules and by early warnings."),
                       ("trend_window_days",)),
        ),
    ),
    SettingsSection(
        "tiers", "tier_policy", TierPolicy, gettext_lazy("Value tiers"),
        gettext_lazy("Buyers are ranked by predicted CLV: tier A is the top share, tier B the next, "
                     "tier C everyone else."),
        "bar-chart-steps",
        (
            FieldGroup(gettext_lazy("Tier names"), gettext_lazy("On customer pages, lists and the dashboard."),
                       ("name_a", "name_b", "name_c")),
            FieldGroup(gettext_lazy("Tier shares"), gettext_lazy("Shares of buyers, from the highest CLV down."),
                       ("share_a", "share_b")),
            FieldGroup(gettext_lazy("Value customers"), gettext_lazy("Who gets the value-customer flag."),
                       ("value_min_reasons", "referral_tag")),
        ),
    ),
    SettingsSection(
        "warnings", "warning_policy", WarningPolicy, gettext_lazy("Early warnings"),
        gettext_lazy("A valuable customer who slows down gets an alert and a follow-up task for the owner; "
                     "each customer is compared with their own baseline."),
        "bell",
        (
            FieldGroup(gettext_lazy("Watch"), gettext_lazy("Which customers are watched."), ("enabled", "tiers")),
            FieldGroup(gettext_lazy("Signals"), gettext_lazy("Any one signal raises a warning."),
                       ("gap_factor", "spend_drop", "p_alive_threshold")),
            FieldGroup(gettext_lazy("Follow-up"), gettext_lazy("What happens when a warning is raised."),
                       ("task_due_days",)),
        ),
    ),
)}


def _tier_choices() -> list[tuple[str, str]]:
    names = selectors.tier_names()
    return [(tier, tier if names[tier] == tier else f"{tier} · {names[tier]}") for tier in Tier.values]


class ServiceErrorsForm(forms.Form):
    def add_service_errors(self, exc: ValidationFailed) -> None:
        """Each message of the service's ValidationFailed under the input it names."""
        for key, msgs in (exc.errors or {"__all__": [exc.detail]}).items():
            self.add_error(key if key in self.fields else None, msgs)

    def autofocus_first_error(self, fallback: str | None = None) -> None:
        """Put the cursor where the user has to act (htmx focuses [autofocus] after a swap)."""
        name = next((name for name in self.fields if name in self.errors), fallback)
        if name is not None:
            self.fields[name].widget.attrs["autofocus"] = True


class PolicyForm(ServiceErrorsForm):
    """The inputs of one settings section. It only parses types (a number is a
    number); the policy service validates the values, as a whole."""

    def __init__(self, section: SettingsSection, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{section.key}-%s")
        super().__init__(*args, **kwargs)
        self.section = section
        self.fields.update(forms.fields_for_model(
            section.model, fields=section.fields, labels=POLICY_LABELS, help_texts=POLICY_HELP,
        ))
        if "tiers" in self.fields:
            self.fields["tiers"] = forms.MultipleChoiceField(
                label=POLICY_LABELS["tiers"], help_text=POLICY_HELP["tiers"], required=False,
                choices=_tier_choices(), widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
            )
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.update({"class": "form-check-input", "role": "switch"})
            elif isinstance(widget, forms.NumberInput):
                unit, step = POLICY_UNITS[name]
                field.vc_unit = unit
                widget.attrs.update({"class": "form-control vc-num-input", "step": step,
                                     "inputmode": "numeric" if step == "1" else "decimal"})
            elif isinstance(widget, forms.TextInput):
                widget.attrs.update({"class": "form-control form-control-sm"})

    @classmethod
    def for_policy(cls, section: SettingsSection, policy) -> PolicyForm:
        initial = {name: getattr(policy, name) for name in section.fields}
        if "tiers" in initial:
            initial["tiers"] = list(str(initial["tiers"]).upper())
        return cls(section, initial=initial)

    def grouped(self) -> list[tuple[FieldGroup, list]]:
        return [(group, [self[name] for name in group.fields]) for group in self.section.groups]

    def to_service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if "tiers" in data:
            data["tiers"] = "".join(tier for tier in Tier.values if tier in data["tiers"])
        return data


class PlaybookCellForm(ServiceErrorsForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(forms.fields_for_model(
            PlaybookEntry, fields=["text_en", "text_zh", "action_code"],
            labels={"text_en": gettext_lazy("English"), "text_zh": gettext_lazy("中文")},
            help_texts={"action_code": gettext_lazy("Lowercase letters, digits, - and _; automation rules "
                                                    "and exports use it.")},
        ))
        for name in ("text_en", "text_zh"):
            self.fields[name].widget = forms.Textarea(attrs={"class": "form-control form-control-sm", "rows": 3,
                                                             "maxlength": 200})
        self.fields["text_zh"].widget.attrs["lang"] = "zh-Hans"
        self.fields["text_en"].widget.attrs["lang"] = "en"
        self.fields["action_code"].widget.attrs.update({"class": "form-control form-control-sm font-monospace",
                                                        "autocomplete": "off", "spellcheck": "false"})


def _tier_slug(tier: str) -> str:
    return tier or "any"


def _tier_from_slug(slug: str) -> str:
    if slug == "any":
        return ""
    if slug in Tier.values:
        return slug
    raise Http404


def _policies() -> dict:
    return {key: section.model.current() for key, section in SETTINGS_SECTIONS.items()}


def _section_context(request, section: SettingsSection, policy, *, form=None, saved=False, error="") -> dict:
    can_edit = _can_change_policies(request.user)
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
        "can_edit": _can_change_policies(request.user),
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
        "can_edit": _can_change_policies(request.user),
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
    if not _can_change_policies(request.user):
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
    if editing and not _can_change_policies(request.user):
        return _playbook_forbidden(request, cell, _("Only administrators can change value policies."))
    return _render_cell(request, _playbook_cell_context(request, cell, editing=editing, focus=True))


def _playbook_cell_save(request, stage: str, tier: str):
    """Set the action of one stage × tier cell (en + 中文 text and action code)."""
    cell = _playbook_cell_or_404(stage, tier)
    if not _can_change_policies(request.user):
        return _playbook_forbidden(request, cell, _("Only administrators can change value policies."))
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
