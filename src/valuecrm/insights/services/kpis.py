"""Customer KPIs for a date range, with the previous period of equal length for comparison.

Definitions (DESIGN.md "KPIs"; dates are local days, both ends inclusive):

* active at a day d = bought (paid/fulfilled order) in the 365 days up to d;
* new = first-ever order inside the period;
* churned = active the day before the period starts, not active at its end;
* churn rate = churned / active at start; retention rate = 1 − churn rate;
* repeat purchase rate = customers with ≥ 2 orders / customers with ≥ 1 order (up to the end);
* ARPU = revenue in the period / customers who bought in it;
* average lifetime = 1 / churn rate periods (shown in days), capped at 365 days (the model
  CLV's 12-month horizon); seed-formula CLV = ARPU × lifetime
  (× gross margin for the profit version, where order costs are known);
* customer equity = Σ predicted CLV of current customers (and per scoring run for the trend);
* CAC = acquisition cost / customers acquired in the period, per channel; LTV:CAC = mean
  predicted CLV of the channel's customers / CAC.

Everything is restricted to the customers the user can see.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from django.db.models import Avg, Count, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.roles import Scope
from valuecrm.common.datetimes import parse_bounded_date
from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import AcquisitionChannel
from valuecrm.customers.visibility import visible_customers
from valuecrm.insights.models import (
    STAGE_ORDER,
    CustomerScore,
    CustomerValue,
    RunStatus,
    ScoreRun,
    Stage,
    StageChange,
)
from valuecrm.orders.models import Order

ACTIVE_DAYS = 365
MAX_RANGE_DAYS = 3 * 366
COHORT_MONTHS = 12
HISTOGRAM_BINS = 20
SEED_HORIZON_DAYS = 365  # the model CLV's horizon (12 months)


def parse_range(start, end) -> tuple[dt.date, dt.date]:
    """Validate a date range (strings or dates); default: the last 30 days."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    values = {}
    for key, raw, default in (("start", start, today - dt.timedelta(days=29)), ("end", end, today)):
        if raw in (None, ""):
            values[key] = default
        else:
            try:
                values[key] = parse_bounded_date(raw)
            except ValueError as exc:
                errors[key] = [str(exc)]
    if not errors and values["start"] > values["end"]:
        errors["start"] = [_("The start must not be after the end.")]
    if not errors and (values["end"] - values["start"]).days > MAX_RANGE_DAYS:
        errors["end"] = [_("The range may span at most three years.")]
    if errors:
        raise ValidationFailed(_("Invalid date range."), errors=errors)
    return values["start"], values["end"]


def _day_start(day: dt.date) -> dt.datetime:
    # Range filters on the stored timestamp use the index; __date would call a
    # per-row time-zone conversion in SQLite.
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _day_end(day: dt.date) -> dt.datetime:
    return _day_start(day + dt.timedelta(days=1))


def _orders(user):
    # Archived customers are out of the dashboard as they are out of the list (every
    # figure opens exactly the customers it counts); their orders still feed the models.
    orders = Order.objects.revenue().filter(customer__archived_at__isnull=True)
    if user.scope != Scope.ALL:
        orders = orders.filter(customer__in=visible_customers(user).values("pk"))
    return orders


def _active_ids(orders, day: dt.date) -> set[int]:
    since = day - dt.timedelta(days=ACTIVE_DAYS - 1)
    return set(orders.filter(placed_at__gte=_day_start(since), placed_at__lt=_day_end(day))
               .values_list("customer_id", flat=True).distinct())


