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


def _put(client, url, body):
    return client.put(url, json.dumps(body), content_type="application/json")


def test_team_routing_agent_profile_and_escalations(api_client_for, admin_user, agent, make_user, customer,
                                                    policies):
    from valuecrm.accounts.models import Team

    team = Team.objects.create(name="一线")
    a = make_user("agent_wu", role="support_agent", team=team)
    lead = make_user("lead_he", role="support_agent", team=team)
    admin = api_client_for(admin_user)
    put = _put(admin, f"/api/v1/service/teams/{team.pk}", {"routing": "skills", "lead_id": lead.pk})
    assert (put.status_code, put.json()) == (200, {"team_id": team.pk, "team_name": "一线", "routing": "skills",
                                                   "queue_boost": True, "lead_id": lead.pk, "manager_id": None})
    assert [t["team_id"] for t in admin.get("/api/v1/service/teams").json()] == [team.pk]
    prof = _put(admin, f"/api/v1/service/agents/{a.pk}", {"skills": ["Refund"], "away_until": None})
    assert (prof.status_code, prof.json()["skills"]) == (200, ["refund"])
    created = _post(api_client_for(agent), "/api/v1/tickets", {"customer_id": customer.pk, "subject": "退款",
                                                               "category": "refund", "team_id": team.pk})
    assert (created.json()["assignee_id"], created.json()["team_id"], created.json()["escalation_level"]) == (
        a.pk, team.pk, 0)
    assert admin.get(f"/api/v1/tickets/{created.json()['id']}/escalations").json() == []
    bad = _put(admin, f"/api/v1/service/agents/{a.pk}", {"calendar_id": 987654})
    assert (bad.status_code, list(bad.json()["errors"])) == (422, ["calendar_id"])
    assert _put(api_client_for(agent), f"/api/v1/service/teams/{team.pk}", {}).status_code == 403
    assert _put(admin, "/api/v1/service/teams/987654", {}).status_code == 404
