"""/api/v1 products and orders, including idempotent order ingestion."""

import pytest

from valuecrm.orders.models import Order, OrderLine, Product
from valuecrm.orders.services import order_create, product_create

from .conftest import assert_problem, send


@pytest.fixture
def tea(admin_user):
    return product_create(actor=admin_user, data={
        "sku": "TEA-1", "name": "Longjing tea", "price": "88.00", "unit_cost": "30.00",
    })


# ---------------------------------------------------------------- products

def test_products_crud_by_a_manager(api_client_for, manager_north):
    client = api_client_for(manager_north)
    response = send(client, "post", "/api/v1/products",
                    {"sku": "CUP-1", "name": "Cup", "price": "12.50", "category": "ware"})
    assert response.status_code == 201, response.content
    product = response.json()
    assert (product["currency"], product["price"], product["active"]) == ("CNY", "12.50", True)
    url = f"/api/v1/products/{product['id']}"

    assert send(client, "patch", url, {"price": "13.00", "active": False}).json()["price"] == "13.00"
    assert client.get("/api/v1/products?active=false").json()["items"][0]["sku"] == "CUP-1"
    assert client.get("/api/v1/products?active=true").json()["items"] == []
    assert client.delete(url).status_code == 204
    assert Product.objects.count() == 0


def test_products_are_readable_by_reps_but_not_writable(api_client_for, rep_north, tea):
    client = api_client_for(rep_north)
    assert client.get(f"/api/v1/products/{tea.pk}").json()["name"] == "Longjing tea"
    assert_problem(send(client, "post", "/api/v1/products", {"sku": "X", "name": "X"}), 403)
    assert_problem(send(client, "patch", f"/api/v1/products/{tea.pk}", {"name": "Y"}), 403)
    assert_problem(client.delete(f"/api/v1/products/{tea.pk}"), 403)
    assert list(Product.objects.values_list("name", flat=True)) == ["Longjing tea"]


@pytest.mark.parametrize("payload, field", [
    ({"sku": "", "name": "X"}, "sku"),
    ({"sku": "TEA-1", "name": "Duplicate"}, "sku"),
    ({"sku": "A", "name": "X", "price": "-1"}, "price"),
    ({"sku": "A", "name": "X", "price": "1.234"}, "price"),
    ({"sku": "A", "name": "X", "currency": "RMBX"}, "currency"),
    ({"sku": "A", "name": "X", "currency": "1$3"}, "currency"),
])
def test_product_bad_input(api_client_for, admin_user, tea, payload, field):
    assert_problem(send(api_client_for(admin_user), "post", "/api/v1/products", payload), 422, field)
    assert Product.objects.count() == 1


def test_product_patch_refuses_null_for_required_fields(api_client_for, admin_user, tea):
    client = api_client_for(admin_user)
    url = f"/api/v1/products/{tea.pk}"
    body = assert_problem(send(client, "patch", url, {"name": "Green", "price": None, "active": None}),
                          422, "price", "active")
    assert set(body["errors"]) == {"price", "active"}
    tea.refresh_from_db()
    assert (tea.name, str(tea.price), tea.active) == ("Longjing tea", "88.00", True)
    # A field that may be empty takes null.
    assert send(client, "patch", url, {"category": None}).status_code == 200


# ---------------------------------------------------------------- orders

def test_order_totals_come_from_lines(api_client_for, rep_north, north_customer, tea):
    response = send(api_client_for(rep_north), "post", "/api/v1/orders", {
        "customer_id": north_customer.pk, "source": "tmall", "external_id": "TM-1001",
        "placed_at": "2024-03-08T20:15:00", "channel": "marketplace",
        "lines": [
            {"product_id": tea.pk, "quantity": "2"},
            {"sku": "GIFT", "name": "Gift box", "quantity": "1", "unit_price": "15.5"},
        ],
    })

    assert response.status_code == 201, response.content
    order = response.json()
    assert (order["total_amount"], order["total_cost"]) == ("191.50", "60.00")
    assert order["placed_at"] == "2024-03-08T12:15:00Z"  # naive = Asia/Shanghai
    assert order["currency"] == "CNY"
    assert [(line["sku"], line["name"], line["unit_price"]) for line in order["lines"]] == [
        ("TEA-1", "Longjing tea", "88.00"), ("GIFT", "Gift box", "15.50"),
    ]


