"""Reads of orders and products.

An order is visible exactly when its customer is (customers.visibility), so the
same rule covers pages, the API and exports. Order pages are keyset pages over
(placed_at, id), newest first: the cursor is the last row's key, opaque to callers.
"""

import base64
import binascii
import json
from datetime import date, datetime, time, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.orders.models import Order, OrderLine, OrderStatus, Product

MAX_LIMIT = 200


def visible_orders(user) -> QuerySet:
    return Order.objects.visible_to(user)


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(_("Invalid cursor"), errors={"cursor": [_("This page link is not valid.")]})


def _encode(payload) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise _bad_cursor() from None


def _check_limit(limit) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(_("Invalid limit"), errors={
            "limit": [_("Enter a whole number from 1 to %(n)d.") % {"n": MAX_LIMIT}]
        })


def _moment(value, *, end_of_day: bool = False):
    """Dates mean local midnight (the day after, for an inclusive upper bound)."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    day = value + timedelta(days=1) if end_of_day else value
    return timezone.make_aware(datetime.combine(day, time.min))


def order_list(
    *, user, customer_id: int | None = None, status: str | None = None,
    placed_after: date | datetime | None = None, placed_before: date | datetime | None = None,
    after: str | None = None, limit: int = 50,
) -> tuple[list[Order], str | None]:
    """One page of the user's visible orders, newest first, and the next page's cursor."""
    _check_limit(limit)
    qs = visible_orders(user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        if status not in OrderStatus.values:
            raise ValidationFailed(_("Invalid filter"), errors={"status": [_("Not a valid choice.")]})
        qs = qs.filter(status=status)
    if placed_after is not None:
        qs = qs.filter(placed_at__gte=_moment(placed_after))
    if placed_before is not None:
        # A bare date is inclusive: "before 2024-05-31" includes that whole day.
        if isinstance(placed_before, datetime):
            qs = qs.filter(placed_at__lt=_moment(placed_before))
        else:
            qs = qs.filter(placed_at__lt=_moment(placed_before, end_of_day=True))
    if after:
        payload = _decode(after)
        if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], str)
                and isinstance(payload[1], int) and not isinstance(payload[1], bool)):
            raise _bad_cursor()
        try:
            placed = parse_datetime(payload[0])
        except ValueError:
            placed = None
        if placed is None:
            raise _bad_cursor()
        # "placed_at <= X AND (placed_at < X OR id < Y)" rather than "placed_at < X OR (…)": the
        # bare OR makes SQLite walk the placed_at index over every older order and test each
        # one's customer, 1.5 s per page for a rep at 100k orders (bench/ops_pages.py); this
        # form keeps the (customer, placed_at) index for scoped users, the same rows either way.
        qs = qs.filter(Q(placed_at__lte=placed) & (Q(placed_at__lt=placed) | Q(id__lt=payload[1])))
    rows = list(
        qs.select_related("customer")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
        .order_by("-placed_at", "-id")[: limit + 1]
    )
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return rows, _encode([last.placed_at.isoformat(), last.pk])
    return rows, None


def order_get(*, user, pk) -> Order:
    """One visible order with its lines; NotFound if missing or not visible (same answer)."""
    order = (
        visible_orders(user).select_related("customer").prefetch_related("lines")
        .filter(pk=pk).first()
    )
    if order is None:
        raise NotFound(_("Order not found."))
    return order


def product_list(
    *, search: str = "", active: bool | None = None, category: str = "",
    after: str | None = None, limit: int = 50,
) -> tuple[list[Product], str | None]:
    """One page of the catalogue, by SKU. The catalogue is not per-customer, so every
    signed-in user may read it."""
    _check_limit(limit)
    qs = Product.objects.all()
    if search:
        qs = qs.filter(Q(sku__icontains=search) | Q(name__icontains=search))
    if active is not None:
        qs = qs.filter(active=active)
    if category:
        qs = qs.filter(category=category)
    if after:
        payload = _decode(after)
        if not (isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], str)):
            raise _bad_cursor()
        qs = qs.filter(sku__gt=payload[0])
    rows = list(qs.order_by("sku")[: limit + 1])
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, _encode([rows[-1].sku])
    return rows, None


def product_get(*, pk) -> Product:
    product = Product.objects.filter(pk=pk).first()
    if product is None:
        raise NotFound(_("Product not found."))
    return product
