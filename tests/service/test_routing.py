"""Routing by team (round-robin, least open, skills; off-calendar agents skipped) and
escalation to the team lead, then the manager (idempotent, with a task each)."""

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.customers.models import Task
from valuecrm.service.models import ServiceTeam, Ticket, TicketEscalation
from valuecrm.service.selectors import visible_tickets
from valuecrm.service.services import (
    agent_profile_save,
    service_team_save,
    sla_policy_save,
    sla_sweep,
    ticket_create,
)

from .conftest import set_tier

BJ = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=BJ)


def at(*args):
    return datetime(*args, tzinfo=BJ)


@pytest.fixture
def desk(db, admin_user, make_user):
    from valuecrm.accounts.models import Team

    team = Team.objects.create(name="Service desk")
    agents = [make_user(f"agent_{n}", role="support_agent", team=team) for n in ("a", "b", "c")]
    lead = make_user("lead_zhou", role="support_agent", team=team, email="zhou@example.com")
    boss = make_user("boss_qian", role="admin", email="qian@example.com")
    return {"team": team, "agents": agents, "lead": lead, "boss": boss}


def _routing(admin_user, desk, mode, **extra):
    return service_team_save(actor=admin_user, team=desk["team"], data={"routing": mode, **extra})


def _open(actor, customer, team, now=MONDAY_10, **data):
    return ticket_create(actor=actor, data={"customer_id": customer.pk, "subject": "查询", "team_id": team.pk,
                                            **data}, now=now)


def test_round_robin_is_fair_across_nine_tickets_and_three_agents(admin_user, customer, policies, desk):
    # The lead works tickets too; keep them out of the rotation with an out-of-office span.
    agent_profile_save(actor=admin_user, user=desk["lead"], data={
        "away_from": "2026-12-01T00:00:00+08:00", "away_until": "2026-12-31T00:00:00+08:00"})
    _routing(admin_user, desk, "round_robin")
    got = [_open(admin_user, customer, desk["team"]).assignee.username for _ in range(9)]
    assert got == ["agent_a", "agent_b", "agent_c"] * 3
    assert Counter(got) == {"agent_a": 3, "agent_b": 3, "agent_c": 3}


def test_least_open_tickets_picks_the_agent_with_fewest_active(admin_user, customer, policies, desk):
    a, b, c = desk["agents"]
    _routing(admin_user, desk, "least_open")
    agent_profile_save(actor=admin_user, user=desk["lead"], data={"away_until": "2027-01-01T00:00:00+08:00"})
    for who in (a, a, b):
        _open(admin_user, customer, desk["team"], assignee_id=who.pk)
    assert _open(admin_user, customer, desk["team"]).assignee == c
    assert _open(admin_user, customer, desk["team"]).assignee == b  # b 1, c 1: lower id


def test_skills_route_by_category_and_nobody_skilled_leaves_it_for_the_lead(admin_user, customer, policies,
                                                                            desk):
    a, b, c = desk["agents"]
    _routing(admin_user, desk, "skills")
    agent_profile_save(actor=admin_user, user=b, data={"skills": ["Invoice", "退货"]})
    agent_profile_save(actor=admin_user, user=c, data={"skills": ["退货"]})
    assert _open(admin_user, customer, desk["team"], category="invoice").assignee == b
    assert _open(admin_user, customer, desk["team"], category="退货").assignee == c  # b has 1 open, c 0
    assert _open(admin_user, customer, desk["team"], category="warranty").assignee is None


def test_an_agent_off_their_calendar_is_skipped(admin_user, customer, policies, desk, office):
    from valuecrm.service.services import calendar_save

    a, b, c = desk["agents"]
    nights = calendar_save(actor=admin_user, data={"name": "Night shift", "timezone": "Asia/Shanghai",
                                                   "hours": [{"weekday": d, "start": "20:00", "end": "23:59"}
                                                             for d in range(7)]})
    agent_profile_save(actor=admin_user, user=a, data={"calendar_id": nights.pk})
    agent_profile_save(actor=admin_user, user=desk["lead"], data={"calendar_id": nights.pk})
    agent_profile_save(actor=admin_user, user=b, data={"calendar_id": office.pk})
    _routing(admin_user, desk, "round_robin")
    got = [_open(admin_user, customer, desk["team"]).assignee.username for _ in range(4)]
    assert got == ["agent_b", "agent_c", "agent_b", "agent_c"]
    # At 21:00 only the night shift works; the rotation goes on after agent_c (the lead's id is next).
    late = [_open(admin_user, customer, desk["team"], now=at(2026, 12, 7, 21, 0)).assignee.username
            for _ in range(2)]
    assert late == ["lead_zhou", "agent_a"]