def _period_metrics(orders, start: dt.date, end: dt.date) -> dict:
    days = (end - start).days + 1
    in_period = orders.filter(placed_at__gte=_day_start(start), placed_at__lt=_day_end(end))
    totals = in_period.aggregate(
        revenue=Sum("total_amount"), buyers=Count("customer_id", distinct=True),
        costed_revenue=Sum("total_amount", filter=Q(total_cost__gt=0)),
        cost=Sum("total_cost", filter=Q(total_cost__gt=0)),
    )
    revenue = float(totals["revenue"] or 0)
    buyers = totals["buyers"] or 0
    active_start = _active_ids(orders, start - dt.timedelta(days=1))
    active_end = _active_ids(orders, end)
    churned = len(active_start - active_end)
    firsts = (orders.filter(placed_at__lt=_day_end(end)).values("customer_id")
              .annotate(first=Min("placed_at"), n=Count("id")))
    new = firsts.filter(first__gte=_day_start(start)).count()
    counts = firsts.aggregate(one=Count("customer_id"), repeat=Count("customer_id", filter=Q(n__gte=2)))
    churn_rate = churned / len(active_start) if active_start else None
    arpu = revenue / buyers if buyers else None
    # The seed formula's lifetime is capped at the model CLV's 12-month horizon: 1 / churn
    # rate from a few quiet months would otherwise claim lifetimes longer than the data.
    lifetime_periods = min(1.0 / churn_rate, SEED_HORIZON_DAYS / days) if churn_rate else None
    costed = float(totals["costed_revenue"] or 0)
    margin = (1.0 - float(totals["cost"] or 0) / costed) if costed else None
    clv = arpu * lifetime_periods if arpu is not None and lifetime_periods is not None else None
    return {
        "revenue": revenue,
        "buyers": buyers,
        "active_customers": len(active_end),
        "new_customers": new,
        "churned_customers": churned,
        "churn_rate": churn_rate,
        "retention_rate": (1.0 - churn_rate) if churn_rate is not None else None,
        "repeat_purchase_rate": (counts["repeat"] / counts["one"]) if counts["one"] else None,
        "arpu": arpu,
        "average_lifetime_days": lifetime_periods * days if lifetime_periods is not None else None,
        "clv": clv,
        "gross_margin": margin,
        "profit_clv": clv * margin if clv is not None and margin is not None else None,
    }


def _compare(current: dict, previous: dict) -> dict:
    out = {}
    for key, value in current.items():
        before = previous.get(key)
        change = None
        if value is not None and before not in (None, 0):
            change = (value - before) / abs(before)
        out[key] = {"value": value, "previous": before, "change": change}
    return out


def _values(user):
    values = CustomerValue.objects.filter(customer__archived_at__isnull=True)  # as _orders
    if user.scope != Scope.ALL:
        values = values.filter(customer__in=visible_customers(user).values("pk"))
    return values


def equity(user) -> dict:
    current = float(_values(user).aggregate(s=Sum("clv"))["s"] or 0)
    runs = ScoreRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("as_of")
    if user.scope == Scope.ALL:
        trend = [{"as_of": r.as_of, "equity": float(r.customer_equity), "run_id": r.pk} for r in runs]
    else:
        sums = (CustomerScore.objects.filter(run__in=runs, customer__in=visible_customers(user).values("pk"))
                .values("run_id", "as_of").annotate(equity=Sum("clv")).order_by("as_of"))
        trend = [{"as_of": s["as_of"], "equity": float(s["equity"] or 0), "run_id": s["run_id"]} for s in sums]
    return {"current": current, "trend": trend}


def cac_by_channel(user, start: dt.date, end: dt.date) -> list[dict]:
    customers = visible_customers(user)
    acquired = customers.filter(
        Q(acquired_at__gte=_day_start(start), acquired_at__lt=_day_end(end))
        | Q(acquired_at__isnull=True, created_at__gte=_day_start(start), created_at__lt=_day_end(end))
    )
    spend = {r["acquisition_channel"]: r for r in acquired.values("acquisition_channel")
             .annotate(n=Count("id"), cost=Sum("acquisition_cost"))}
    clv = dict(_values(user).values_list("customer__acquisition_channel").annotate(avg=Avg("clv")))
    labels = dict(AcquisitionChannel.choices)
    rows = []
    for channel, r in sorted(spend.items(), key=lambda kv: -kv[1]["n"]):
        cost = float(r["cost"] or 0)
        cac = cost / r["n"] if r["n"] else None
        avg_clv = float(clv.get(channel) or 0)
        rows.append({
            "channel": channel, "label": str(labels.get(channel, channel)), "new_customers": r["n"],
            "acquisition_spend": cost, "cac": cac, "avg_clv": avg_clv,
            "ltv_cac": (avg_clv / cac) if cac else None,
        })
    return rows


