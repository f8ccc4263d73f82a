"""Sales write services: products, idempotent orders, totals, status transitions."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.services import customer_create
from valuecrm.orders.models import Order, OrderLine, Product
from valuecrm.orders.services import (
    order_create,
    order_update_status,
    product_create,
    product_delete,
    product_update,
)


@pytest.fixture
def customer(rep_north):
    return customer_create(actor=rep_north, data={"name": "Wang Fang"})


@pytest.fixture
def tea(admin_user):
    return product_create(actor=admin_user, data={"sku": " TEA-1 ", "name": "Tea",
                                                   "price": "88", "unit_cost": "30.5"})


def test_product_create_update_delete(admin_user, tea):
    assert (tea.sku, tea.price, tea.currency) == ("TEA-1", Decimal("88"), "CNY")
    updated = product_update(actor=admin_user, product=tea, data={"price": "90.00",
                                                                  "currency": "usd"})
    assert (updated.price, updated.currency) == (Decimal("90.00"), "USD")
    product_delete(actor=admin_user, product=updated)
    assert Product.objects.count() == 0


def test_product_rules(admin_user, rep_north, tea):
    with pytest.raises(PermissionDenied):
        product_create(actor=rep_north, data={"sku": "X", "name": "X"})
    with pytest.raises(ValidationFailed) as exc:
        product_create(actor=admin_user, data={"sku": "TEA-1", "name": "", "price": "-1",
                                               "colour": "red"})
    assert set(exc.value.errors) == {"sku", "name", "price", "colour"}
    assert Product.objects.count() == 1


def test_order_from_lines_uses_product_defaults_and_local_time(rep_north, customer, tea):
    order, created = order_create(actor=rep_north, data={
        "customer_id": customer.pk, "source": "shop", "external_id": "A-1",
        "placed_at": "2024-02-10 08:00:00",
        "lines": [{"sku": "TEA-1", "quantity": "3"}, {"name": "Box", "quantity": "1.5", "unit_price": "2.55"}],
    })

    assert created is True
    assert order.total_amount == Decimal("267.83")  # 3 × 88 + 1.5 × 2.55, rounded half up
    assert order.total_cost == Decimal("91.50")
    assert order.placed_at == datetime(2024, 2, 10, 8, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert order.currency == "CNY"
    assert order.created_by == rep_north
    lines = list(order.lines.values_list("product__sku", "name", "quantity"))
    assert lines == [("TEA-1", "Tea", Decimal("3.000")), (None, "Box", Decimal("1.500"))]


def test_order_without_lines_takes_given_totals(rep_north, customer):
    order, _ = order_create(actor=rep_north, data={"customer_id": customer.pk,
                                                   "total_amount": "120.5", "total_cost": "80"})
    assert (order.total_amount, order.total_cost) == (Decimal("120.50"), Decimal("80.00"))
    assert order.source == "manual"
    assert len(order.external_id) == 16  # a generated key, so manual orders never collide


def test_order_create_is_idempotent(rep_north, customer):
    data = {"customer_id": customer.pk, "source": "erp", "external_id": "E-7",
            "total_amount": "10"}
    first, created = order_create(actor=rep_north, data=data)
    again, created_again = order_create(actor=rep_north, data={**data, "total_amount": "999"})

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert again.total_amount == Decimal("10.00")
    assert Order.objects.count() == 1


def test_order_for_invisible_customer_is_refused(rep_south, customer):
    with pytest.raises(ValidationFailed) as exc:
        order_create(actor=rep_south, data={"customer_id": customer.pk})
    assert exc.value.errors == {"customer_id": ["Unknown customer."]}


def test_order_key_taken_by_an_invisible_order_is_a_conflict(rep_north, rep_south, customer):
    south = customer_create(actor=rep_south, data={"name": "South"})
    order_create(actor=rep_north, data={"customer_id": customer.pk, "external_id": "K"})
    with pytest.raises(Conflict):
        order_create(actor=rep_south, data={"customer_id": south.pk, "external_id": "K"})


def test_bad_lines_write_nothing(rep_north, customer):
    with pytest.raises(ValidationFailed) as exc:
        order_create(actor=rep_north, data={"customer_id": customer.pk, "lines": [
            {"name": "ok", "unit_price": "1"},
            {"name": "bad", "quantity": "-2", "unit_price": "x", "colour": "red"},
        ]})
    assert set(exc.value.errors) == {"lines.1.quantity", "lines.1.unit_price", "lines.1.colour"}
    assert (Order.objects.count(), OrderLine.objects.count()) == (0, 0)


def test_status_transitions(rep_north, rep_south, customer):
    order, _ = order_create(actor=rep_north, data={"customer_id": customer.pk,
                                                   "status": "pending"})
    with pytest.raises(NotFound):
        order_update_status(actor=rep_south, order=order, status="cancelled")

    assert order_update_status(actor=rep_north, order=order, status="cancelled").status == "cancelled"
    with pytest.raises(ValidationFailed) as exc:
        order_update_status(actor=rep_north, order=order, status="paid")
    assert list(exc.value.errors) == ["status"]
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.history.latest().history_user == rep_north
