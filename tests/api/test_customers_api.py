"""/api/v1/customers: list, search, filters, CRUD, history — and the visibility rule."""

import pytest

from valuecrm.customers.models import ContactPoint, Customer, CustomFieldDefinition, Tag
from valuecrm.customers.services import customer_create, customer_update
from valuecrm.orders.services import order_create

from .conftest import assert_problem, send


def test_list_shows_only_visible_customers_and_pages_with_a_cursor(
    api_client_for, rep_north, north_customer, south_customer
):
    for i in range(3):
        customer_create(actor=rep_north, data={"name": f"North {i}"})
    client = api_client_for(rep_north)

    first = client.get("/api/v1/customers?limit=2").json()
    assert [c["name"] for c in first["items"]] == ["North 2", "North 1"]
    second = client.get(f"/api/v1/customers?limit=2&cursor={first['next_cursor']}").json()
    assert [c["name"] for c in second["items"]] == ["North 0", "Wang Fang"]
    assert second["next_cursor"] is None


def test_search_and_filters(api_client_for, rep_north, north_customer, admin_user, south_customer):
    customer_create(actor=rep_north, data={"name": "Other", "city": "Shanghai"})
    client = api_client_for(rep_north)

    def names(query):
        response = client.get(f"/api/v1/customers?{query}")
        assert response.status_code == 200, response.content
        return [c["name"] for c in response.json()["items"]]

    assert names("q=wang") == ["Wang Fang"]
    assert names("q=138%200013%208000") == ["Wang Fang"]
    assert names("city=beijing") == ["Wang Fang"]
    assert names("tag=vip") == ["Wang Fang"]
    assert names(f"owner_id={rep_north.pk}&sort=name") == ["Other", "Wang Fang"]
    assert names("kind=organization") == []
    # The south customer exists, but a north rep cannot find it by any means.
    assert names("q=Zhao") == []
    assert names("city=Guangzhou") == []
    admin_view = api_client_for(admin_user).get("/api/v1/customers?q=Zhao").json()
    assert [c["id"] for c in admin_view["items"]] == [south_customer.pk]


def test_custom_field_filter(api_client_for, rep_north):
    CustomFieldDefinition.objects.create(key="size", label="Size", field_type="number")
    customer_create(actor=rep_north, data={"name": "Small", "custom_fields": {"size": 36}})
    customer_create(actor=rep_north, data={"name": "Big", "custom_fields": {"size": 44}})
    client = api_client_for(rep_north)

    body = client.get("/api/v1/customers?cf_size=44").json()
    assert [c["name"] for c in body["items"]] == ["Big"]
    assert_problem(client.get("/api/v1/customers?cf_size=huge"), 422, "cf_size")
    assert_problem(client.get("/api/v1/customers?cf_nope=1"), 422, "cf_nope")


@pytest.mark.parametrize("query, field", [
    ("limit=201", "limit"), ("limit=0", "limit"), ("sort=password", "sort"),
    ("kind=robot", "kind"), ("created_after=2024-13-01", "created_after"),
    ("cursor=not-a-cursor", "cursor"), ("owner_id=abc", "owner_id"),
])
def test_list_rejects_bad_parameters_naming_them(api_client_for, rep_north, query, field):
    assert_problem(api_client_for(rep_north).get(f"/api/v1/customers?{query}"), 422, field)


def test_create_returns_201_with_normalised_values(api_client_for, rep_north, team_north):
    response = send(api_client_for(rep_north), "post", "/api/v1/customers", {
        "name": "Li Lei", "email": "LI@Example.com", "phone": "138 0013 8000",
        "tags": ["new", "vip"], "acquisition_cost": "35.50", "birthday": "1990-05-01",
    })

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "li@example.com"
    assert body["phone"] == "+8613800138000"
    assert body["owner_id"] == rep_north.pk
    assert body["team_id"] == team_north.pk
    assert body["tags"] == ["new", "vip"]
    assert body["acquisition_cost"] == "35.50"
    assert body["birthday"] == "1990-05-01"
    assert Customer.objects.get(pk=body["id"]).name == "Li Lei"


@pytest.mark.parametrize("payload, field", [
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "A", "phone": "12345"}, "phone"),
    ({"name": "A", "email": "nope"}, "email"),
    ({"name": "A", "gender": "robot"}, "gender"),
    ({"name": "A", "birthday": "1990-02-30"}, "birthday"),
    ({"name": "A", "acquisition_cost": "12.345"}, "acquisition_cost"),
    ({"name": "A", "acquisition_cost": "1e20"}, "acquisition_cost"),
    ({"name": "A", "acquisition_cost": "abc"}, "acquisition_cost"),
    ({"name": "A", "company_id": 99999}, "company_id"),
    ({"name": "A", "owner_id": 2**70}, "owner_id"),
    ({"name": "A\x00B"}, "name"),
    ({"name": "A", "custom_fields": {"unknown": 1}}, "custom_fields.unknown"),
    ({}, "name"),
])
def test_create_rejects_bad_input_and_writes_nothing(api_client_for, rep_north, payload, field):
    response = send(api_client_for(rep_north), "post", "/api/v1/customers", payload)

    assert_problem(response, 422, field)
    assert Customer.objects.count() == 0
    assert Tag.objects.count() == 0
    assert ContactPoint.objects.count() == 0