def cohort_retention(user, start: dt.date, end: dt.date) -> dict:
    """Share of each first-order month's cohort that bought again k months later."""
    orders = _orders(user)
    firsts = orders.values("customer_id").annotate(first=Min("placed_at"))
    cohort_customers = firsts.filter(first__gte=_day_start(start.replace(day=1)), first__lt=_day_end(end))
    months = (orders.filter(customer_id__in=cohort_customers.values("customer_id"), placed_at__lt=_day_end(end))
              .annotate(month=TruncMonth("placed_at")).values_list("customer_id", "month").distinct())
    frame = pd.DataFrame(list(months), columns=["customer_id", "month"])
    if frame.empty:
        return {"cohorts": [], "offsets": [], "sizes": [], "matrix": []}
    frame["month"] = pd.to_datetime(frame["month"]).dt.tz_localize(None).dt.to_period("M")
    first = frame.groupby("customer_id")["month"].transform("min")
    frame["offset"] = (frame["month"] - first).apply(lambda d: d.n)
    frame["cohort"] = first.astype(str)
    sizes = frame[frame["offset"] == 0].groupby("cohort")["customer_id"].nunique()
    counts = frame.groupby(["cohort", "offset"])["customer_id"].nunique().unstack(fill_value=0)
    cohorts = list(sizes.index[-COHORT_MONTHS:])
    offsets = [int(o) for o in counts.columns if o <= COHORT_MONTHS]
    matrix = []
    for c in cohorts:
        row = []
        for o in offsets:
            # A cell that lies in the future of the range is unknown, not zero.
            if pd.Period(c, "M") + o > pd.Period(end, "M"):
                row.append(None)
            else:
                row.append(round(float(counts.at[c, o]) / float(sizes[c]), 4))
        matrix.append(row)
    return {"cohorts": cohorts, "offsets": offsets, "sizes": [int(sizes[c]) for c in cohorts], "matrix": matrix}


def lifecycle_funnel(user) -> list[dict]:
    counts = dict(_values(user).values_list("stage").annotate(n=Count("customer_id")))
    return [{"stage": s, "label": str(Stage(s).label), "count": counts.get(s, 0)} for s in STAGE_ORDER]


def stage_flow(user, start: dt.date, end: dt.date) -> list[dict]:
    """Stage moves in the range (for a Sankey); first-time assignments are left out."""
    changes = StageChange.objects.filter(changed_on__gte=start, changed_on__lte=end,
                                         run__status=RunStatus.SUCCEEDED).exclude(from_stage="")
    if user.scope != Scope.ALL:
        changes = changes.filter(customer__in=visible_customers(user).values("pk"))
    rows = changes.values("from_stage", "to_stage").annotate(n=Count("id")).order_by("-n")
    return [{"source": r["from_stage"], "target": r["to_stage"], "value": r["n"]} for r in rows]


def rfm_heatmap(user) -> list[dict]:
    rows = (_values(user).filter(r_score__gt=0).values("r_score", "f_score")
            .annotate(n=Count("customer_id"), clv=Sum("clv")))
    return [{"r": r["r_score"], "f": r["f_score"], "count": r["n"], "clv": float(r["clv"] or 0)} for r in rows]


def clv_histogram(user) -> dict:
    values = np.array([float(v) for v in _values(user).filter(n_orders__gt=0).values_list("clv", flat=True)])
    if values.size == 0:
        return {"edges": [], "counts": [], "overflow": 0}
    top = float(np.quantile(values, 0.99)) or float(values.max()) or 1.0
    counts, edges = np.histogram(np.clip(values, 0, top), bins=HISTOGRAM_BINS, range=(0, top))
    return {"edges": [round(float(e), 2) for e in edges], "counts": [int(c) for c in counts],
            "overflow": int((values > top).sum())}


def kpis(user, start=None, end=None) -> dict:
    """All dashboard KPIs for ``[start, end]`` and the previous period of the same length."""
    start, end = parse_range(start, end)
    length = (end - start).days + 1
    prev_end = start - dt.timedelta(days=1)
    prev_start = prev_end - dt.timedelta(days=length - 1)
    orders = _orders(user)
    current = _period_metrics(orders, start, end)
    previous = _period_metrics(orders, prev_start, prev_end)
    return {
        "period": {"start": start, "end": end, "days": length},
        "previous_period": {"start": prev_start, "end": prev_end},
        "metrics": _compare(current, previous),
        "equity": equity(user),
        "cac_by_channel": cac_by_channel(user, start, end),
        "cohort_retention": cohort_retention(user, start, end),
        "lifecycle_funnel": lifecycle_funnel(user),
        "stage_flow": stage_flow(user, start, end),
        "rfm_heatmap": rfm_heatmap(user),
        "clv_histogram": clv_histogram(user),
    }

