"""Order and product pages: visibility (page, list, export, API agree), create with
lines, status changes, bad input as 4xx naming the field with nothing written."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.customers.helpers import client_for, make
from valuecrm.common.models import OutboxEvent
from valuecrm.orders.models import Order, OrderLine, Product

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def _order(customer, number, status="paid", amount="100.00", days=0):
    return Order.objects.create(customer=customer, source="shop", external_id=number, status=status,
                                total_amount=Decimal(amount), placed_at=BASE + dt.timedelta(days=days))


@pytest.fixture
def book(rep_north, rep_south):
    mine, theirs = make("王芳", owner=rep_north), make("李雷", owner=rep_south)
    return {"mine": mine, "theirs": theirs,
            "my_order": _order(mine, "N-1"), "their_order": _order(theirs, "S-1", amount="250.00")}


def test_rep_sees_only_orders_of_their_customers_in_list_page_export_and_api(
        rep_north, book, api_client_for):
    client = client_for(rep_north)
    html = client.get(reverse("order-list")).content.decode()
    assert "N-1" in html and "S-1" not in html

    assert client.get(reverse("order-detail", args=[book["my_order"].pk])).status_code == 200
    assert client.get(reverse("order-detail", args=[book["their_order"].pk])).status_code == 404
    assert client.post(reverse("order-status", args=[book["their_order"].pk]),
                       {"status": "refunded"}).status_code == 404

    export = b"".join(client.get(reverse("order-export")).streaming_content).decode("utf-8-sig")
    rows = export.strip().splitlines()
    assert rows[0].startswith("order_id,external_id")
    assert [r.split(",")[1] for r in rows[1:]] == ["N-1"]

    api = api_client_for(rep_north).get("/api/v1/orders").json()
    assert [o["external_id"] for o in api["items"]] == ["N-1"]


def test_order_list_filters_and_keyset_pages(admin_user, book):
    for i in range(55):
        _order(book["mine"], f"P-{i:02d}", status="pending", days=i + 1)
    client = client_for(admin_user)
    first = client.get(reverse("order-list"), {"status": "pending"})
    html = first.content.decode()
    assert len(first.context["orders"]) == 50
    assert "P-54" in html and "P-04" not in html and "N-1" not in html
    cursor = first.context["next_cursor"]
    second = client.get(reverse("order-list"), {"status": "pending", "after": cursor}).content.decode()
    assert "P-04" in second and "P-00" in second and "P-54" not in second
    assert first.context["next_cursor"] and client.get(
        reverse("order-list"), {"status": "pending", "after": cursor}).context["next_cursor"] is None

    by_customer = client.get(reverse("order-list"), {"customer": book["theirs"].pk}).content.decode()
    assert "S-1" in by_customer and "N-1" not in by_customer and "李雷" in by_customer

    dated = client.get(reverse("order-list"), {"from": "2026-03-01", "to": "2026-03-01"}).context["orders"]
    assert sorted(o.external_id for o in dated) == ["N-1", "S-1"]


@pytest.mark.parametrize("params, field", [
    ({"status": "lost"}, "status"), ({"from": "2026-13-01"}, "from"), ({"after": "%%%"}, "cursor"),
    ({"customer": "abc"}, "customer"),
])
def test_bad_list_parameters_are_400_naming_the_parameter(admin_user, book, params, field):
    response = client_for(admin_user).get(reverse("order-list"), params)
    assert response.status_code == 400
    assert field in response.context["errors"]


def _create_post(customer, lines, **extra):
    data = {"customer_id": customer.pk, "channel": "store", "status": "paid",
            "placed_at": "2026-04-02T15:30", "currency": "", "external_id": "",
            "lines-TOTAL_FORMS": str(len(lines)), "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "50", **extra}
    for i, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{i}-{key}"] = value
    return data


def test_create_order_with_lines_from_catalogue_and_free_items(rep_north, book):
    Product.objects.create(sku="TEA-1", name="龙井 250g", price=Decimal("88.00"), unit_cost=Decimal("30"))
    client = client_for(rep_north)
    page = client.get(reverse("order-create"), {"customer": book["mine"].pk})
    assert page.status_code == 200 and page.content.decode().count('name="lines-') >= 12

    before = OutboxEvent.objects.filter(name="order.created").count()
    response = client.post(reverse("order-create"), _create_post(book["mine"], [
        {"sku": "TEA-1", "quantity": "2"},
        {"name": "礼盒", "quantity": "1", "unit_price": "15.50"},
        {},  # an empty line is ignored
    ]))
    order = Order.objects.get(customer=book["mine"], source="manual")
    assert response.status_code == 302 and response["Location"] == reverse("order-detail", args=[order.pk])
    assert order.total_amount == Decimal("191.50") and order.total_cost == Decimal("60.00")
    assert order.created_by == rep_north and order.channel == "store"
    assert [(ln.sku, ln.name, ln.quantity) for ln in order.lines.all()] == [
        ("TEA-1", "龙井 250g", Decimal("2.000")), ("", "礼盒", Decimal("1.000"))]
    assert OutboxEvent.objects.filter(name="order.created").count() == before + 1
    detail = client.get(response["Location"]).content.decode()
    assert "龙井 250g" in detail and "¥191.50" in detail


def test_bad_line_is_422_under_that_line_and_nothing_is_written(rep_north, book):
    client = client_for(rep_north)
    count = Order.objects.count()
    response = client.post(reverse("order-create"), _create_post(book["mine"], [
        {"name": "礼盒", "quantity": "1", "unit_price": "10"},
        {"name": "no price", "quantity": "1"},
    ]))
    assert response.status_code == 422
    formset = response.context["formset"]
    assert "Give a unit price or a known product." in formset.forms[1].errors["unit_price"]
    assert not formset.forms[0].errors
    assert Order.objects.count() == count and OrderLine.objects.count() == 0


def test_add_line_keeps_what_was_typed_and_writes_nothing(rep_north, book):
    response = client_for(rep_north).post(reverse("order-create"), {
        **_create_post(book["mine"], [{"name": "礼盒", "unit_price": "10"}]), "add_line": "1"})
    assert response.status_code == 200
    assert response.context["formset"].total_form_count() == 2
    assert 'value="礼盒"' in response.content.decode()
    assert not Order.objects.filter(source="manual").exists()


def test_new_order_for_an_invisible_customer_is_404_and_search_lists_only_visible(rep_north, book):
    client = client_for(rep_north)
    assert client.get(reverse("order-create"), {"customer": book["theirs"].pk}).status_code == 404
    assert client.post(reverse("order-create"), _create_post(book["theirs"], [
        {"name": "x", "unit_price": "1"}])).status_code == 404
    assert not Order.objects.filter(customer=book["theirs"], source="manual").exists()
    found = client.get(reverse("order-create"), {"find": "李"}).context["found"]
    assert found == []
    assert [c.pk for c in client.get(reverse("order-create"), {"find": "王"}).context["found"]] == [book["mine"].pk]


def test_read_only_role_cannot_open_the_new_order_page(make_user, team_north):
    viewer = make_user("viewer", role="read_only", team=team_north)
    assert client_for(viewer).get(reverse("order-create")).status_code == 403


def test_status_changes_refund_and_cancel(manager_north, book):
    client = client_for(manager_north)
    order = book["my_order"]
    page = client.get(reverse("order-detail", args=[order.pk])).content.decode()
    assert "Mark as fulfilled" in page and "Refund order" in page and "Cancel order" in page
    assert "Mark as paid" not in page

    response = client.post(reverse("order-status", args=[order.pk]), {"status": "refunded"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "refunded"
    assert OutboxEvent.objects.filter(name="order.status_changed").exists()
    after = client.get(reverse("order-detail", args=[order.pk])).content.decode()
    assert "Cancelled and refunded orders are final." in after and "Refund order" not in after

    # A refunded order cannot be reopened: the message says so and nothing changes.
    again = client.post(reverse("order-status", args=[order.pk]), {"status": "paid"}, follow=True)
    assert "An order cannot go from refunded to paid." in again.content.decode()
    order.refresh_from_db()
    assert order.status == "refunded"


def test_status_change_needs_the_orders_capability(make_user, team_north, book, rep_north):
    viewer = make_user("viewer", role="read_only", team=team_north)
    order = book["my_order"]
    assert client_for(viewer).get(reverse("order-detail", args=[order.pk])).status_code == 200
    assert "Refund order" not in client_for(viewer).get(reverse("order-detail", args=[order.pk])).content.decode()
    assert client_for(viewer).post(reverse("order-status", args=[order.pk]),
                                   {"status": "cancelled"}).status_code == 403
    order.refresh_from_db()
    assert order.status == "paid"


def test_order_pages_in_chinese(admin_user, book):
    client = client_for(admin_user)
    html = client.get(reverse("order-list"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "订单" in html and "已付款" in html and "下单起始日期" in html
    detail = client.get(reverse("order-detail", args=[book["my_order"].pk]), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "退款" in detail.content.decode()


# ---------------------------------------------------------------- products

def test_catalogue_lists_filters_by_category_and_managers_edit(manager_north, rep_north):
    Product.objects.create(sku="TEA-1", name="龙井", category="茶叶", price=Decimal("88"))
    Product.objects.create(sku="CUP-1", name="茶杯", category="茶具", price=Decimal("20"), active=False)
    rep = client_for(rep_north)
    html = rep.get(reverse("product-list"), {"category": "茶叶"}).content.decode()
    assert "龙井" in html and "茶杯" not in html
    assert [p.sku for p in rep.get(reverse("product-list"), {"active": "no"}).context["products"]] == ["CUP-1"]
    assert rep.get(reverse("product-create")).status_code == 403

    manager = client_for(manager_north)
    response = manager.post(reverse("product-create"), {
        "sku": "POT-1", "name": "紫砂壶", "category": "茶具", "price": "399.00", "unit_cost": "120",
        "currency": "", "active": "on"})
    assert response.status_code == 302
    pot = Product.objects.get(sku="POT-1")
    assert pot.price == Decimal("399.00") and pot.currency == "CNY" and pot.category == "茶具"

    clash = manager.post(reverse("product-edit", args=[pot.pk]), {
        "sku": "TEA-1", "name": "紫砂壶", "price": "399"})
    assert clash.status_code == 422
    assert clash.context["form"].errors["sku"] == ["A product with this SKU already exists."]
    pot.refresh_from_db()
    assert pot.sku == "POT-1"

    assert manager.post(reverse("product-delete", args=[pot.pk])).status_code == 302
    assert not Product.objects.filter(sku="POT-1").exists()


def test_bad_product_price_is_422_naming_price(manager_north):
    response = client_for(manager_north).post(reverse("product-create"), {
        "sku": "X", "name": "x", "price": "-1"})
    assert response.status_code == 422 and "price" in response.context["form"].errors
    assert not Product.objects.filter(sku="X").exists()