def test_queue_boost_is_a_team_setting_with_its_reason(admin_user, customer, policies, desk):
    set_tier(customer, "A")
    _routing(admin_user, desk, "least_open")
    boosted = _open(admin_user, customer, desk["team"])
    assert (boosted.queue_rank, boosted.queue_reason) == (2, "tier_a")
    _routing(admin_user, desk, "least_open", queue_boost=False)
    plain = _open(admin_user, customer, desk["team"])
    assert (plain.queue_rank, plain.queue_reason) == (0, "")


def test_routing_does_not_change_what_a_rep_sees(admin_user, rep_north, rep_south, policies, desk):
    from valuecrm.customers.services import customer_create

    mine = customer_create(actor=admin_user, data={"name": "北方客户", "owner_id": rep_north.pk})
    theirs = customer_create(actor=admin_user, data={"name": "南方客户", "owner_id": rep_south.pk})
    _routing(admin_user, desk, "round_robin")
    t1 = _open(admin_user, mine, desk["team"])
    t2 = _open(admin_user, theirs, desk["team"])
    assert t1.assignee is not None and t2.assignee is not None
    assert list(visible_tickets(rep_north).values_list("pk", flat=True)) == [t1.pk]
    assert list(visible_tickets(rep_south).values_list("pk", flat=True)) == [t2.pk]


def test_settings_need_the_capability_and_name_bad_fields(agent, admin_user, desk):
    with pytest.raises(PermissionDenied):
        service_team_save(actor=agent, team=desk["team"], data={"routing": "skills"})
    with pytest.raises(ValidationFailed) as info:
        service_team_save(actor=admin_user, team=desk["team"], data={
            "routing": "random", "queue_boost": "yes", "lead_id": 999999})
    assert sorted(info.value.errors) == ["lead_id", "queue_boost", "routing"]
    assert ServiceTeam.objects.count() == 0
    with pytest.raises(ValidationFailed) as info:
        agent_profile_save(actor=admin_user, user=desk["lead"], data={
            "skills": "invoice", "calendar_id": 999999, "away_from": "2026-12-09T00:00:00+08:00",
            "away_until": "2026-12-08T00:00:00+08:00"})
    assert sorted(info.value.errors) == ["away_until", "calendar_id", "skills"]
    # An agent may set their own profile (skills, out of office), not another's.
    agent_profile_save(actor=agent, user=agent, data={"skills": ["Billing"]})
    with pytest.raises(PermissionDenied):
        agent_profile_save(actor=agent, user=desk["lead"], data={"skills": ["x"]})


# ---------------------------------------------------------------- escalation

@pytest.fixture
def escalating(admin_user, customer, office, desk):
    service_team_save(actor=admin_user, team=desk["team"], data={
        "routing": "round_robin", "lead_id": desk["lead"].pk, "manager_id": desk["boss"].pk})
    return sla_policy_save(actor=admin_user, data={
        "name": "High", "calendar_id": office.pk, "priority": "high", "first_response_minutes": 30,
        "resolution_minutes": 240, "escalate_lead_at": 90, "escalate_manager_after": 60})


def _escalations(ticket):
    return [(e.level, e.target.username, e.clock) for e in TicketEscalation.objects.filter(ticket=ticket)]


