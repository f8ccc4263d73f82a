"""A write that finds SQLite locked by another writer gets a 503, not a server error."""

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from valuecrm.common.busy import DatabaseBusyMiddleware

LOCKED = OperationalError("database is locked")


def _middleware():
    return DatabaseBusyMiddleware(lambda request: HttpResponse())


def test_a_page_says_the_database_is_busy_and_when_to_retry():
    request = RequestFactory().post("/customers/")
    response = _middleware().process_exception(request, LOCKED)
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "database is busy" in response.content.decode()


def test_an_htmx_request_gets_the_message_as_text_for_the_alert():
    request = RequestFactory().post("/customers/1/notes/", HTTP_HX_REQUEST="true")
    request.htmx = True
    response = _middleware().process_exception(request, LOCKED)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert "Nothing was saved" in response.content.decode()


def test_other_database_errors_are_left_alone():
    request = RequestFactory().get("/customers/")
    assert _middleware().process_exception(request, OperationalError("no such table: x")) is None
    assert _middleware().process_exception(request, ValueError("database is locked")) is None


@pytest.mark.django_db
def test_the_api_answers_problem_json_503(api_client_for, admin_user, monkeypatch):
    from valuecrm.customers import services

    def locked(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "customer_create", locked)
    response = api_client_for(admin_user).post("/api/v1/customers", {"name": "王伟"},
                                               content_type="application/json")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "10"
    body = response.json()
    assert body["code"] == "busy" and body["status"] == 503
