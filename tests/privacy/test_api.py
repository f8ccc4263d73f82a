"""The API contract: GET /customers/{id}/personal-data, POST /customers/{id}/erase, consent."""

import io
import json
import zipfile

import pytest

from valuecrm.customers.models import Customer
from valuecrm.privacy.models import ConsentRecord, Erasure

from .conftest import EMAIL, NAME


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


def test_personal_data_json_and_zip(person, admin_api):
    response = admin_api.get(f"/api/v1/customers/{person.pk}/personal-data")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["customer"]["email"] == EMAIL
    response = admin_api.get(f"/api/v1/customers/{person.pk}/personal-data?format=zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "personal-data.json" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()


def test_personal_data_status_codes(person, admin_api, api_client_for, rep_north, rep_south):
    assert admin_api.get("/api/v1/customers/987654/personal-data").status_code == 404
    assert admin_api.get("/api/v1/customers/0/personal-data").status_code == 422
    bad = admin_api.get(f"/api/v1/customers/{person.pk}/personal-data?format=xml")
    assert bad.status_code == 422 and "format" in bad.json()["errors"]
    refused = api_client_for(rep_north).get(f"/api/v1/customers/{person.pk}/personal-data")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert api_client_for(rep_south).get(f"/api/v1/customers/{person.pk}/personal-data").status_code == 404


def test_erase_and_erase_again(person, admin_api):
    first = admin_api.post(f"/api/v1/customers/{person.pk}/erase", {"reason": "request"},
                           content_type="application/json")
    assert first.status_code == 200
    body = first.json()
    assert body["already_erased"] is False and body["customer_id"] == person.pk
    assert body["orders_kept"] == 4 and body["rows_touched"] > 10
    assert NAME not in first.content.decode() and EMAIL not in first.content.decode()
    again = admin_api.post(f"/api/v1/customers/{person.pk}/erase", content_type="application/json")
    assert again.status_code == 200
    assert again.json()["already_erased"] is True and again.json()["id"] == body["id"]
    assert Customer.objects.get(pk=person.pk).email == ""


def test_erase_status_codes(person, admin_api, api_client_for, manager_north):
    assert admin_api.post("/api/v1/customers/987654/erase").status_code == 404
    malformed = admin_api.post(f"/api/v1/customers/{person.pk}/erase", "{not json", content_type="application/json")
    assert malformed.status_code == 400
    bad = admin_api.post(f"/api/v1/customers/{person.pk}/erase", {"reason": "whim"},
                         content_type="application/json")
    assert bad.status_code == 422
    refused = api_client_for(manager_north).post(f"/api/v1/customers/{person.pk}/erase")
    assert refused.status_code == 403
    assert not Erasure.objects.exists()


def test_consent_read_and_append(person, api_client_for, rep_north, rep_south):
    client = api_client_for(rep_north)
    response = client.post(f"/api/v1/customers/{person.pk}/consent",
                           {"channel": "any", "purpose": "automated_decisions", "granted": False},
                           content_type="application/json")
    assert response.status_code == 201
    assert response.json()["source"] == "api"
    current = {(c["channel"], c["purpose"]): c for c in client.get(f"/api/v1/customers/{person.pk}/consent").json()["current"]}
    assert current[("any", "automated_decisions")]["granted"] is False
    assert current[("any", "automated_decisions")]["by_default"] is False
    assert current[("post", "marketing")]["by_default"] is True
    bad = client.post(f"/api/v1/customers/{person.pk}/consent",
                      {"channel": "email", "purpose": "automated_decisions", "granted": True},
                      content_type="application/json")
    assert bad.status_code == 422 and "channel" in bad.json()["errors"]
    hidden = api_client_for(rep_south).post(f"/api/v1/customers/{person.pk}/consent",
                                            {"channel": "email", "purpose": "marketing", "granted": True},
                                            content_type="application/json")
    assert hidden.status_code == 404
    assert ConsentRecord.objects.filter(source="api").count() == 1