def test_malformed_json_is_a_4xx(api_client_for, rep_north):
    response = api_client_for(rep_north).post(
        "/api/v1/customers", data="{not json", content_type="application/json"
    )
    assert 400 <= response.status_code < 500
    assert Customer.objects.count() == 0


def test_duplicate_external_id_is_a_field_error(api_client_for, rep_north):
    client = api_client_for(rep_north)
    payload = {"name": "A", "source": "shop", "external_id": "C-1"}
    assert send(client, "post", "/api/v1/customers", payload).status_code == 201
    assert_problem(send(client, "post", "/api/v1/customers", payload), 422, "external_id")
    assert Customer.objects.count() == 1


def test_rep_cannot_create_for_another_owner(api_client_for, rep_north, manager_north):
    response = send(api_client_for(rep_north), "post", "/api/v1/customers",
                    {"name": "A", "owner_id": manager_north.pk})
    assert_problem(response, 403, "owner_id")
    assert Customer.objects.count() == 0


def test_read_only_user_can_read_but_not_write(api_client_for, make_user, team_north, north_customer):
    viewer = make_user("viewer", role="read_only", team=team_north)
    client = api_client_for(viewer)

    assert client.get(f"/api/v1/customers/{north_customer.pk}").status_code == 200
    assert_problem(send(client, "post", "/api/v1/customers", {"name": "A"}), 403)
    assert_problem(send(client, "patch", f"/api/v1/customers/{north_customer.pk}",
                        {"name": "B"}), 403)
    assert Customer.objects.get(pk=north_customer.pk).name == "Wang Fang"


def test_get_and_patch(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    url = f"/api/v1/customers/{north_customer.pk}"

    assert client.get(url).json()["name"] == "Wang Fang"
    response = send(client, "patch", url, {"city": "Tianjin", "tags": ["gold"]})
    assert response.status_code == 200, response.content
    assert response.json()["city"] == "Tianjin"
    assert response.json()["tags"] == ["gold"]
    assert response.json()["email"] == "wang@example.cn"  # untouched fields stay


def test_patch_with_bad_input_changes_nothing(api_client_for, rep_north, north_customer):
    url = f"/api/v1/customers/{north_customer.pk}"
    client = api_client_for(rep_north)

    assert_problem(send(client, "patch", url, {"city": "Xi'an", "phone": "0"}), 422, "phone")
    assert_problem(send(client, "patch", url, {"name": None}), 422, "name")
    assert_problem(send(client, "patch", url, {"kind": "alien"}), 422, "kind")
    north_customer.refresh_from_db()
    assert north_customer.city == "Beijing"
    assert north_customer.history.count() == 1


def test_other_team_customer_is_404_on_every_customer_endpoint(
    api_client_for, rep_south, north_customer
):
    client = api_client_for(rep_south)
    url = f"/api/v1/customers/{north_customer.pk}"

    assert_problem(client.get(url), 404)
    assert_problem(send(client, "patch", url, {"name": "Hijacked"}), 404)
    assert_problem(client.delete(url), 404)
    assert_problem(client.get(f"{url}/history"), 404)
    assert_problem(client.get(f"{url}/contact-points"), 404)
    assert_problem(send(client, "post", f"{url}/contact-points",
                        {"kind": "email", "value": "x@y.cn"}), 404)
    # A missing id answers exactly the same, so existence is not revealed.
    assert client.get("/api/v1/customers/999999").json() == client.get(url).json()
    north_customer.refresh_from_db()
    assert north_customer.name == "Wang Fang"
    assert north_customer.contact_points.count() == 2


def test_delete_needs_a_manager_and_no_orders(api_client_for, rep_north, manager_north,
                                              north_customer):
    url = f"/api/v1/customers/{north_customer.pk}"
    assert_problem(api_client_for(rep_north).delete(url), 403)

    order_create(actor=rep_north, data={"customer_id": north_customer.pk, "total_amount": "5"})
    assert_problem(api_client_for(manager_north).delete(url), 409)

    spare = customer_create(actor=rep_north, data={"name": "Spare"})
    response = api_client_for(manager_north).delete(f"/api/v1/customers/{spare.pk}")
    assert response.status_code == 204
    assert not Customer.objects.filter(pk=spare.pk).exists()


def test_history_shows_who_changed_what(api_client_for, rep_north, manager_north, north_customer):
    customer_update(actor=manager_north, customer=north_customer, data={"city": "Dalian"})

    entries = api_client_for(rep_north).get(f"/api/v1/customers/{north_customer.pk}/history").json()

    assert [(e["action"], e["who"]) for e in entries] == [
        ("changed", "mgr_north"), ("created", "rep_north"),
    ]
    assert entries[0]["subject"] == "Customer"
    assert entries[0]["changes"] == [{"field": "city", "before": "Beijing", "after": "Dalian"}]
