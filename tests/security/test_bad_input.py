"""Bad input never becomes a 500: every case found by the probe of issue 11, item 6.

Dates outside what the database and Python can hold (year 0001, 9999, overflow
when converted to UTC) are a 422 naming the parameter on the API and a form error
on pages; bodies over the size limit are a 413, JSON nested too deep is a 400,
and a scoring date outside the data's range is a 422.
"""


import json

import pytest
from django.test import Client

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api(admin_user, api_client_for):
    return api_client_for(admin_user)


@pytest.fixture
def web(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def assert_problem(response, status, *fields):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    for name in fields:
        assert name in body.get("errors", {}), body
    return body


# ------------------------------------------------------------------ date bounds, API

@pytest.mark.parametrize(("url", "param"), [
    ("/api/v1/customers?created_after=0001-01-01", "created_after"),
    ("/api/v1/customers?created_before=9999-12-31", "created_before"),
    ("/api/v1/customers?created_after=1899-12-31", "created_after"),
    ("/api/v1/tasks?due_after=0001-01-01T00:00:00", "due_after"),
    ("/api/v1/tasks?due_before=9999-12-31T23:59:59", "due_before"),
    ("/api/v1/kpis?start=0001-01-01&end=0001-12-31", "start"),
    ("/api/v1/kpis?start=9999-01-01&end=9999-12-31", "start"),
    ("/api/v1/interactions?occurred_after=0001-01-01T00:00:00", None),
])
def test_api_date_out_of_range_is_422_naming_the_parameter(api, url, param):
    response = api.get(url)
    if param is None:  # not a parameter of this operation: ignored, but never a 500
        assert response.status_code < 500
        return
    body = assert_problem(response, 422, param)
    assert "1900" in body["errors"][param][0]


@pytest.mark.parametrize("moment", ["1982-08-27T20:49-20:59", "2020-01-01T00:00+15:00"])
def test_api_moment_with_an_impossible_utc_offset_is_422(api, moment):
    # PostgreSQL refuses offsets beyond ±15:59 (found by schemathesis as a 500 there).
    response = api.get("/api/v1/orders", {"placed_before": moment})
    assert_problem(response, 422, "placed_before")


def test_api_moment_with_a_real_utc_offset_is_accepted(api):
    assert api.get("/api/v1/orders", {"placed_before": "2020-01-01T00:00+14:00"}).status_code == 200
    assert api.get("/api/v1/orders", {"placed_before": "2020-01-01T00:00-12:00"}).status_code == 200


def test_api_date_in_range_still_filters(api):
    assert api.get("/api/v1/customers?created_after=1900-01-01&created_before=2200-12-31").status_code == 200
    assert api.get("/api/v1/tasks?due_after=2020-01-01T00:00:00").status_code == 200
    assert api.get("/api/v1/kpis?start=2026-01-01&end=2026-01-31").status_code == 200


# ------------------------------------------------------------------ date bounds, pages

@pytest.mark.parametrize("query", [
    "created_from=0001-01-01", "created_to=9999-12-31", "created_from=0001-01-01&created_to=9999-12-31",
])
def test_customer_list_page_shows_a_form_error_for_a_far_off_date(web, query):
    response = web.get(f"/customers/?{query}")
    assert response.status_code == 200
    assert b"1900" in response.content


@pytest.mark.parametrize("query", ["created_from=0001-01-01", "created_to=9999-12-31"])
def test_customer_export_refuses_a_far_off_date_with_400(web, query):
    response = web.get(f"/customers/export.csv?{query}")
    assert response.status_code == 400
    assert b"1900" in response.content


@pytest.mark.parametrize("query", ["start=0001-01-01&end=0001-12-31", "start=9999-01-01&end=9999-12-31",
                                   "start=0001-01-01&end=2026-01-01"])
def test_value_dashboard_shows_a_form_error_for_a_far_off_date(web, query):
    response = web.get(f"/value/?{query}")
    assert response.status_code == 200
    assert b"1900" in response.content


def test_value_chart_export_refuses_a_far_off_date(web):
    response = web.get("/value/export/revenue.csv?start=0001-01-01&end=0001-12-31")
    assert response.status_code in (400, 404)


# ------------------------------------------------------------------ scoring date within the data

@pytest.fixture
def first_order(admin_user):
    import datetime as dt

    from valuecrm.customers.services import customer_create
    from valuecrm.orders.services import order_create

    customer = customer_create(actor=admin_user, data={"name": "Li"})
    order_create(actor=admin_user, data={"customer_id": customer.pk, "external_id": "A-1",
                                         "total_amount": "10.00", "placed_at": "2024-03-05T10:00:00"})
    return dt.date(2024, 3, 5)


@pytest.mark.parametrize("as_of", ["0001-01-01", "1899-12-31", "9999-12-31"])
def test_score_run_with_a_far_off_date_is_422(api, first_order, as_of):
    from valuecrm.insights.models import ScoreRun

    response = api.post("/api/v1/score-runs", json.dumps({"as_of": as_of}), content_type="application/json")
    assert_problem(response, 422, "as_of")
    assert ScoreRun.objects.count() == 0


def test_score_run_before_the_first_order_is_422_naming_the_first_order(api, first_order):
    from valuecrm.insights.models import ScoreRun

    response = api.post("/api/v1/score-runs", json.dumps({"as_of": "2024-03-04"}),
                        content_type="application/json")
    body = assert_problem(response, 422, "as_of")
    assert "2024-03-05" in body["errors"]["as_of"][0]
    assert ScoreRun.objects.count() == 0


def test_score_run_on_the_first_order_day_is_queued(api, first_order, django_capture_on_commit_callbacks):
    from valuecrm.insights.models import ScoreRun

    response = api.post("/api/v1/score-runs", json.dumps({"as_of": "2024-03-05"}),
                        content_type="application/json")
    assert response.status_code == 202, response.content
    assert ScoreRun.objects.get().as_of.isoformat() == "2024-03-05"


# ------------------------------------------------------------------ body size and JSON depth

def test_json_body_over_the_limit_is_413_problem(api):
    body = json.dumps({"name": "x" * (2_621_440 + 10)})
    response = api.post("/api/v1/customers", body, content_type="application/json")
    problem = assert_problem(response, 413, "body")
    assert problem["code"] == "payload_too_large"


def test_the_body_limit_is_a_setting(api, settings):
    settings.VALUECRM_MAX_BODY_BYTES = 1000
    response = api.post("/api/v1/customers", json.dumps({"name": "y" * 1000}), content_type="application/json")
    assert_problem(response, 413, "body")
    small = api.post("/api/v1/customers", json.dumps({"name": "Small"}), content_type="application/json")
    assert small.status_code == 201, small.content


def test_a_page_form_over_the_limit_is_413(web):
    response = web.post("/customers/new/", "name=" + "z" * 2_700_000,
                        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_a_multipart_form_field_over_the_limit_is_a_4xx(web, api):
    # Within the upload limit as a whole, but one non-file field over Django's limit.
    assert web.post("/customers/new/", {"name": "z" * 2_700_000}).status_code == 400
    assert_problem(api.post("/api/v1/imports", {"kind": "customers", "mapping": "z" * 2_700_000}), 413)


def test_a_file_upload_may_exceed_the_json_limit(api, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.VALUECRM_MAX_BODY_BYTES = 1000
    rows = "name,email\n" + "".join(f"P{i},p{i}@example.cn\n" for i in range(200))
    upload = SimpleUploadedFile("people.csv", rows.encode(), content_type="text/csv")
    response = api.post("/api/v1/imports", {"file": upload, "kind": "customers"})
    assert response.status_code == 201, response.content[:300]


def test_a_file_upload_over_the_upload_limit_is_413(api, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.VALUECRM_MAX_UPLOAD_BYTES = 5000
    upload = SimpleUploadedFile("big.csv", b"name\n" + b"abcdefghi\n" * 1000, content_type="text/csv")
    response = api.post("/api/v1/imports", {"file": upload, "kind": "customers"})
    assert_problem(response, 413, "body")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [65, 50_000])
def test_json_body_nested_too_deep_is_400(api, depth):
    body = '{"name": "Deep", "custom_fields": {"x": ' + _nested(depth) + "}}"
    response = api.post("/api/v1/customers", body, content_type="application/json")
    problem = assert_problem(response, 400, "body")
    assert problem["code"] == "json_too_deep"


def test_json_nested_64_deep_is_read_normally(api):
    body = '{"name": "Shallow", "custom_fields": {"x": ' + _nested(62) + "}}"
    response = api.post("/api/v1/customers", body, content_type="application/json")
    assert response.status_code == 422  # a validation error about the field, not about depth
    assert "custom_fields.x" in "".join(response.json()["errors"])


def test_brackets_inside_strings_do_not_count_as_depth(api):
    response = api.post("/api/v1/customers", json.dumps({"name": "[" * 70 + '"{' * 60}),
                        content_type="application/json")
    assert response.status_code == 201, response.content


def test_import_options_nested_50000_deep_is_400_naming_the_field(api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("people.csv", b"name\nLi\n", content_type="text/csv")
    options = '{"source": ' + _nested(50_000) + "}"
    response = api.post("/api/v1/imports", {"file": upload, "kind": "customers", "options": options})
    assert_problem(response, 400, "options")
