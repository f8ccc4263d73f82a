"""What deals add to the customer pages: the deals panel with the 公海 countdown, deals on
the timeline and in the history, palette entries and the weighted-pipeline KPI card."""

from django.db.models import F, FloatField, Sum
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


def _panel_context(request, customer):
    from valuecrm.deals.models import Deal, PoolMove
    from valuecrm.deals.pool import countdown_for

    user = request.user
    return {
        "deals": list(Deal.objects.visible_to(user).filter(customer=customer).select_related("stage", "owner")
                      .order_by("-opened_at")[:10]),
        "countdown": countdown_for(customer),
        "pool_moves": list(PoolMove.objects.filter(customer=customer).select_related("user")[:5]),
        "can_work": user.can("deals.change"),
        "in_pool": customer.owner_id is None,
        "customer": customer,
    }


def _timeline_deals(customer, page):
    from valuecrm.deals.models import Deal

    return [(d.opened_at, d) for d in page(Deal.objects.filter(customer=customer).select_related("stage"),
                                           "opened_at")]


def _weighted_pipeline_card(user, start, end):
    from valuecrm.deals.models import Deal, DealStatus
    from valuecrm.deals.selectors import EFFECTIVE_P

    if not user.can("deals.change") and user.scope == "own":
        return None
    value = Deal.objects.visible_to(user).filter(
        status=DealStatus.OPEN, expected_close_date__gte=start, expected_close_date__lte=end).aggregate(
        v=Sum(F("amount") * EFFECTIVE_P, output_field=FloatField()))["v"] or 0
    return {"value": round(value, 2), "kind": "money", "url": reverse("deal-list") + "?status=open",
            "help": _("Open deals expected to close in the period, amount × win probability.")}


def register() -> None:
    from valuecrm.customers.extensions import (
        HistorySource,
        KpiCard,
        PaletteEntry,
        Panel,
        TimelineSource,
        registry,
    )
    from valuecrm.deals.models import Deal

    registry.add_panel(Panel("deals", "deals/_customer_panel.html", _panel_context, order=40))
    registry.add_timeline_source(TimelineSource(
        "deal", "kanban", rank=4, fetch=_timeline_deals, label=gettext_lazy("Deals"),
        template="deals/_timeline_deal.html"))
    registry.add_history_source(HistorySource(
        Deal, rows=lambda customer: Deal.history.filter(customer_id=customer.pk),
        subject=lambda row: _("Deal %(name)s") % {"name": row.name}))
    registry.add_kpi_card(KpiCard("weighted_pipeline", gettext_lazy("Weighted pipeline"),
                                  _weighted_pipeline_card, order=60))
    for url_name, label, icon, keywords in (
        ("deal-board", gettext_lazy("Deals board"), "kanban", "deals pipeline kanban 商机"),
        ("deal-list", gettext_lazy("Deals list"), "list-ul", "deals list export"),
        ("deal-forecast", gettext_lazy("Sales forecast"), "graph-up-arrow", "forecast quota 预测"),
        ("deal-dashboard", gettext_lazy("Sales dashboard"), "speedometer2", "win rate kpi cycle funnel"),
        ("pool", gettext_lazy("Shared pool (公海)"), "water", "pool claim 公海"),
    ):
        registry.add_palette_entry(PaletteEntry(url_name, label, icon, keywords=keywords,
                                                allowed=lambda user: user.is_authenticated))
