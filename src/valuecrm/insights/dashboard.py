"""The value dashboard's data: KPI cards, chart series, click-through links and CSV tables.

Everything here is shaped *from* services.kpis.kpis() (the one place KPIs are
computed) plus a tier breakdown, so a chart, its CSV export and the API never
disagree. Each chart point carries the customer-list URL it stands for: clicking
"tier A" opens /customers/?tier=A. Visibility: kpis() and tier_breakdown() only
count customers the user can see, so a rep's dashboard is their own book.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from valuecrm.accounts.capabilities import Capability, has_capability
from valuecrm.accounts.roles import Scope
from valuecrm.customers.visibility import visible_customers
from valuecrm.engine.rfm import SEGMENT_GRID
from valuecrm.insights.models import CustomerValue, RunStatus, ScoreRun, Segment, Stage, Tier
from valuecrm.insights.selectors import tier_names
from valuecrm.insights.services.kpis import COHORT_MONTHS, cohort_retention, kpis

# Date-range presets of the picker (days, label).
RANGE_PRESETS = (
    (30, gettext_lazy("Last 30 days")),
    (90, gettext_lazy("Last 90 days")),
    (365, gettext_lazy("Last 365 days")),
)


def can_run_scoring(user) -> bool:
    """Administrators and analysts start scoring runs (same rule as POST /api/v1/score-runs)."""
    return has_capability(user, Capability.SCORING_RUN)


def customer_list_url(**filters) -> str:
    """/customers/?key=value… with empty values left out (the list's own filter keys)."""
    query = urlencode({k: v for k, v in filters.items() if v not in (None, "")})
    base = reverse("customer-list")
    return f"{base}?{query}" if query else base


def preset_range(days: int) -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    return today - dt.timedelta(days=days - 1), today


# ----------------------------------------------------------------------------- tiers
def tier_breakdown(user) -> list[dict]:
    """Customers and predicted CLV per value tier, among scored customers the user can see
    (archived ones left out, as the list leaves them out)."""
    values = CustomerValue.objects.filter(customer__archived_at__isnull=True)
    if user.scope != Scope.ALL:
        values = values.filter(customer__in=visible_customers(user).values("pk"))
    rows = {r["tier"]: r for r in values.values("tier").annotate(n=Count("customer_id"), clv=Sum("clv"))}
    names = tier_names()
    return [{"tier": t, "label": names.get(t, t), "count": rows.get(t, {}).get("n", 0),
             "clv": float(rows.get(t, {}).get("clv") or 0)} for t in Tier.values]


# ----------------------------------------------------------------------------- KPI cards
@dataclass(frozen=True)
class KpiSpec:
    key: str
    label: str
    kind: str  # count | percent | money | days
    higher_is_better: bool = True
    help: str = ""


KPI_SPECS = (
    KpiSpec("active_customers", gettext_lazy("Active customers"), "count",
            help=gettext_lazy("Bought in the 365 days up to the end of the period.")),
    KpiSpec("new_customers", gettext_lazy("New customers"), "count",
            help=gettext_lazy("First-ever order inside the period.")),
    KpiSpec("churned_customers", gettext_lazy("Churned customers"), "count", higher_is_better=False,
            help=gettext_lazy("Active before the period, no longer active at its end.")),
    KpiSpec("churn_rate", gettext_lazy("Churn rate"), "percent", higher_is_better=False,
            help=gettext_lazy("Churned ÷ active at the start.")),
    KpiSpec("retention_rate", gettext_lazy("Retention rate"), "percent",
            help=gettext_lazy("1 − churn rate.")),
    KpiSpec("repeat_purchase_rate", gettext_lazy("Repeat purchase rate"), "percent",
            help=gettext_lazy("Customers with 2+ orders ÷ customers with 1+ order.")),
    KpiSpec("arpu", gettext_lazy("ARPU"), "money",
            help=gettext_lazy("Revenue in the period ÷ customers who bought in it.")),
    KpiSpec("average_lifetime_days", gettext_lazy("Average lifetime (capped at 12 months)"), "days",
            help=gettext_lazy("1 ÷ churn rate, in days, never more than the 12-month horizon of the model CLV.")),
    KpiSpec("clv", gettext_lazy("Seed formula: CLV = ARPU × lifetime"), "money",
            help=gettext_lazy("The simple CLV the business quotes, over at most 12 months. The model CLV "
                              "(customer equity) is per customer, from their own purchase history.")),
)


def _kpi_link(key: str, start: dt.date, end: dt.date) -> str:
    if key == "new_customers":
        return customer_list_url(first_order_from=start.isoformat(), first_order_to=end.isoformat())
    if key in ("churned_customers", "churn_rate"):
        return customer_list_url(stage=Stage.CHURNED)
    if key in ("active_customers", "retention_rate", "arpu"):
        return customer_list_url(last_order_from=(end - dt.timedelta(days=364)).isoformat())
    if key == "repeat_purchase_rate":
        return customer_list_url(stage="growing,loyal")
    return customer_list_url(sort="-clv")


def kpi_cards(data: dict) -> list[dict]:
    start, end = data["period"]["start"], data["period"]["end"]
    cards = []
    for spec in KPI_SPECS:
        metric = data["metrics"][spec.key]
        change = metric["change"]
        good = None if change in (None, 0) else (change > 0) == spec.higher_is_better
        cards.append({"key": spec.key, "label": str(spec.label), "kind": spec.kind, "help": str(spec.help),
                      "value": metric["value"], "previous": metric["previous"], "change": change,
                      "good": good, "url": _kpi_link(spec.key, start, end)})
    return cards


# ----------------------------------------------------------------------------- charts
def _segment_at(r: int, f: int) -> str:
    return SEGMENT_GRID[r - 1][f - 1]


def chart_payloads(data: dict, tiers: list[dict]) -> dict:
    """JSON-ready series for charts.js; every clickable item has its list URL."""
    start, end = data["period"]["start"], data["period"]["end"]
    histogram = data["clv_histogram"]
    edges = histogram["edges"]
    bins = [{"from": edges[i], "to": edges[i + 1], "count": c,
             "url": customer_list_url(clv_min=edges[i], clv_max=edges[i + 1])}
            for i, c in enumerate(histogram["counts"])]
    cohort = data["cohorts"]
    stage_labels = {s.value: str(s.label) for s in Stage}
    segment_labels = {s.value: str(s.label) for s in Segment if s.value}
    return {
        "equity": {
            "series_name": _("Customer equity"),
            "points": [{"x": p["as_of"].isoformat(), "y": p["equity"], "url": customer_list_url(sort="-clv")}
                       for p in data["equity"]["trend"]],
        },
        "clv_histogram": {"series_name": _("Customers"), "x_name": _("Predicted CLV"), "bins": bins,
                          "overflow": histogram["overflow"]},
        "tiers": {"series_name": _("Customers"), "clv_name": _("Predicted CLV"),
                  "items": [{**t, "url": customer_list_url(tier=t["tier"])} for t in tiers]},
        "funnel": {"series_name": _("Customers"),
                   "items": [{**s, "url": customer_list_url(stage=s["stage"])}
                             for s in data["lifecycle_funnel"]]},
        "stage_flow": {
            "links": [{"source": stage_labels[f["source"]], "target": stage_labels[f["target"]],
                       "source_code": f["source"], "target_code": f["target"], "value": f["value"],
                       "url": customer_list_url(stage=f["target"], stage_since_after=start.isoformat())}
                      for f in data["stage_flow"]],
            "from_suffix": _("(before)"),
        },
        "rfm": {
            "x_name": _("Frequency score (F)"), "y_name": _("Recency score (R)"), "series_name": _("Customers"),
            "cells": [{"r": c["r"], "f": c["f"], "count": c["count"], "clv": c["clv"],
                       "segment": segment_labels[_segment_at(c["r"], c["f"])],
                       # The cell, not its whole segment: the list shows exactly the count drawn.
                       "url": customer_list_url(r_score=c["r"], f_score=c["f"])}
                      for c in data["rfm_heatmap"]],
        },
        "cohorts": {
            "x_name": _("Months since first order"), "y_name": _("First-order month"),
            "series_name": _("Retention"),
            "cohorts": cohort["cohorts"], "offsets": cohort["offsets"], "sizes": cohort["sizes"],
            "matrix": cohort["matrix"],
            "urls": [customer_list_url(first_order_from=f"{c}-01", first_order_to=_month_end(c).isoformat())
                     for c in cohort["cohorts"]],
        },
        "cac": {"cac_name": _("CAC"), "ltv_name": _("Average predicted CLV"), "ratio_name": _("LTV:CAC"),
                "items": [{**row, "url": customer_list_url(channel=row["channel"],
                                                           created_from=start.isoformat(),
                                                           created_to=end.isoformat())}
                          for row in data["cac_by_channel"]]},
    }


def _month_end(month: str) -> dt.date:
    first = dt.date.fromisoformat(f"{month}-01")
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def dashboard(user, start=None, end=None) -> dict:
    """Everything the dashboard page shows (raises ValidationFailed on a bad range)."""
    data = kpis(user, start, end)
    # Retention needs months of history to say anything: a 30-day range would show one
    # or two cohorts. The heatmap always covers the 12 cohorts up to the range's end.
    end = data["period"]["end"]
    cohort_start = (end.replace(day=1) - dt.timedelta(days=31 * (COHORT_MONTHS - 1))).replace(day=1)
    data["cohorts"] = cohort_retention(user, min(cohort_start, data["period"]["start"]), end)
    tiers = tier_breakdown(user)
    return {
        "kpis": data,
        "cards": kpi_cards(data),
        "tiers": tiers,
        "charts": chart_payloads(data, tiers),
        "equity_now": data["equity"]["current"],
        "cac": data["cac_by_channel"],
    }


# ----------------------------------------------------------------------------- CSV tables
CSV_CHARTS = ("kpis", "equity", "clv_histogram", "tiers", "funnel", "stage_flow", "rfm", "cohorts", "cac")


def chart_table(name: str, data: dict) -> tuple[list[str], list[list]]:
    """Header and rows of one chart's numbers (the same numbers the chart draws)."""
    k = data["kpis"]
    if name == "kpis":
        header = [_("Metric"), _("Key"), pgettext("current period", "Period"), _("Previous period"), _("Change")]
        period = f"{k['period']['start']}..{k['period']['end']}"
        previous = f"{k['previous_period']['start']}..{k['previous_period']['end']}"
        rows = [[_("Dates"), "period", period, previous, ""]]
        for spec in KPI_SPECS:
            m = k["metrics"][spec.key]
            rows.append([str(spec.label), spec.key, _num(m["value"]), _num(m["previous"]), _num(m["change"])])
        return header, rows
    if name == "equity":
        return ([_("As of"), _("Customer equity")],
                [[p["as_of"].isoformat(), _num(p["equity"])] for p in k["equity"]["trend"]])
    if name == "clv_histogram":
        h = k["clv_histogram"]
        rows = [[_num(h["edges"][i]), _num(h["edges"][i + 1]), c] for i, c in enumerate(h["counts"])]
        if h["overflow"]:
            rows.append([_num(h["edges"][-1]), "", h["overflow"]])
        return [_("CLV from"), _("CLV to"), _("Customers")], rows
    if name == "tiers":
        return ([_("Tier"), _("Name"), _("Customers"), _("Predicted CLV")],
                [[t["tier"], t["label"], t["count"], _num(t["clv"])] for t in data["tiers"]])
    if name == "funnel":
        return ([_("Stage"), _("Name"), _("Customers")],
                [[s["stage"], s["label"], s["count"]] for s in k["lifecycle_funnel"]])
    if name == "stage_flow":
        return ([_("From"), _("To"), _("Customers")],
                [[f["source"], f["target"], f["value"]] for f in k["stage_flow"]])
    if name == "rfm":
        return ([_("R"), _("F"), _("Segment"), _("Customers"), _("Predicted CLV")],
                [[c["r"], c["f"], _segment_at(c["r"], c["f"]), c["count"], _num(c["clv"])]
                 for c in sorted(k["rfm_heatmap"], key=lambda c: (-c["r"], -c["f"]))])
    if name == "cohorts":
        c = k["cohorts"]
        header = [_("Cohort"), _("Customers")] + [f"M{o}" for o in c["offsets"]]
        return header, [[cohort, size] + ["" if v is None else _num(v) for v in row]
                        for cohort, size, row in zip(c["cohorts"], c["sizes"], c["matrix"], strict=True)]
    if name == "cac":
        return ([_("Channel"), _("Name"), _("New customers"), _("Acquisition spend"), _("CAC"),
                 _("Average predicted CLV"), _("LTV:CAC")],
                [[r["channel"], r["label"], r["new_customers"], _num(r["acquisition_spend"]), _num(r["cac"]),
                  _num(r["avg_clv"]), _num(r["ltv_cac"])] for r in k["cac_by_channel"]])
    raise KeyError(name)


def _num(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.6g}" if abs(float(value)) < 1 else f"{float(value):.2f}"


# ----------------------------------------------------------------------------- run status
def run_status() -> dict:
    """The newest run (any status) and the newest successful one, for the status strip."""
    latest = ScoreRun.objects.select_related("requested_by").order_by("-created_at", "-id").first()
    last_good = latest if latest and latest.status == RunStatus.SUCCEEDED else (
        ScoreRun.objects.succeeded().order_by("-finished_at", "-id").first())
    return {
        "latest": latest,
        "last_good": last_good,
        "active": bool(latest and latest.status in (RunStatus.QUEUED, RunStatus.RUNNING)),
    }
