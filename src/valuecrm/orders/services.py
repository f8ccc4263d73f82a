"""Writes on products and orders.

Orders are ingested idempotently on (source, external_id): a shop or ERP that
re-sends an order gets the stored one back unchanged instead of a duplicate.
Totals are computed from the lines when there are lines, so the order row can be
summed directly by the value engine.
"""

import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.datetimes import parse_aware_datetime
from valuecrm.common.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
    validation_failed_from_django,
)
from valuecrm.common.money import quantize
from valuecrm.customers.visibility import can_see_customer, visible_customers
from valuecrm.orders.models import Order, OrderLine, OrderStatus, Product

PRODUCT_FIELDS = ("sku", "name", "category", "price", "unit_cost", "currency", "active")
ORDER_FIELDS = ("customer_id", "source", "external_id", "channel", "status", "placed_at",
                "currency", "total_amount", "total_cost", "lines")
LINE_FIELDS = ("product_id", "sku", "name", "quantity", "unit_price", "unit_cost")

# Which status an order may move to from each status. Cancelled and refunded are final:
# reopening them would silently put revenue back into value models.
STATUS_TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.FULFILLED, OrderStatus.CANCELLED, OrderStatus.REFUNDED},
    OrderStatus.FULFILLED: {OrderStatus.REFUNDED},
    OrderStatus.CANCELLED: set(),
    OrderStatus.REFUNDED: set(),
}


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


def _merge(errors: dict, exc: ValidationError, prefix: str = "") -> None:
    for key, msgs in validation_failed_from_django(exc).errors.items():
        key = {"customer": "customer_id", "product": "product_id"}.get(key, key)
        errors.setdefault(f"{prefix}{key}", []).extend(msgs)


def _check_text(errors: dict, key: str, value) -> None:
    if isinstance(value, str) and "\x00" in value:
        errors.setdefault(key, []).append(_("Null characters are not allowed."))


def _decimal(value, key: str, errors: dict, *, default=None, minimum=Decimal("0")):
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        errors.setdefault(key, []).append(_("Enter a number."))
        return default
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(key, []).append(_("Enter a number."))
        return default
    if not number.is_finite():
        errors.setdefault(key, []).append(_("Enter a number."))
        return default
    if minimum is not None and number < minimum:
        errors.setdefault(key, []).append(
            _("Ensure this value is greater than or equal to %(n)s.") % {"n": minimum}
        )
        return default
    return number


def _currency(value, key: str, errors: dict) -> str:
    if value is None or value == "":
        return settings.VALUECRM_CURRENCY
    code = str(value).strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        errors.setdefault(key, []).append(_("Enter a three-letter ISO 4217 currency code."))
    return code


def _save(instance, actor) -> None:
    instance._history_user = actor
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise Conflict(_("This change conflicts with an existing record.")) from exc


# ---------------------------------------------------------------- products

def _require_catalogue_manager(actor) -> None:
    require(actor, Capability.CATALOGUE_CHANGE, _("Only managers can change the product catalogue."))


