"""/api/v1 contact points, notes, interactions and tasks."""

from datetime import UTC, datetime

from valuecrm.customers.models import ContactPoint, Interaction, Note, Task
from valuecrm.customers.services import interaction_create, task_create

from .conftest import assert_problem, send

# ---------------------------------------------------------------- contact points

def test_contact_points_list_add_delete(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    url = f"/api/v1/customers/{north_customer.pk}/contact-points"

    listed = client.get(url).json()
    assert {(p["kind"], p["value"], p["is_primary"]) for p in listed} == {
        ("email", "wang@example.cn", True), ("phone", "+8613800138000", True),
    }

    response = send(client, "post", url, {"kind": "wechat", "value": "wangfang88", "label": "personal"})
    assert response.status_code == 201, response.content
    point_id = response.json()["id"]
    assert response.json()["customer_id"] == north_customer.pk

    assert client.delete(f"/api/v1/contact-points/{point_id}").status_code == 204
    assert not ContactPoint.objects.filter(pk=point_id).exists()


def test_contact_point_bad_input_and_duplicates(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    url = f"/api/v1/customers/{north_customer.pk}/contact-points"

    assert_problem(send(client, "post", url, {"kind": "fax", "value": "1"}), 422, "kind")
    assert_problem(send(client, "post", url, {"kind": "phone", "value": "abc"}), 422, "value")
    assert_problem(send(client, "post", url, {"kind": "email", "value": ""}), 422, "value")
    assert_problem(send(client, "post", url, {"kind": "email", "value": "WANG@example.cn"}), 409)
    assert ContactPoint.objects.count() == 2


def test_contact_point_of_other_team_is_404(api_client_for, rep_south, north_customer):
    point = north_customer.contact_points.first()
    assert_problem(api_client_for(rep_south).delete(f"/api/v1/contact-points/{point.pk}"), 404)
    assert ContactPoint.objects.filter(pk=point.pk).exists()


# ---------------------------------------------------------------- notes

def test_notes_create_and_list_by_customer(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    for body in ("first", "second"):
        response = send(client, "post", "/api/v1/notes",
                        {"customer_id": north_customer.pk, "body": body})
        assert response.status_code == 201, response.content
        assert response.json()["author_id"] == rep_north.pk

    page = client.get(f"/api/v1/notes?customer_id={north_customer.pk}&limit=1").json()
    assert [n["body"] for n in page["items"]] == ["second"]
    rest = client.get(f"/api/v1/notes?customer_id={north_customer.pk}&cursor={page['next_cursor']}")
    assert [n["body"] for n in rest.json()["items"]] == ["first"]


def test_notes_refuse_blank_and_other_team(api_client_for, rep_north, rep_south, north_customer):
    assert_problem(send(api_client_for(rep_north), "post", "/api/v1/notes",
                        {"customer_id": north_customer.pk, "body": ""}), 422, "body")
    south = api_client_for(rep_south)
    assert_problem(send(south, "post", "/api/v1/notes",
                        {"customer_id": north_customer.pk, "body": "sneaky"}), 404)
    assert_problem(south.get(f"/api/v1/notes?customer_id={north_customer.pk}"), 404)
    assert_problem(south.get("/api/v1/notes"), 422, "customer_id")
    assert Note.objects.count() == 0


# ---------------------------------------------------------------- interactions

def test_interactions_crud(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    response = send(client, "post", "/api/v1/interactions", {
        "customer_id": north_customer.pk, "kind": "call", "direction": "inbound",
        "occurred_at": "2024-06-01T09:30:00", "subject": "Asked about delivery",
    })
    assert response.status_code == 201, response.content
    created = response.json()
    # A naive time is read in the site's zone (Asia/Shanghai): 09:30 there is 01:30 UTC.
    occurred = datetime.fromisoformat(created["occurred_at"].replace("Z", "+00:00"))
    assert occurred == datetime(2024, 6, 1, 1, 30, tzinfo=UTC)
    url = f"/api/v1/interactions/{created['id']}"

    assert client.get(url).json()["subject"] == "Asked about delivery"
    patched = send(client, "patch", url, {"subject": "Delivery question", "kind": "chat"}).json()
    assert (patched["subject"], patched["kind"]) == ("Delivery question", "chat")
    listed = client.get(f"/api/v1/interactions?customer_id={north_customer.pk}").json()
    assert [i["id"] for i in listed["items"]] == [created["id"]]
    assert client.delete(url).status_code == 204
    assert Interaction.objects.count() == 0


def test_interactions_bad_input(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    base = {"customer_id": north_customer.pk, "kind": "call"}

    assert_problem(send(client, "post", "/api/v1/interactions", {**base, "kind": "smoke"}), 422, "kind")
    assert_problem(send(client, "post", "/api/v1/interactions",
                        {**base, "occurred_at": "yesterday"}), 422, "occurred_at")
    assert_problem(send(client, "post", "/api/v1/interactions",
                        {**base, "subject": "s" * 201}), 422, "subject")
    assert Interaction.objects.count() == 0


def test_interactions_of_other_team_are_invisible(api_client_for, rep_north, rep_south,
                                                  north_customer):
    call = interaction_create(actor=rep_north, customer=north_customer, kind="call")
    client = api_client_for(rep_south)
    url = f"/api/v1/interactions/{call.pk}"

    assert client.get("/api/v1/interactions").json()["items"] == []
    assert_problem(client.get(url), 404)
    assert_problem(send(client, "patch", url, {"subject": "x"}), 404)
    assert_problem(client.delete(url), 404)
    assert_problem(send(client, "post", "/api/v1/interactions",
                        {"customer_id": north_customer.pk, "kind": "call"}), 404)
    assert Interaction.objects.get().subject == ""


# ---------------------------------------------------------------- tasks

def test_tasks_crud_and_filters(api_client_for, rep_north, north_customer):
    client = api_client_for(rep_north)
    response = send(client, "post", "/api/v1/tasks", {
        "title": "Send quote", "customer_id": north_customer.pk, "due_at": "2030-01-02T10:00:00+08:00",
    })
    assert response.status_code == 201, response.content
    task = response.json()
    assert task["assignee_id"] == rep_north.pk
    url = f"/api/v1/tasks/{task['id']}"

    assert [t["id"] for t in client.get("/api/v1/tasks?assignee=me&done=false").json()["items"]] == [task["id"]]
    assert client.get("/api/v1/tasks?due_before=2029-12-31T00:00:00Z").json()["items"] == []
    done = send(client, "patch", url, {"done": True}).json()
    assert done["done"] is True and done["done_at"] is not None
    assert client.get("/api/v1/tasks?done=false").json()["items"] == []
    assert client.delete(url).status_code == 204
    assert Task.objects.count() == 0


def test_tasks_bad_input_and_permissions(api_client_for, rep_north, rep_south, north_customer):
    client = api_client_for(rep_north)
    assert_problem(send(client, "post", "/api/v1/tasks", {"title": ""}), 422, "title")
    assert_problem(send(client, "post", "/api/v1/tasks", {"title": "x", "due_at": "soon"}), 422, "due_at")
    assert_problem(send(client, "post", "/api/v1/tasks",
                        {"title": "x", "assignee_id": rep_south.pk}), 403, "assignee_id")
    assert_problem(client.get("/api/v1/tasks?assignee=someone"), 422, "assignee")
    assert Task.objects.count() == 0

    task = task_create(actor=rep_north, title="Private", customer=north_customer)
    south = api_client_for(rep_south)
    assert_problem(send(south, "post", "/api/v1/tasks",
                        {"title": "x", "customer_id": north_customer.pk}), 422, "customer_id")
    assert south.get("/api/v1/tasks").json()["items"] == []
    assert_problem(south.get(f"/api/v1/tasks/{task.pk}"), 404)
    assert_problem(send(south, "patch", f"/api/v1/tasks/{task.pk}", {"done": True}), 404)
    assert_problem(south.delete(f"/api/v1/tasks/{task.pk}"), 404)
    task.refresh_from_db()
    assert task.done is False
    assert Task.objects.count() == 1
