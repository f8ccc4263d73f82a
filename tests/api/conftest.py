"""Fixtures for API tests: a customer in each team, and JSON helpers."""

import json

import pytest

from valuecrm.customers.services import customer_create

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # API tests create users per test (and per schemathesis operation); argon2's
    # deliberate slowness is tested in tests/accounts, not needed here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def north_customer(rep_north):
    return customer_create(actor=rep_north, data={
        "name": "Wang Fang", "email": "wang@example.cn", "phone": "13800138000",
        "city": "Beijing", "tags": ["vip"],
    })


@pytest.fixture
def south_customer(rep_south):
    return customer_create(actor=rep_south, data={"name": "Zhao Lei", "city": "Guangzhou"})


def send(client, method: str, url: str, body=None):
    """A JSON request through the Django test client."""
    kwargs = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method.lower())(url, **kwargs)


def assert_problem(response, status: int, *fields: str):
    """The response is a problem+json with `status` naming each of `fields` in errors."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    for field in fields:
        assert field in body.get("errors", {}), body
    return body
