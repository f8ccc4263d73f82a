"""Token authentication, problem+json for auth failures, and the interactive docs."""

import pytest
from django.test import Client

from valuecrm.accounts.services import api_token_create, api_token_revoke
from valuecrm.customers.models import Customer

from .conftest import assert_problem, send

ENDPOINTS = ["/api/v1/customers", "/api/v1/orders", "/api/v1/products", "/api/v1/tasks",
             "/api/v1/interactions", "/api/v1/customers/1", "/api/v1/orders/1"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_missing_token_is_401_problem(db, url):
    body = assert_problem(Client().get(url), 401)
    assert body["code"] == "unauthenticated"


def test_invalid_token_is_401(db):
    assert_problem(Client(HTTP_AUTHORIZATION="Bearer vcrm_made-up").get("/api/v1/customers"), 401)
    assert_problem(Client(HTTP_AUTHORIZATION="Basic dXNlcjpwdw==").get("/api/v1/customers"), 401)


def test_revoked_token_is_401_and_writes_nothing(rep_north):
    token, raw = api_token_create(user=rep_north)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/customers").status_code == 200

    api_token_revoke(token=token)
    assert_problem(client.get("/api/v1/customers"), 401)
    assert_problem(send(client, "post", "/api/v1/customers", {"name": "A"}), 401)
    assert Customer.objects.count() == 0


def test_token_of_deactivated_user_is_401(rep_north):
    _, raw = api_token_create(user=rep_north)
    rep_north.is_active = False
    rep_north.save()
    assert_problem(Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/customers"), 401)


def test_session_login_works_for_the_web_ui(rep_north, north_customer):
    client = Client()
    client.force_login(rep_north)
    assert client.get(f"/api/v1/customers/{north_customer.pk}").json()["name"] == "Wang Fang"


def test_docs_and_openapi_render(db):
    client = Client()
    redirect = client.get("/api/docs")
    assert (redirect.status_code, redirect["Location"]) == (302, "/api/v1/docs")
    assert client.get("/api/v1/docs").status_code == 200
    spec = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/customers", "/api/v1/customers/{customer_id}/history",
                 "/api/v1/customers/{customer_id}/contact-points", "/api/v1/orders",
                 "/api/v1/products/{product_id}", "/api/v1/tasks/{task_id}", "/api/v1/notes",
                 "/api/v1/interactions/{interaction_id}", "/api/v1/contact-points/{point_id}"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
