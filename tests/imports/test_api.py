import json

from django.core.files.uploadedfile import SimpleUploadedFile

from valuecrm.customers.models import Customer

CSV = "姓名,手机号,邮箱\n张三,13800138000,z@x.cn\n李四,12345,l@x.cn\n".encode("gbk")


def upload(client, data=CSV, **fields):
    payload = {"file": SimpleUploadedFile("c.csv", data, content_type="text/csv"),
               "kind": "customers", **fields}
    return client.post("/api/v1/imports", payload)


def test_read_only_role_gets_403(api_client_for, make_user, data_dir):
    response = upload(api_client_for(make_user("viewer", role="read_only")))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"


def test_bad_mapping_is_a_422_naming_the_field(api_client_for, admin_user, data_dir):
    response = upload(api_client_for(admin_user), mapping=json.dumps({"姓名": "nickname"}))
    assert response.status_code == 422
    assert response.json()["errors"] == {"mapping.姓名": ["Unknown field “nickname”."],
                                         "mapping": ["Map a column to the required field “Name”."]}
    response = upload(api_client_for(admin_user), options="{not json")
    assert response.status_code == 422 and response.json()["errors"] == {"options": ["Expected JSON."]}
    response = upload(api_client_for(admin_user), kind="planets")
    assert response.status_code == 422 and "kind" in response.json()["errors"]


def test_unreadable_file_is_a_422(api_client_for, admin_user, data_dir):
    response = upload(api_client_for(admin_user), data=b"")
    assert response.status_code == 422
    assert response.json()["errors"] == {"file": ["The file is empty."]}


def test_import_runs_in_the_worker_and_reports(api_client_for, admin_user, data_dir,
                                              django_capture_on_commit_callbacks):
    client = api_client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, options=json.dumps({"mode": "partial"}))
    assert response.status_code == 201
    run_id = response.json()["id"]
    body = client.get(f"/api/v1/imports/{run_id}").json()
    assert (body["status"], body["created"], body["failed"], body["encoding"]) == (
        "succeeded", 1, 1, "gb18030")
    assert Customer.objects.filter(name="张三").exists()
    listing = client.get("/api/v1/imports").json()
    assert [r["id"] for r in listing] == [run_id]
    errors = client.get(f"/api/v1/imports/{run_id}/errors.csv")
    text = b"".join(errors.streaming_content).decode("utf-8-sig")
    assert text.splitlines() == ["row,姓名,手机号,邮箱,error",
                                 "3,李四,12345,l@x.cn,手机号: “12345” is not a valid phone number."]


def test_other_users_runs_are_404(api_client_for, admin_user, rep_north, rep_south, data_dir,
                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = upload(api_client_for(rep_north)).json()["id"]
    assert api_client_for(rep_south).get(f"/api/v1/imports/{run_id}").status_code == 404
    assert api_client_for(rep_south).get("/api/v1/imports").json() == []
    assert api_client_for(admin_user).get(f"/api/v1/imports/{run_id}").status_code == 200


def test_mapping_values_must_be_field_names(api_client_for, admin_user, data_dir):
    response = upload(api_client_for(admin_user), mapping=json.dumps({"姓名": ["name"]}))
    assert response.status_code == 422
    assert response.json()["errors"] == {"mapping.姓名": ["Expected a field name."]}
    response = upload(api_client_for(admin_user), options=json.dumps({"phone_region": 5}))
    assert response.status_code == 422 and "options.phone_region" in response.json()["errors"]