def _apply_product_data(product: Product, data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        if key not in PRODUCT_FIELDS:
            errors.setdefault(key, []).append(_("Unknown field."))
            continue
        _check_text(errors, key, value)
        if key in ("price", "unit_cost"):
            value = _decimal(value, key, errors, default=Decimal("0"))
        elif key == "currency":
            value = _currency(value, key, errors)
        elif key == "category" and value is None:
            value = ""
        elif isinstance(value, str):
            value = value.strip()
        setattr(product, key, value)
    try:
        product.full_clean(exclude=list(errors), validate_unique=False)
    except ValidationError as exc:
        _merge(errors, exc)
    if product.sku and "sku" not in errors:
        clash = Product.objects.filter(sku=product.sku)
        if product.pk:
            clash = clash.exclude(pk=product.pk)
        if clash.exists():
            errors.setdefault("sku", []).append(_("A product with this SKU already exists."))
    return errors


@transaction.atomic
def product_create(*, actor, data: dict) -> Product:
    _require_catalogue_manager(actor)
    product = Product()
    _raise_if(_apply_product_data(product, dict(data)))
    _save(product, actor)
    events.emit(events.ProductChanged(product_id=product.pk, action="created"), actor=actor)
    return product


@transaction.atomic
def product_update(*, actor, product: Product, data: dict) -> Product:
    _require_catalogue_manager(actor)
    fresh = Product.objects.get(pk=product.pk)
    _raise_if(_apply_product_data(fresh, dict(data)))
    _save(fresh, actor)
    events.emit(events.ProductChanged(product_id=fresh.pk, action="updated"), actor=actor)
    return fresh


@transaction.atomic
def product_delete(*, actor, product: Product) -> None:
    """Order lines keep their SKU, name and prices, so deleting a product loses no revenue."""
    _require_catalogue_manager(actor)
    events.emit(events.ProductChanged(product_id=product.pk, action="deleted"), actor=actor)
    product.delete()


# ---------------------------------------------------------------- orders

def _build_lines(raw_lines, errors: dict) -> list[OrderLine]:
    if not isinstance(raw_lines, list | tuple):
        errors.setdefault("lines", []).append(_("Expected a list of order lines."))
        return []
    lines = []
    for index, raw in enumerate(raw_lines):
        prefix = f"lines.{index}."
        if not isinstance(raw, dict):
            errors.setdefault(f"lines.{index}", []).append(_("Expected an object."))
            continue
        for key in raw:
            if key not in LINE_FIELDS:
                errors.setdefault(prefix + key, []).append(_("Unknown field."))
        for key in ("sku", "name"):
            _check_text(errors, prefix + key, raw.get(key))
        product = None
        if raw.get("product_id") not in (None, ""):
            try:
                product = Product.objects.filter(pk=raw["product_id"]).first()
            except (TypeError, ValueError, OverflowError):
                product = None
            if product is None:
                errors.setdefault(prefix + "product_id", []).append(_("Unknown product."))
                continue
        elif isinstance(raw.get("sku"), str) and raw["sku"].strip():
            product = Product.objects.filter(sku=raw["sku"].strip()).first()
        quantity = _decimal(raw.get("quantity"), prefix + "quantity", errors, default=Decimal("1"))
        if quantity is not None and quantity <= 0 and prefix + "quantity" not in errors:
            errors.setdefault(prefix + "quantity", []).append(_("Quantity must be positive."))
        unit_price = _decimal(raw.get("unit_price"), prefix + "unit_price", errors,
                              default=product.price if product else None)
        unit_cost = _decimal(raw.get("unit_cost"), prefix + "unit_cost", errors,
                             default=product.unit_cost if product else Decimal("0"))
        if unit_price is None and prefix + "unit_price" not in errors:
            errors.setdefault(prefix + "unit_price", []).append(
                _("Give a unit price or a known product.")
            )
        sku = raw.get("sku") or (product.sku if product else "")
        name = raw.get("name") or (product.name if product else "")
        line = OrderLine(
            product=product, sku=sku.strip() if isinstance(sku, str) else sku,
            name=name.strip() if isinstance(name, str) else name,
            quantity=quantity, unit_price=unit_price, unit_cost=unit_cost,
        )
        try:
            line.full_clean(exclude=["order", "product"])
        except ValidationError as exc:
            _merge(errors, exc, prefix)
        lines.append(line)
    return lines


def _existing_order(actor, source: str, external_id: str) -> Order | None:
    existing = Order.objects.filter(source=source, external_id=external_id).first()
    if existing is None:
        return None
    if not can_see_customer(actor, existing.customer):
        # Do not reveal whose order it is, only that the key is taken.
        raise Conflict(
            _("An order with this source and external id already exists."),
            errors={"external_id": [_("An order with this source and external id already exists.")]},
        )
    return existing


def order_create(*, actor, data: dict) -> tuple[Order, bool]:
    """Create an order, or return the existing one with the same (source, external_id).

    Returns (order, created). Lines are [{product_id or sku, name, quantity,
    unit_price, unit_cost}]; with lines the totals are their sums, without lines
    total_amount/total_cost are taken as given.
    """
    require(actor, Capability.ORDERS_CHANGE)
    data = dict(data)
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in ORDER_FIELDS:
            errors.setdefault(key, []).append(_("Unknown field."))
    for key in ("source", "external_id", "channel", "status", "currency"):
        _check_text(errors, key, data.get(key))

    source = data.get("source")
    source = source.strip() if isinstance(source, str) and source.strip() else "manual"
    external_id = data.get("external_id")
    external_id = external_id.strip() if isinstance(external_id, str) else ""
    if external_id and not errors:
        existing = _existing_order(actor, source, external_id)
        if existing is not None:
            return existing, False
    if not external_id:
        # Orders typed in by hand have no shop id; give them a unique one of our own.
        external_id = uuid.uuid4().hex[:16]

    customer = None
    customer_id = data.get("customer_id")
    if customer_id in (None, ""):
        errors.setdefault("customer_id", []).append(_("This field is required."))
    else:
        try:
            customer = visible_customers(actor).filter(pk=customer_id).first()
        except (TypeError, ValueError, OverflowError):
            customer = None
        if customer is None:
            errors.setdefault("customer_id", []).append(_("Unknown customer."))

    order = Order(customer=customer, source=source, external_id=external_id, created_by=actor)
    if data.get("channel") not in (None, ""):
        order.channel = data["channel"]
    if data.get("status") not in (None, ""):
        order.status = data["status"]
    placed_at = parse_aware_datetime(data.get("placed_at"), "placed_at", errors)
    if placed_at is not None:
        order.placed_at = placed_at
    order.currency = _currency(data.get("currency"), "currency", errors)

    lines = _build_lines(data["lines"], errors) if data.get("lines") else []
    if lines:
        if not any(k.startswith("lines.") for k in errors):
            order.total_amount = quantize(sum(ln.quantity * ln.unit_price for ln in lines))
            order.total_cost = quantize(sum(ln.quantity * ln.unit_cost for ln in lines))
    else:
        order.total_amount = _decimal(data.get("total_amount"), "total_amount", errors,
                                      default=Decimal("0"))
        order.total_cost = _decimal(data.get("total_cost"), "total_cost", errors,
                                    default=Decimal("0"))
    try:
        order.full_clean(exclude=["customer", *errors], validate_constraints=False)
    except ValidationError as exc:
        _merge(errors, exc)
    _raise_if(errors)

    try:
        with transaction.atomic():
            _save_order(order, lines, actor)
    except Conflict:
        # A concurrent request with the same key won the race: answer as a repeat.
        existing = _existing_order(actor, source, external_id)
        if existing is None:
            raise
        return existing, False
    events.emit(events.OrderCreated(customer_id=order.customer_id, order_id=order.pk,
                                    status=order.status, total=str(order.total_amount)), actor=actor)
    return order, True


def _save_order(order: Order, lines: list[OrderLine], actor) -> None:
    order._history_user = actor
    try:
        order.save()
        for line in lines:
            line.order = order
        OrderLine.objects.bulk_create(lines)
    except IntegrityError as exc:
        raise Conflict(_("An order with this source and external id already exists.")) from exc


@transaction.atomic
def order_update_status(*, actor, order: Order, status: str) -> Order:
    if not can_see_customer(actor, order.customer):
        raise NotFound(_("Order not found."))
    require(actor, Capability.ORDERS_CHANGE)
    if status not in OrderStatus.values:
        raise ValidationFailed(_("Validation failed"), errors={"status": [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(OrderStatus.values)}
        ]})
    fresh = Order.objects.select_for_update().get(pk=order.pk)
    if fresh.status == status:
        return fresh
    if status not in STATUS_TRANSITIONS[OrderStatus(fresh.status)]:
        raise ValidationFailed(_("Validation failed"), errors={"status": [
            _("An order cannot go from %(old)s to %(new)s.") % {"old": fresh.status, "new": status}
        ]})
    from_status = fresh.status
    fresh.status = status
    _save(fresh, actor)
    events.emit(events.OrderStatusChanged(customer_id=fresh.customer_id, order_id=fresh.pk,
                                          from_status=from_status, to_status=status), actor=actor)
    return fresh