def test_escalation_goes_to_the_lead_at_90_then_the_manager_an_hour_after_breach(admin_user, customer, desk,
                                                                                escalating):
    t = _open(admin_user, customer, desk["team"], now=at(2026, 12, 7, 9, 0), priority="high")
    assert sla_sweep(now=at(2026, 12, 7, 9, 26)) == 1  # 86 %: the 75 % warning only
    assert _escalations(t) == []
    assert sla_sweep(now=at(2026, 12, 7, 9, 27)) == 2  # 90 %: warning + the lead
    assert _escalations(t) == [(1, "lead_zhou", "first_response")]
    assert sla_sweep(now=at(2026, 12, 7, 9, 45)) == 1  # breached; 15 minutes over: not yet the manager
    assert sla_sweep(now=at(2026, 12, 7, 10, 30)) == 1  # 60 minutes over: the manager
    assert _escalations(t) == [(1, "lead_zhou", "first_response"), (2, "boss_qian", "first_response")]
    # Idempotent: later sweeps add nothing.
    assert sla_sweep(now=at(2026, 12, 7, 11, 0)) == 0
    assert sla_sweep(now=at(2026, 12, 8, 11, 0)) == 0
    assert TicketEscalation.objects.filter(ticket=t).count() == 2
    tasks = list(Task.objects.filter(customer=customer).order_by("id").values_list("assignee__username", "title"))
    assert tasks == [("lead_zhou", f"Escalated ticket #{t.pk}: 查询"), ("boss_qian", f"Escalated ticket #{t.pk}: 查询")]
    payloads = [(e.payload["level"], e.payload["target_id"], e.payload["clock"])
                for e in OutboxEvent.objects.filter(name="ticket.escalated").order_by("seq")]
    assert payloads == [(1, desk["lead"].pk, "first_response"), (2, desk["boss"].pk, "first_response")]
    t.refresh_from_db()
    assert t.escalation_level == 2


def test_by_default_the_lead_is_escalated_on_breach_only_and_never_the_manager(admin_user, customer, desk,
                                                                               policies):
    service_team_save(actor=admin_user, team=desk["team"], data={
        "lead_id": desk["lead"].pk, "manager_id": desk["boss"].pk})
    t = _open(admin_user, customer, desk["team"], now=at(2026, 12, 7, 9, 0), priority="high")
    sla_sweep(now=at(2026, 12, 7, 9, 28))  # 93 %
    assert _escalations(t) == []
    sla_sweep(now=at(2026, 12, 7, 9, 31))
    sla_sweep(now=at(2026, 12, 7, 17, 0))
    assert _escalations(t) == [(1, "lead_zhou", "first_response")]


def test_no_escalation_outside_business_hours_or_without_a_lead(admin_user, customer, desk, escalating):
    t = _open(admin_user, customer, desk["team"], now=at(2026, 12, 7, 17, 50), priority="high")
    assert sla_sweep(now=at(2026, 12, 7, 23, 0)) == 0  # the clock stopped at 18:00 — and it is night
    assert _escalations(t) == []
    ServiceTeam.objects.filter(team=desk["team"]).update(lead=None)
    sla_sweep(now=at(2026, 12, 8, 9, 30))  # breached next morning; no lead to tell
    assert _escalations(t) == []
    assert Ticket.objects.get(pk=t.pk).escalation_level == 1


def test_escalation_policy_fields_are_checked(admin_user, office):
    with pytest.raises(ValidationFailed) as info:
        sla_policy_save(actor=admin_user, data={
            "name": "Bad", "calendar_id": office.pk, "priority": "low", "first_response_minutes": 30,
            "resolution_minutes": 240, "escalate_lead_at": 75, "escalate_manager_after": -5})
    assert sorted(info.value.errors) == ["escalate_lead_at", "escalate_manager_after"]



def test_routing_page_saves_team_and_own_profile_and_refuses_bad_input(client, admin_user, agent, desk):
    from valuecrm.service.models import AgentProfile

    client.force_login(admin_user)
    page = client.get("/service/routing/")
    assert page.status_code == 200
    assert b'data-agent="agent_a"' in page.content
    saved = client.post("/service/routing/", {"form": "team", "team": desk["team"].pk, "routing": "skills",
                                              "lead_id": desk["lead"].pk, "manager_id": ""})
    assert saved.status_code == 302
    setting = ServiceTeam.objects.get(team=desk["team"])
    assert (setting.routing, setting.queue_boost, setting.lead_id, setting.manager_id) == (
        "skills", False, desk["lead"].pk, None)
    bad = client.post("/service/routing/", {"form": "team", "team": desk["team"].pk, "routing": "random"})
    assert bad.status_code == 422
    assert ServiceTeam.objects.get(team=desk["team"]).routing == "skills"
    client.force_login(agent)
    mine = client.post("/service/routing/", {"form": "agent", "user": agent.pk, "skills": "Invoice，退货, invoice",
                                             "calendar_id": "", "away_until": "2026-12-24T18:00"})
    assert mine.status_code == 302
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.skills, profile.away_until.isoformat()) == (["invoice", "退货"], "2026-12-24T10:00:00+00:00")
    refused = client.post("/service/routing/", {"form": "agent", "user": desk["lead"].pk, "skills": "x"})
    assert refused.status_code == 403
    assert not AgentProfile.objects.filter(user=desk["lead"]).exists()
