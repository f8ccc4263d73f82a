"""What orders add to the customer pages: timeline entries, change history, the
order facts in the 360 header and the "has orders" list filter (customers.extensions)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Exists, Max, OuterRef, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class OrderStats:
    count: int
    revenue: Decimal
    last_order_at: datetime | None


def customer_order_stats(customer) -> OrderStats:
    """Paid and fulfilled orders only: a cancelled or refunded order is not revenue."""
    from valuecrm.orders.models import REVENUE_STATUSES, Order

    row = Order.objects.filter(customer=customer).aggregate(
        count=Count("id", filter=Q(status__in=REVENUE_STATUSES)),
        revenue=Sum("total_amount", filter=Q(status__in=REVENUE_STATUSES)),
        last=Max("placed_at", filter=Q(status__in=REVENUE_STATUSES)),
    )
    return OrderStats(row["count"] or 0, row["revenue"] or Decimal("0"), row["last"])


def _timeline_orders(customer, page):
    from valuecrm.orders.models import Order

    return [(o.placed_at, o) for o in page(Order.objects.filter(customer=customer), "placed_at")]


def _has_orders_q(value: bool) -> Q:
    from valuecrm.orders.models import Order

    exists = Exists(Order.objects.filter(customer_id=OuterRef("pk")))
    return Q(exists) if value else ~Q(exists)


def _filters():
    from valuecrm.customers.filters import boolean_filter

    return [boolean_filter("has_orders", gettext_lazy("Has orders"), _has_orders_q)]


def register() -> None:
    from valuecrm.customers.extensions import (
        HistorySource,
        PaletteEntry,
        ProfileFact,
        TimelineSource,
        registry,
    )
    from valuecrm.orders.models import Order

    registry.add_timeline_source(TimelineSource(
        "order", "bag", rank=3, fetch=_timeline_orders, label=gettext_lazy("Orders"),
        template="orders/_timeline_order.html"))
    registry.add_history_source(HistorySource(
        Order, rows=lambda customer: Order.history.filter(customer_id=customer.pk),
        subject=lambda row: _("Order %(number)s") % {"number": row.external_id}))
    registry.add_profile_fact(ProfileFact("orders", customer_order_stats))
    registry.add_filters(_filters)
    # Ctrl+K: the order and product pages (every signed-in user may read them).
    registry.add_palette_entry(PaletteEntry(
        "order-list", gettext_lazy("Orders"), "bag", keywords="orders sales purchases refunds"))
    registry.add_palette_entry(PaletteEntry(
        "order-create", gettext_lazy("New order"), "bag-plus", keywords="new order record sale",
        allowed=lambda user: user.can("orders.change")))
    registry.add_palette_entry(PaletteEntry(
        "product-list", gettext_lazy("Products"), "box-seam", keywords="products catalogue catalog sku categories"))
