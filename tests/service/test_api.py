"""The service API: the same services and permissions as the pages, problem+json errors."""

import json

from .conftest import OFFICE_HOURS, set_tier


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_calendar_policy_ticket_reply_and_kpis(api_client_for, admin_user, agent, customer):
    admin, api = api_client_for(admin_user), api_client_for(agent)
    cal = _post(admin, "/api/v1/service/calendars", {"name": "北京", "timezone": "Asia/Shanghai",
                                                      "hours": OFFICE_HOURS, "holidays": "CN"})
    assert cal.status_code == 201
    assert cal.json()["hours"][0] == {"weekday": 0, "start": "09:00", "end": "18:00"}
    policy = _post(admin, "/api/v1/service/sla-policies", {
        "name": "A", "calendar_id": cal.json()["id"], "priority": "urgent", "tier": "A",
        "first_response_minutes": 15, "resolution_minutes": 120, "next_response_minutes": 30})
    assert (policy.status_code, policy.json()["tier"], policy.json()["next_response_minutes"]) == (201, "A", 30)
    set_tier(customer, "A")
    created = _post(api, "/api/v1/tickets", {"customer_id": customer.pk, "subject": "坏了", "priority": "urgent",
                                             "opened_at": "2026-12-07T09:00:00+08:00"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["sla_policy_id"], body["first_response_due_at"], body["resolution_due_at"],
            body["next_response_due_at"]) == (policy.json()["id"], "2026-12-07T01:15:00Z", "2026-12-07T03:00:00Z",
                                              None)
    reply = _post(api, f"/api/v1/tickets/{body['id']}/replies", {"body": "您好"})
    assert (reply.status_code, reply.json()["kind"]) == (201, "reply")
    solved = api.patch(f"/api/v1/tickets/{body['id']}", json.dumps({"status": "solved"}),
                       content_type="application/json")
    assert solved.json()["status"] == "solved"
    kpis = api.get("/api/v1/service/kpis?period=365d").json()
    assert (kpis["tickets"], kpis["first_response_minutes"]["n"], kpis["resolution_minutes"]["n"]) == (1, 1, 1)


def test_errors_are_problems_naming_the_field(api_client_for, admin_user, agent, rep_north, customer):
    api = api_client_for(agent)
    bad = _post(api, "/api/v1/tickets", {"customer_id": 987654, "subject": "x"})
    assert (bad.status_code, bad["Content-Type"], list(bad.json()["errors"])) == (
        422, "application/problem+json", ["customer_id"])
    refused = _post(api_client_for(rep_north), "/api/v1/tickets", {"customer_id": customer.pk, "subject": "x"})
    assert refused.status_code == 403
    cal = _post(api_client_for(admin_user), "/api/v1/service/calendars", {
        "name": "x", "timezone": "Mars/Olympus", "hours": [{"weekday": 1, "start": "18:00", "end": "09:00"}]})
    assert (cal.status_code, sorted(cal.json()["errors"])) == (422, ["hours.0.end", "timezone"])
    assert api.get("/api/v1/tickets/424242").status_code == 404
