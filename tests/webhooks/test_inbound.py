import hashlib
import hmac
import json
import time

import pytest

from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.orders.models import Order
from valuecrm.webhooks.inbound import inbound_source_create

URL = "/api/v1/inbound/orders/tmall"
ORDER = {
    "external_id": "TM-1001", "placed_at": "2024-05-01T10:00:00+08:00", "status": "paid",
    "currency": "CNY",
    "lines": [{"sku": "TEA-1", "name": "Longjing", "quantity": 2, "unit_price": "88.00"}],
    "customer": {"external_id": "buyer-9", "name": "韩梅梅", "email": "Han.MeiMei@Example.com",
                 "phone": "139 0013 9000"},
}


@pytest.fixture
def source(admin_user):
    return inbound_source_create(actor=admin_user, key="tmall", name="Tmall shop", run_as=admin_user)


def _post(client, body: bytes, secret: str | None, timestamp: int | None = None, signature: str | None = None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    if signature is None and secret is not None:
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        signature = f"sha256={digest}"
    headers = {"HTTP_X_VALUECRM_TIMESTAMP": str(timestamp)}
    if signature is not None:
        headers["HTTP_X_VALUECRM_SIGNATURE"] = signature
    return client.post(URL, data=body, content_type="application/json", **headers)


def test_signed_order_is_created_once(client, source):
    body = json.dumps(ORDER).encode()
    first = _post(client, body, source.secret)
    assert first.status_code == 201, first.content
    order = Order.objects.get()
    assert first.json()["id"] == order.pk
    assert (order.source, order.external_id, str(order.total_amount)) == ("tmall", "TM-1001", "176.00")
    customer = order.customer
    assert (customer.name, customer.email, customer.phone) == ("韩梅梅", "han.meimei@example.com", "+8613900139000")
    assert (customer.source, customer.external_id) == ("tmall", "buyer-9")
    assert customer.owner == source.run_as

    replay = _post(client, body, source.secret)
    assert replay.status_code == 200
    assert replay.json()["id"] == order.pk
    assert Order.objects.count() == 1 and Customer.objects.count() == 1


def test_existing_customer_is_matched_by_email_then_phone(client, source, admin_user):
    from valuecrm.customers.services import customer_create

    known = customer_create(actor=admin_user, data={"name": "Han", "email": "han.meimei@example.com"})
    response = _post(client, json.dumps(ORDER).encode(), source.secret)
    assert response.status_code == 201
    assert Order.objects.get().customer_id == known.pk
    by_phone = customer_create(actor=admin_user, data={"name": "Li", "phone": "13700137000"})
    second = dict(ORDER, external_id="TM-1002", customer={"phone": "+86 137 0013 7000"})
    assert _post(client, json.dumps(second).encode(), source.secret).status_code == 201
    assert Order.objects.get(external_id="TM-1002").customer_id == by_phone.pk
    assert Customer.objects.count() == 2


@pytest.mark.parametrize("case", ["wrong", "missing", "other-secret", "stale", "unknown-source"])
def test_bad_signatures_are_refused_and_nothing_is_written(client, source, case):
    body = json.dumps(ORDER).encode()
    if case == "wrong":
        response = _post(client, body, None, signature="sha256=" + "0" * 64)
    elif case == "missing":
        response = _post(client, body, None)
    elif case == "other-secret":
        response = _post(client, body, "insec_not-the-secret")
    elif case == "stale":
        response = _post(client, body, source.secret, timestamp=int(time.time()) - 3600)
    else:
        response = client.post("/api/v1/inbound/orders/nope", data=body, content_type="application/json",
                               HTTP_X_VALUECRM_TIMESTAMP=str(int(time.time())),
                               HTTP_X_VALUECRM_SIGNATURE="sha256=" + "0" * 64)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert Order.objects.count() == 0 and Customer.objects.count() == 0


def test_tampered_body_is_refused(client, source):
    body = json.dumps(ORDER).encode()
    timestamp = int(time.time())
    digest = hmac.new(source.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    tampered = body.replace(b"88.00", b"1.00")
    response = _post(client, tampered, None, timestamp=timestamp, signature=f"sha256={digest}")
    assert response.status_code == 401
    assert Order.objects.count() == 0


def test_invalid_order_names_the_field_and_leaves_no_customer(client, source):
    bad = dict(ORDER, lines=[{"sku": "TEA-1", "quantity": -1, "unit_price": "88.00"}])
    response = _post(client, json.dumps(bad).encode(), source.secret)
    assert response.status_code == 422
    assert "lines.0.quantity" in response.json()["errors"]
    assert Customer.objects.count() == 0 and Order.objects.count() == 0

    bad_email = dict(ORDER, customer={"email": "not-an-email"})
    response = _post(client, json.dumps(bad_email).encode(), source.secret)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["customer.email"]

    response = _post(client, b"[1, 2", source.secret)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["body"]


def test_source_validation(admin_user, rep_north, make_user):
    reader = make_user("reader", role="read_only")
    with pytest.raises(ValidationFailed) as err:
        inbound_source_create(actor=admin_user, key="Bad Key!", name="", run_as=reader)
    assert set(err.value.errors) == {"key", "run_as"}
    from valuecrm.common.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        inbound_source_create(actor=rep_north, key="shop", name="", run_as=rep_north)
