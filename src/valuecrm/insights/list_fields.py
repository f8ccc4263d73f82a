"""Customer value in the customer list: columns, filters and one-click preset views.

The customer list (customers.columns / customers.filters) takes these in, so a
value chip, a saved view with ``?tier=A`` and a dashboard click-through all mean
the same thing. Filtering is delegated to selectors.apply_value_filters (one rule
for the list, the API and presets); this module only adapts it to the list's
FilterSpec shape.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.filters import FilterSpec
from valuecrm.insights.models import Segment, Stage, Tier
from valuecrm.insights.selectors import PRESETS, apply_value_filters, presets
from valuecrm.insights.templatetags.insights_value import money, pct, risk_level

# ----------------------------------------------------------------------------- columns
_STAGES = dict(Stage.choices)
_SEGMENTS = dict(Segment.choices)


def _money(value) -> str:
    return "" if value is None else f"{Decimal(value):.2f}"


def _share(value) -> str:
    return "" if value is None else f"{float(value):.4f}"


# (key, label, values() fields, CSV text of a row dict, list sort key)
VALUE_COLUMN_SPECS = (
    ("clv", gettext_lazy("CLV"), ("value__clv",), lambda r: _money(r["value__clv"]), "clv"),
    ("p_alive", gettext_lazy("P(alive)"), ("value__p_alive",), lambda r: _share(r["value__p_alive"]), None),
    ("churn_risk", gettext_lazy("Churn risk"), ("value__churn_risk",),
     lambda r: _share(r["value__churn_risk"]), "churn_risk"),
    ("value_at_risk", gettext_lazy("Value at risk"), ("value__value_at_risk",),
     lambda r: _money(r["value__value_at_risk"]), "value_at_risk"),
    ("tier", gettext_lazy("Value tier"), ("value__tier",), lambda r: r["value__tier"] or "", None),
    ("stage", gettext_lazy("Lifecycle stage"), ("value__stage",),
     lambda r: str(_STAGES.get(r["value__stage"], "")) if r["value__stage"] else "", None),
    ("segment", gettext_lazy("RFM segment"), ("value__segment",),
     lambda r: str(_SEGMENTS.get(r["value__segment"], "")) if r["value__segment"] else "", None),
)

# Sorts the list offers for value columns (highest first is what people want).
VALUE_SORT_CHOICES = (
    ("-clv", gettext_lazy("CLV (highest)")),
    ("-value_at_risk", gettext_lazy("Value at risk (highest)")),
    ("-churn_risk", gettext_lazy("Churn risk (highest)")),
)
DESCENDING_FIRST = {"clv", "value_at_risk", "churn_risk"}
# Shown by default: the value presets ("high value at risk") are defined by these numbers,
# so a list that hides them cannot show why a customer is in the view.
DEFAULT_VALUE_COLUMNS = {"clv", "churn_risk", "tier", "stage"}


# ----------------------------------------------------------------------------- filters
def _delegated(key: str):
    """parse/to_q for a key apply_value_filters understands (errors become the list's ValueError)."""
    from valuecrm.customers.models import Customer

    def parse(raw: str, user) -> str:
        try:
            apply_value_filters(Customer.objects.none(), {key: raw.strip()})
        except ValidationFailed as exc:
            raise ValueError(" ".join(exc.errors.get(key, [exc.detail]))) from None
        return raw.strip()

    def to_q(value: str) -> Q:
        # A subquery keeps the outer query's visibility and search joins untouched.
        return Q(pk__in=apply_value_filters(Customer.objects.all(), {key: value}).values("pk"))

    return parse, to_q


def _choices_display(choices):
    labels = dict(choices)
    return lambda value: ", ".join(str(labels.get(v, v)) for v in value.split(","))


def _date(raw: str, user) -> dt.date:
    value = parse_date(raw.strip()) if raw.strip() else None
    if value is None:
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    return value


def _spec(key, label, widget, display=str, choices=None):
    parse, to_q = _delegated(key)
    return FilterSpec(key, label, widget, parse, to_q, display, choices)


def value_filter_specs() -> list[FilterSpec]:
    tier_choices = [(t, t) for t in Tier.values]
    stage_choices = [(s.value, str(s.label)) for s in Stage]
    segment_choices = [(s.value, str(s.label)) for s in Segment if s.value]
    preset_labels = {k: v["label"] for k, v in PRESETS.items()}
    return [
        _spec("preset", gettext_lazy("Value view"), "select", lambda v: str(preset_labels.get(v, v)),
              lambda user: [(k, str(v)) for k, v in preset_labels.items()]),
        _spec("tier", gettext_lazy("Value tier"), "select", _choices_display(tier_choices),
              lambda user: tier_choices),
        _spec("stage", gettext_lazy("Lifecycle stage"), "select", _choices_display(stage_choices),
              lambda user: stage_choices),
        _spec("segment", gettext_lazy("RFM segment"), "select", _choices_display(segment_choices),
              lambda user: segment_choices),
        _spec("r_score", gettext_lazy("RFM recency score (R)"), "select", str,
              lambda user: [(str(i), str(i)) for i in range(5, 0, -1)]),
        _spec("f_score", gettext_lazy("RFM frequency score (F)"), "select", str,
              lambda user: [(str(i), str(i)) for i in range(5, 0, -1)]),
        _spec("clv_min", gettext_lazy("CLV at least"), "number"),
        _spec("clv_max", gettext_lazy("CLV at most"), "number"),
        _spec("p_alive_min", gettext_lazy("P(alive) at least (0–1)"), "number"),
        _spec("p_alive_max", gettext_lazy("P(alive) at most (0–1)"), "number"),
        _spec("churn_risk_min", gettext_lazy("Churn risk at least (0–1)"), "number"),
        _spec("churn_risk_max", gettext_lazy("Churn risk at most (0–1)"), "number"),
        _spec("value_at_risk_min", gettext_lazy("Value at risk at least"), "number"),
        _spec("stage_since_after", gettext_lazy("In stage since"), "date"),
        FilterSpec("first_order_from", gettext_lazy("First order from"), "date", _date,
                   lambda v: Q(value__first_order_on__gte=v), lambda v: v.isoformat()),
        FilterSpec("first_order_to", gettext_lazy("First order until"), "date", _date,
                   lambda v: Q(value__first_order_on__lte=v), lambda v: v.isoformat()),
        FilterSpec("last_order_from", gettext_lazy("Last order from"), "date", _date,
                   lambda v: Q(value__last_order_on__gte=v), lambda v: v.isoformat()),
    ]


# ----------------------------------------------------------------------------- presets
def preset_links() -> list[dict]:
    """One-click links of the shared value views ("high value at risk", "champions", …)."""
    base = reverse("customer-list")
    return [{"key": p["key"], "label": p["label"], "url": f"{base}?{urlencode({'preset': p['key'], 'sort': p['sort']})}"}
            for p in presets()]


# ----------------------------------------------------------------------------- cells
_DASH = mark_safe('<span class="text-body-tertiary">—</span>')  # noqa: S308 - constant markup
_TIER_BADGES = {"A": "primary", "B": "info"}


def _risk_cell(v) -> SafeString:
    risk = risk_level(v.churn_risk) if v is not None else None
    if risk is None:
        return _DASH
    return format_html(
        '<span class="vc-risk-dot bg-{}" style="display:inline-block;width:.6rem;height:.6rem;'
        'border-radius:50%" aria-hidden="true"></span> {} <span class="small text-body-secondary">{}</span>',
        risk["colour"], risk["label"], pct(v.churn_risk))


# key → (td class, inner HTML of a CustomerValue or None). The customer list builds its
# rows in Python (customers.list_rows): this is the value part of each row.
VALUE_CELLS = {
    "clv": ("text-end text-nowrap", lambda v: money(v.clv) if v is not None else _DASH),
    "p_alive": ("text-end text-nowrap",
                lambda v: pct(v.p_alive) if v is not None and v.p_alive is not None else _DASH),
    "churn_risk": ("text-nowrap", _risk_cell),
    "value_at_risk": ("text-end text-nowrap", lambda v: money(v.value_at_risk) if v is not None else _DASH),
    "tier": ("", lambda v: format_html('<a class="badge text-decoration-none text-bg-{}" href="?tier={}">{}</a>',
                                       _TIER_BADGES.get(v.tier, "secondary"), v.tier, v.tier)
             if v is not None else _DASH),
    "stage": ("text-nowrap", lambda v: v.get_stage_display() if v is not None else _DASH),
    "segment": ("text-nowrap", lambda v: v.get_segment_display() if v is not None and v.segment else _DASH),
}


def _value(customer):
    try:
        return customer.value  # select_related: no query, None-like when never scored
    except ObjectDoesNotExist:
        return None


def register() -> None:
    """Put customer value into the customer list (called from InsightsConfig.ready)."""
    from valuecrm.customers.extensions import ListColumn, SortChoice, registry

    for key, label, fields, text, sort in VALUE_COLUMN_SPECS:
        css, inner = VALUE_CELLS[key]
        registry.add_column(ListColumn(
            key, label, fields, text, sort=sort, default=key in DEFAULT_VALUE_COLUMNS,
            descending_first=key in DESCENDING_FIRST,
            cell=(css, lambda customer, inner=inner: inner(_value(customer)))))
    registry.add_filters(value_filter_specs)
    for key, label in VALUE_SORT_CHOICES:
        registry.add_sort_choice(SortChoice(key, label))
    registry.add_preset_links(preset_links)