def test_order_create_is_idempotent_on_source_and_external_id(api_client_for, rep_north,
                                                              north_customer):
    client = api_client_for(rep_north)
    payload = {"customer_id": north_customer.pk, "source": "shop", "external_id": "S-1",
               "total_amount": "99.00"}

    first = send(client, "post", "/api/v1/orders", payload)
    again = send(client, "post", "/api/v1/orders", {**payload, "total_amount": "1.00"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Order.objects.count() == 1
    assert Order.objects.get().total_amount == 99


def test_order_key_of_invisible_customer_is_a_conflict_without_details(
    api_client_for, rep_north, rep_south, north_customer, south_customer
):
    order_create(actor=rep_north, data={"customer_id": north_customer.pk, "source": "shop",
                                        "external_id": "S-9"})
    response = send(api_client_for(rep_south), "post", "/api/v1/orders",
                    {"customer_id": south_customer.pk, "source": "shop", "external_id": "S-9"})
    body = assert_problem(response, 409, "external_id")
    assert "Wang" not in str(body)
    assert Order.objects.count() == 1


@pytest.mark.parametrize("payload, field", [
    ({}, "customer_id"),
    ({"customer_id": 999999}, "customer_id"),
    ({"status": "stolen"}, "status"),
    ({"placed_at": "last tuesday"}, "placed_at"),
    ({"placed_at": "0001-01-01T00:00:00+14:00"}, "placed_at"),
    ({"total_amount": "-5"}, "total_amount"),
    ({"total_amount": "NaN"}, "total_amount"),
    ({"currency": "yuan"}, "currency"),
    ({"lines": [{"name": "x", "quantity": "0", "unit_price": "1"}]}, "lines.0.quantity"),
    ({"lines": [{"name": "no price"}]}, "lines.0.unit_price"),
    ({"lines": [{"product_id": 424242, "quantity": 1}]}, "lines.0.product_id"),
    ({"lines": [{"name": "big", "quantity": "999999999", "unit_price": "999999999999"}]},
     "total_amount"),
])
def test_order_bad_input_writes_nothing(api_client_for, rep_north, north_customer, payload, field):
    body = {"customer_id": north_customer.pk, "external_id": "BAD-1", **payload}
    if payload == {}:
        body.pop("customer_id")
    response = send(api_client_for(rep_north), "post", "/api/v1/orders", body)

    assert_problem(response, 422, field)
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0


def test_orders_list_filters_and_pages(api_client_for, rep_north, north_customer):
    for i, status in enumerate(["paid", "paid", "refunded"]):
        order_create(actor=rep_north, data={
            "customer_id": north_customer.pk, "external_id": f"O-{i}", "status": status,
            "placed_at": f"2024-01-0{i + 1}T12:00:00", "total_amount": "10",
        })
    client = api_client_for(rep_north)

    page = client.get("/api/v1/orders?limit=2").json()
    assert [o["external_id"] for o in page["items"]] == ["O-2", "O-1"]
    rest = client.get(f"/api/v1/orders?limit=2&cursor={page['next_cursor']}").json()
    assert ([o["external_id"] for o in rest["items"]], rest["next_cursor"]) == (["O-0"], None)
    paid = client.get("/api/v1/orders?status=paid&placed_before=2024-01-01").json()
    assert [o["external_id"] for o in paid["items"]] == ["O-0"]
    after = client.get("/api/v1/orders?placed_after=2024-01-02").json()
    assert [o["external_id"] for o in after["items"]] == ["O-2", "O-1"]
    assert_problem(client.get("/api/v1/orders?status=lost"), 422, "status")
    assert_problem(client.get("/api/v1/orders?cursor=%%%"), 422, "cursor")


def test_order_status_change_follows_the_allowed_transitions(api_client_for, rep_north,
                                                             north_customer):
    order, _ = order_create(actor=rep_north, data={"customer_id": north_customer.pk,
                                                   "status": "pending"})
    client = api_client_for(rep_north)
    url = f"/api/v1/orders/{order.pk}"

    assert send(client, "patch", url, {"status": "paid"}).json()["status"] == "paid"
    assert send(client, "patch", url, {"status": "refunded"}).json()["status"] == "refunded"
    assert_problem(send(client, "patch", url, {"status": "paid"}), 422, "status")
    assert_problem(send(client, "patch", url, {"status": "gone"}), 422, "status")
    order.refresh_from_db()
    assert order.status == "refunded"
    assert [h.history_user for h in order.history.all()] == [rep_north] * 3


def test_orders_of_other_team_are_invisible(api_client_for, rep_north, rep_south, north_customer):
    order, _ = order_create(actor=rep_north, data={"customer_id": north_customer.pk})
    client = api_client_for(rep_south)

    assert client.get("/api/v1/orders").json()["items"] == []
    assert client.get(f"/api/v1/orders?customer_id={north_customer.pk}").json()["items"] == []
    assert_problem(client.get(f"/api/v1/orders/{order.pk}"), 404)
    assert_problem(send(client, "patch", f"/api/v1/orders/{order.pk}", {"status": "refunded"}), 404)
    assert_problem(send(client, "post", "/api/v1/orders", {"customer_id": north_customer.pk}),
                   422, "customer_id")
    order.refresh_from_db()
    assert order.status == "paid"
    assert Order.objects.count() == 1
