"""Template helpers for value pages: money and percentages in the reader's locale, churn-risk
levels, and the value card that any page (the customer 360 page) can drop in."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.conf import settings
from django.utils import formats, numberformat
from django.utils.translation import gettext_lazy as _

from valuecrm.common.errors import NotFound
from valuecrm.insights.dashboard import can_run_scoring
from valuecrm.insights.selectors import customer_value, last_run

register = template.Library()

CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}
# Churn-risk bands shown as colour + word; the numbers are the share likely to stop buying.
RISK_LEVELS = ((0.3, "low", _("Low"), "success"), (0.6, "medium", _("Medium"), "warning"),
               (1.01, "high", _("High"), "danger"))


def _grouped(value, places: int) -> str:
    # Some locales (zh-Hans in Django) define no digit grouping; money and counts in a
    # CRM read badly without it, so group by thousands with the locale's separators
    # and fall back to "," where the locale has none.
    # numberformat cuts extra decimals off (¥1,234.99 → ¥1,234); round half up instead.
    value = Decimal(str(value))
    if not value.is_finite():
        return "—"
    if value.adjusted() >= 15:
        # Beyond what money or counts reach: a model parameter run to its boundary
        # (e.g. Gamma-Gamma's p → ∞). Quantizing would overflow the context.
        return f"{value:.3g}"
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return numberformat.format(
        value, formats.get_format("DECIMAL_SEPARATOR"), decimal_pos=places, grouping=3,
        thousand_sep=formats.get_format("THOUSAND_SEPARATOR") or ",", force_grouping=True,
    )


def _money(value, currency: str, places: int) -> str:
    if value in (None, ""):
        return "—"
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    number = _grouped(Decimal(str(value)), int(places))
    if number.startswith("-"):
        return f"-{symbol}{number[1:]}"
    return f"{symbol}{number}"


@register.filter
def money(value, places: int = 0):
    """¥12,345 in the default currency (grouping and decimal mark follow the active locale)."""
    return _money(value, settings.VALUECRM_CURRENCY, places)


@register.filter
def money_in(value, currency: str):
    """An amount in its own currency, to the cent: an order's total (US$1,234.50)."""
    return _money(value, currency or settings.VALUECRM_CURRENCY, 2)


@register.filter
def pct(value, places: int = 0):
    if value in (None, ""):
        return "—"
    return _grouped(100 * float(value), int(places)) + "%"


@register.filter
def grouped(value, places: int = 0):
    if value in (None, ""):
        return "—"
    return _grouped(value, int(places))


def risk_level(churn_risk) -> dict | None:
    if churn_risk in (None, ""):  # "": an unscored customer's missing value in a template
        return None
    for upper, code, label, colour in RISK_LEVELS:
        if churn_risk < upper:
            return {"code": code, "label": str(label), "colour": colour}
    return None


@register.filter(name="risk_level")
def risk_level_filter(churn_risk):
    return risk_level(churn_risk)


@register.inclusion_tag("insights/_value_card.html", takes_context=True)
def value_card(context, customer):
    """The customer's value card (CLV, P(alive), stage path, tier, RFM, risk, why, next step)."""
    request = context["request"]
    try:
        value = customer_value(request.user, customer.pk)
    except NotFound:
        value = {"current": None, "history": [], "stage_path": [], "alerts": []}
    current = value["current"]
    return {
        "request": request,
        "customer": customer,
        "value": value,
        "current": current,
        "risk": risk_level(current["churn_risk"]) if current else None,
        "open_alerts": [a for a in value["alerts"] if a["resolved_at"] is None],
        "sparkline": [{"x": p["as_of"].isoformat(), "y": float(p["clv"])} for p in value["history"]],
        "can_run_scoring": can_run_scoring(request.user),
        "last_run": last_run() if current is None else None,
        "csrf_token": context.get("csrf_token"),
        "default_currency": settings.VALUECRM_CURRENCY,
    }
