"""Reads of customer value: the value card, list filters and presets, runs and the model report.

Every customer-facing read takes the viewing user and goes through
customers.visibility, so value data never leaks past record visibility.
KPIs live in services/kpis.py (they are computations, not lookups).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers.visibility import visible_customers
from valuecrm.insights.models import (
    RANKED_TIERS,
    AlertKind,
    CustomerScore,
    CustomerValue,
    RunStatus,
    ScoreRun,
    Segment,
    Stage,
    StageChange,
    Tier,
    ValueAlert,
)
from valuecrm.insights.reasons import with_details
from valuecrm.insights.services.playbook import (
    action_for,
    action_text,
    playbook_lookup,
    reason_text,
)


# ----------------------------------------------------------------------------- value card
def value_of(user, customer_id: int) -> CustomerValue | None:
    """The current value row of a customer the user may see (NotFound otherwise)."""
    if not visible_customers(user).filter(pk=customer_id).exists():
        raise NotFound(_("Customer not found."))
    return CustomerValue.objects.filter(customer_id=customer_id).select_related("run").first()


def value_summary(value: CustomerValue | None) -> dict | None:
    """The numbers of one value row as plain data (API and templates)."""
    if value is None:
        return None
    table = playbook_lookup()
    entry = action_for(table, value.stage, value.tier)
    return {
        "as_of": value.as_of,
        "clv": value.clv,
        "clv_range": ({"low": value.clv_low, "high": value.clv_high, **(value.clv_range_basis or {})}
                      if value.clv_low is not None and value.clv_high is not None else None),
        "historical_revenue": value.historical_revenue,
        "historical_margin": value.historical_margin,
        "n_orders": value.n_orders,
        "first_order_on": value.first_order_on,
        "last_order_on": value.last_order_on,
        "interval_days": value.interval_days,
        "p_alive": value.p_alive,
        "expected_purchases_90d": value.expected_purchases_90d,
        "churn_risk": value.churn_risk,
        "value_at_risk": value.value_at_risk,
        "rfm": {"r": value.r_score, "f": value.f_score, "m": value.m_score,
                "segment": value.segment, "segment_label": Segment(value.segment).label},
        "tier": value.tier,
        "tier_label": tier_names().get(value.tier, value.tier),
        "stage": value.stage,
        "stage_label": Stage(value.stage).label,
        "stage_since": value.stage_since,
        "is_value_customer": value.is_value_customer,
        "value_reasons": with_details(value.customer_id, list(value.value_reasons)),
        "story": value_story(value),
        "next_best_action": {
            "code": value.next_best_action,
            "text": action_text(entry) if entry and entry.action_code == value.next_best_action else "",
            "reason": reason_text(value.nba_reason),
        },
    }


def value_story(value: CustomerValue) -> str:
    """One sentence on how stage, churn risk, tier, RFM and the value-customer flag fit together."""
    if value.stage == Stage.PROSPECT:
        return _("No paid order yet: stage, risk and tier start with the first order.")
    risk = round(100 * (value.churn_risk or 0))
    segment = Segment(value.segment).label if value.segment else _("not scored")
    flag = _(" a value customer by their history,") if value.is_value_customer else ""
    reason = value.nba_reason or {}
    if value.tier == Tier.N:
        return _("Too early to tier (%(orders)s order(s)): the CLV is the range of customers at the same "
                 "point, not a forecast for this person; churn risk %(risk)s%%, RFM %(segment)s.") % {
            "orders": value.n_orders, "risk": risk, "segment": segment}
    if reason.get("code") == "slowing_expected":
        return _("Slowing down but not at risk: the gap is longer than usual, yet the churn model still "
                 "expects a purchase (%(pct)s%%), so the stage stays %(stage)s;%(flag)s tier %(tier)s by "
                 "predicted CLV, RFM %(segment)s.") % {
            "pct": round(100 * reason["p_purchase"]), "stage": Stage(value.stage).label, "flag": flag,
            "tier": value.tier, "segment": segment}
    if value.stage == Stage.CHURNED:
        return _("Churned: %(reason)s; RFM %(segment)s and the value-customer flag describe the past"
                 "%(winback)s.") % {
            "reason": reason_text(reason), "segment": segment,
            "winback": _(" — a win-back candidate") if value.is_value_customer else ""}
    if value.stage == Stage.AT_RISK:
        return _("At risk and the churn model agrees (%(risk)s%% churn risk): %(reason)s;%(flag)s tier "
                 "%(tier)s by predicted CLV, RFM %(segment)s.") % {
            "risk": risk, "reason": reason_text(reason), "flag": flag, "tier": value.tier,
            "segment": segment}
    return _("%(stage)s and buying on their own rhythm (churn risk %(risk)s%%);%(flag)s tier %(tier)s by "
             "predicted CLV, RFM %(segment)s compares their recency and frequency with all customers.") % {
        "stage": Stage(value.stage).label, "risk": risk, "flag": flag, "tier": value.tier,
        "segment": segment}


def customer_value(user, customer_id: int, *, history_limit: int = 24) -> dict:
    """Everything the value card shows: current numbers, history, stage path, alerts, action."""
    value = value_of(user, customer_id)
    return {
        "current": value_summary(value),
        "history": value_history(user, customer_id, limit=history_limit, checked=True),
        "stage_path": stage_path(customer_id),
        "alerts": [_alert_dict(a) for a in ValueAlert.objects.filter(customer_id=customer_id)[:20]],
    }


def value_history(user, customer_id: int, *, limit: int = 24, checked: bool = False) -> list[dict]:
    """One point per scoring date (oldest first) for sparklines."""
    if not checked and not visible_customers(user).filter(pk=customer_id).exists():
        raise NotFound(_("Customer not found."))
    rows = (CustomerScore.objects.filter(customer_id=customer_id, run__status=RunStatus.SUCCEEDED)
            .order_by("-as_of").values("as_of", "clv", "p_alive", "churn_risk", "value_at_risk",
                                       "expected_purchases_90d", "tier", "stage", "segment")[:limit])
    return list(reversed(list(rows)))


def stage_path(customer_id: int) -> list[dict]:
    """Stage changes with dates, oldest first: prospect → new → growing → …"""
    return [
        {"from": c.from_stage, "to": c.to_stage, "to_label": Stage(c.to_stage).label, "on": c.changed_on}
        for c in StageChange.objects.filter(customer_id=customer_id, run__status=RunStatus.SUCCEEDED)
    ]


def _alert_dict(alert: ValueAlert) -> dict:
    return {
        "id": alert.pk, "kind": alert.kind, "kind_label": AlertKind(alert.kind).label,
        "reason": reason_text(alert.reason_params) or alert.reason, "tier": alert.tier,
        "raised_on": alert.created_on, "resolved_at": alert.resolved_at, "task_id": alert.task_id,
    }


def open_alerts(user, *, limit: int = 50) -> QuerySet:
    """Open value alerts on customers the user can see, newest first."""
    return (ValueAlert.objects.open()
            .filter(customer__in=visible_customers(user))
            .select_related("customer", "task").order_by("-created_on", "-id")[:limit])


def tier_names() -> dict[str, str]:
    from valuecrm.insights.models import TierPolicy

    policy = TierPolicy.current()
    return {Tier.A: policy.name_a, Tier.B: policy.name_b, Tier.C: policy.name_c,
            Tier.N: str(Tier.N.label)}


# ----------------------------------------------------------------------------- list filters
VALUE_SORTS = {
    "clv": "value__clv", "-clv": "-value__clv",
    "p_alive": "value__p_alive", "-p_alive": "-value__p_alive",
    "churn_risk": "value__churn_risk", "-churn_risk": "-value__churn_risk",
    "value_at_risk": "value__value_at_risk", "-value_at_risk": "-value__value_at_risk",
    "expected_purchases_90d": "value__expected_purchases_90d",
    "-expected_purchases_90d": "-value__expected_purchases_90d",
    "last_order_on": "value__last_order_on", "-last_order_on": "-value__last_order_on",
}

# Filter keys the customer list understands (query string → meaning).
VALUE_FILTER_KEYS = (
    "tier", "stage", "segment", "value_customer", "clv_min", "clv_max", "p_alive_min", "p_alive_max",
    "churn_risk_min", "churn_risk_max", "value_at_risk_min", "stage_since_after", "preset",
    "r_score", "f_score",
)


def with_value(queryset: QuerySet) -> QuerySet:
    """Annotate a Customer queryset with the current value columns (one join)."""
    return queryset.select_related("value").annotate(
        clv=F("value__clv"), p_alive=F("value__p_alive"), churn_risk=F("value__churn_risk"),
        value_at_risk=F("value__value_at_risk"), value_tier=F("value__tier"),
        lifecycle_stage=F("value__stage"), rfm_segment=F("value__segment"),
    )


def _many(params, key) -> list[str]:
    if hasattr(params, "getlist"):
        values = params.getlist(key)
    else:
        raw = params.get(key)
        values = raw if isinstance(raw, list | tuple) else ([raw] if raw not in (None, "") else [])
    out: list[str] = []
    for v in values:
        out.extend(p for p in str(v).split(",") if p)
    return out


def _number(params, key, errors, low=None, high=None):
    raw = params.get(key)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        errors[key] = [_("Enter a number.")]
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors[key] = [_("Enter a number between %(low)s and %(high)s.") % {"low": low, "high": high}]
        return None
    return value


def apply_value_filters(queryset: QuerySet, params) -> QuerySet:
    """Filter a Customer queryset by value fields given in ``params`` (a dict or QueryDict).

    Keys: tier, stage, segment (comma-separated or repeated), value_customer (1/0),
    clv_min/clv_max, p_alive_min/p_alive_max, churn_risk_min/churn_risk_max (0..1),
    value_at_risk_min, stage_since_after (YYYY-MM-DD), preset (a PRESETS key whose
    filters are applied first). Unknown values raise ValidationFailed naming the key.
    """
    errors: dict[str, list[str]] = {}
    q = Q()
    preset = params.get("preset")
    if preset:
        if preset not in PRESETS:
            errors["preset"] = [_("Unknown view: %(name)s.") % {"name": preset}]
        else:
            queryset = apply_value_filters(queryset, preset_filters(preset))
    for key, choices, field in (("tier", Tier.values, "value__tier"),
                                ("stage", Stage.values, "value__stage"),
                                ("segment", [s for s in Segment.values if s], "value__segment")):
        wanted = _many(params, key)
        bad = [v for v in wanted if v not in choices]
        if bad:
            errors[key] = [_("Unknown value(s): %(values)s.") % {"values": ", ".join(bad)}]
        elif wanted:
            q &= Q(**{f"{field}__in": wanted})
    for key, field in (("r_score", "value__r_score"), ("f_score", "value__f_score")):
        wanted = _many(params, key)
        bad = [v for v in wanted if v not in ("1", "2", "3", "4", "5")]
        if bad:
            errors[key] = [_("Use scores from 1 to 5.")]
        elif wanted:
            q &= Q(**{f"{field}__in": [int(v) for v in wanted]})
    flag = params.get("value_customer")
    if flag not in (None, ""):
        if str(flag).lower() not in ("1", "0", "true", "false"):
            errors["value_customer"] = [_("Use 1 or 0.")]
        else:
            q &= Q(value__is_value_customer=str(flag).lower() in ("1", "true"))
    for key, lookup, low, high in (
        ("clv_min", "value__clv__gte", None, None), ("clv_max", "value__clv__lte", None, None),
        ("p_alive_min", "value__p_alive__gte", 0, 1), ("p_alive_max", "value__p_alive__lte", 0, 1),
        ("churn_risk_min", "value__churn_risk__gte", 0, 1),
        ("churn_risk_max", "value__churn_risk__lte", 0, 1),
        ("value_at_risk_min", "value__value_at_risk__gte", None, None),
    ):
        value = _number(params, key, errors, low, high)
        if value is not None:
            q &= Q(**{lookup: value if "clv" in key or "value_at" in key else float(value)})
    since = params.get("stage_since_after")
    if since not in (None, ""):
        try:
            q &= Q(value__stage_since__gte=dt.date.fromisoformat(str(since)))
        except ValueError:
            errors["stage_since_after"] = [_("Enter a date as YYYY-MM-DD.")]
    if errors:
        raise ValidationFailed(_("Invalid value filter."), errors=errors)
    return queryset.filter(q) if q else queryset


def apply_value_sort(queryset: QuerySet, sort: str) -> QuerySet:
    if sort not in VALUE_SORTS:
        raise ValidationFailed(_("Invalid sort."), errors={"sort": [_("Unknown sort: %(s)s.") % {"s": sort}]})
    field = VALUE_SORTS[sort]
    expression = F(field.lstrip("-"))
    ordered = expression.desc(nulls_last=True) if field.startswith("-") else expression.asc(nulls_last=True)
    return queryset.order_by(ordered, "-id")


# Named views for the customer list (labels translated at render time).
PRESETS = {
    "high_value_at_risk": {
        "label": gettext_lazy("High value at risk"),
        "filters": {"tier": "A,B", "stage": "at_risk"},
        "sort": "-value_at_risk",
    },
    "new_this_month": {
        "label": gettext_lazy("New this month"),
        "filters": {"stage": "new", "stage_since_after": "{month_start}"},
        "sort": "-clv",
    },
    "champions": {
        "label": gettext_lazy("Champions"),
        "filters": {"segment": "champions"},
        "sort": "-clv",
    },
    "win_back_candidates": {
        "label": gettext_lazy("Win-back candidates"),
        # Churned (the lifecycle stage, as the funnel counts it) and a value customer by history.
        "filters": {"stage": "churned", "value_customer": "1"},
        "sort": "-clv",
    },
}


def preset_filters(name: str) -> dict:
    """The filter dict of a preset with its date placeholders filled in for today."""
    today = timezone.localdate()
    filters = dict(PRESETS[name]["filters"])
    for key, value in filters.items():
        if value == "{month_start}":
            filters[key] = today.replace(day=1).isoformat()
    return filters


def presets() -> list[dict]:
    return [{"key": k, "label": str(v["label"]), "filters": preset_filters(k), "sort": v["sort"]}
            for k, v in PRESETS.items()]


# ----------------------------------------------------------------------------- runs & report
def score_runs(*, limit: int = 50) -> QuerySet:
    return ScoreRun.objects.select_related("requested_by").order_by("-created_at", "-id")[:limit]


def last_run() -> ScoreRun | None:
    return ScoreRun.objects.succeeded().order_by("-as_of", "-finished_at").first()


def model_report(run: ScoreRun | None = None) -> dict | None:
    """Why the numbers can be trusted: params ± SE, holdout comparison, tracking, churn calibration."""
    run = run or last_run()
    if run is None:
        return None
    params = [{"name": k, "value": v, "se": run.model_standard_errors.get(k)}
              for k, v in run.model_params.items()]
    spend = run.spend_params or {}
    return {
        "run_id": run.pk,
        "as_of": run.as_of,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
        "unit": run.unit,
        "transaction_model": run.transaction_model,
        "params": params,
        "log_likelihood": run.model_log_likelihood,
        "spend_model": spend.get("model", ""),
        "spend_params": [{"name": k, "value": v, "se": (spend.get("standard_errors") or {}).get(k)}
                         for k, v in (spend.get("params") or {}).items()],
        "holdout_comparison": run.holdout_comparison,
        "tracking": run.tracking,
        "churn": run.churn_metrics,
        "data_window": {"start": run.data_start, "end": run.data_end,
                        "calibration_end": run.calibration_end},
        "counts": {"customers": run.n_customers, "buyers": run.n_buyers, "orders": run.n_orders,
                   "alerts": run.n_alerts, "stage_changes": run.n_stage_changes},
        "clv_basis": run.clv_basis,
        "customer_equity": run.customer_equity,
        "consistency": run.consistency or {},
    }


# ----------------------------------------------------------------------------- value settings
# The playbook grid's tier columns: "" is the action for any tier (the fallback).
PLAYBOOK_TIERS = ("", *RANKED_TIERS)


def _playbook_cell(table: dict, stage: str, tier: str) -> dict:
    own = table.get((stage, tier))
    fallback = table.get((stage, "")) if tier else None
    entry = own or fallback
    return {
        "stage": stage,
        "stage_label": Stage(stage).label,
        "tier": tier,
        "entry": entry,
        "text": action_text(entry),
        # No action of its own: the scoring run uses the stage's any-tier action.
        "inherited": own is None and fallback is not None,
    }


def playbook_grid() -> list[dict]:
    """The next-best-action playbook as one row per lifecycle stage (funnel order),
    each with a cell for "any tier" and one per tier: the cell's own action, or
    the any-tier action it falls back to (as the scoring run does)."""
    table = playbook_lookup()
    return [
        {"stage": stage.value, "label": stage.label,
         "cells": [_playbook_cell(table, stage.value, tier) for tier in PLAYBOOK_TIERS]}
        for stage in Stage
    ]


def playbook_cell(stage: str, tier: str) -> dict:
    """One cell of playbook_grid()."""
    if stage not in Stage.values or tier not in PLAYBOOK_TIERS:
        raise NotFound(_("No such playbook cell."))
    return _playbook_cell(playbook_lookup(), stage, tier)


def first_order_day() -> dt.date | None:
    """The local date of the first revenue order: where the data a scoring run can use begins."""
    from valuecrm.orders.models import Order

    first = Order.objects.revenue().order_by("placed_at").values_list("placed_at", flat=True).first()
    return timezone.localdate(first) if first is not None else None
