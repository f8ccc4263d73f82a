"""Ticket services: value-aware SLA choice, clocks that pause and survive a policy change,
permissions, visibility, routing, the status log, events and the SLA sweep."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from valuecrm.common.errors import Conflict, PermissionDenied, ValidationFailed
from valuecrm.service.models import Ticket, TicketStatusChange
from valuecrm.service.services import (
    sla_policy_save,
    sla_sweep,
    ticket_create,
    ticket_customer_message,
    ticket_reply,
    ticket_update,
)

from .conftest import set_tier

BJ = ZoneInfo("Asia/Shanghai")


def at(*args):
    return datetime(*args, tzinfo=BJ)


def test_a_tier_a_customer_gets_the_tighter_policy_and_jumps_the_queue(agent, customer, policies):
    set_tier(customer, "A")
    # Friday 4 Dec 2026 17:30 Beijing: 30 minutes left today, the rest on Monday.
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "快递破损"},
                      now=at(2026, 12, 4, 17, 30))
    assert t.sla_policy == policies["tier_a"]
    assert (t.queue_rank, t.queue_reason) == (2, "tier_a")
    assert t.first_response_due_at == at(2026, 12, 7, 9, 30)
    assert t.resolution_due_at == at(2026, 12, 7, 17, 30)  # 30 minutes on Friday + 510 on Monday


def test_other_tiers_get_the_any_tier_policy(agent, customer, policies):
    set_tier(customer, "B", stage="at_risk")
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "发票"},
                      now=at(2026, 12, 7, 9, 0))
    assert t.sla_policy == policies["normal"]
    assert (t.queue_rank, t.queue_reason) == (1, "at_risk")
    assert t.first_response_due_at == at(2026, 12, 7, 13, 0)
    assert t.resolution_due_at == at(2026, 12, 8, 18, 0)


def test_national_day_week_is_skipped(agent, customer, policies):
    # Wednesday 30 Sep 2026 17:00: 60 minutes that day, then 1–7 Oct are holidays,
    # Saturday 10 Oct is an adjusted working day (调休).
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "退货", "priority": "high"},
                      now=at(2026, 9, 30, 17, 0))
    assert t.first_response_due_at == at(2026, 9, 30, 17, 30)
    assert t.resolution_due_at == at(2026, 10, 8, 12, 0)


def test_waiting_pauses_resolution_only_and_keeps_consumed_minutes(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "尺码"},
                      now=at(2026, 12, 7, 9, 0))
    t = ticket_update(actor=agent, ticket=t, data={"status": "waiting"}, now=at(2026, 12, 7, 11, 0))
    assert (t.resolution_consumed, t.resolution_due_at, t.resolution_running_since) == (120, None, None)
    assert t.first_response_due_at == at(2026, 12, 7, 13, 0)  # the first-response clock does not pause
    # Two days later the customer answers: 1080 - 120 = 960 minutes left from Wed 10:00
    # (480 on Wednesday, 480 on Thursday).
    t = ticket_update(actor=agent, ticket=t, data={"status": "open"}, now=at(2026, 12, 9, 10, 0))
    assert t.resolution_due_at == at(2026, 12, 10, 17, 0)
    assert [(c.from_status, c.to_status) for c in TicketStatusChange.objects.filter(ticket=t)] == [
        ("", "new"), ("new", "waiting"), ("waiting", "open")]


def test_a_priority_change_switches_policy_and_keeps_the_time_spent(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "漏发"},
                      now=at(2026, 12, 7, 9, 0))
    t = ticket_update(actor=agent, ticket=t, data={"priority": "high"}, now=at(2026, 12, 7, 10, 0))
    assert t.sla_policy == policies["high"]
    assert t.resolution_consumed == 60
    assert t.resolution_due_at == at(2026, 12, 7, 13, 0)  # 240 - 60 = 180 minutes from 10:00


def outbox(*names):
    from valuecrm.common.models import OutboxEvent

    return [(e.name, e.payload) for e in OutboxEvent.objects.filter(name__in=names).order_by("seq")]


def test_reply_starts_work_and_stops_the_first_response_clock(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "物流"},
                      now=at(2026, 12, 7, 9, 0))
    ticket_reply(actor=agent, ticket=t, body="您好，已为您查询。", now=at(2026, 12, 7, 9, 20))
    t.refresh_from_db()
    assert (t.status, t.first_responded_at) == ("open", at(2026, 12, 7, 9, 20))
    assert [(n, p.get("to_status", p.get("kind"))) for n, p in outbox("ticket.status_changed", "ticket.replied")] == [
        ("ticket.replied", "reply"), ("ticket.status_changed", "open")]


def test_an_internal_note_is_not_a_response(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "物流"})
    ticket_reply(actor=agent, ticket=t, body="查仓库", kind="note")
    t.refresh_from_db()
    assert (t.status, t.first_responded_at) == ("new", None)


def test_roles_without_tickets_work_are_refused(rep_north, customer, policies):
    with pytest.raises(PermissionDenied):
        ticket_create(actor=rep_north, data={"customer_id": customer.pk, "subject": "x"})
    assert Ticket.objects.count() == 0


def test_bad_input_names_every_field_and_writes_nothing(agent, policies):
    with pytest.raises(ValidationFailed) as info:
        ticket_create(actor=agent, data={"customer_id": 999999, "subject": " ", "priority": "asap",
                                         "colour": "red"})
    assert sorted(info.value.errors) == ["colour", "customer_id", "priority", "subject"]
    assert Ticket.objects.count() == 0


def test_routing_picks_the_least_busy_agent(make_user, customer, policies):
    busy = make_user("busy", role="support_agent")
    idle = make_user("idle", role="support_agent")
    ticket_create(actor=busy, data={"customer_id": customer.pk, "subject": "1", "assignee_id": busy.pk})
    t = ticket_create(actor=busy, data={"customer_id": customer.pk, "subject": "2"})
    assert t.assignee == idle


def test_a_closed_ticket_is_final(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "x"})
    t = ticket_update(actor=agent, ticket=t, data={"status": "closed"})
    with pytest.raises(Conflict):
        ticket_update(actor=agent, ticket=t, data={"status": "open"})


def test_sla_warnings_and_breach_only_inside_business_hours(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "x", "priority": "high"},
                      now=at(2026, 12, 7, 9, 0))
    assert sla_sweep(now=at(2026, 12, 7, 9, 20)) == 0  # 20 of 30 minutes: 66 %
    assert sla_sweep(now=at(2026, 12, 7, 9, 23)) == 1  # 76 %
    assert sla_sweep(now=at(2026, 12, 7, 9, 24)) == 0  # 80 %: already warned
    assert sla_sweep(now=at(2026, 12, 7, 9, 28)) == 1  # 93 %
    assert sla_sweep(now=at(2026, 12, 7, 9, 31)) == 1  # breached
    t.refresh_from_db()
    assert t.sla_alert_level == 100
    assert [(n, p.get("percent"), p["clock"]) for n, p in outbox("ticket.sla_warning", "ticket.sla_breached")] == [
        ("ticket.sla_warning", 75, "first_response"), ("ticket.sla_warning", 90, "first_response"),
        ("ticket.sla_breached", None, "first_response")]


def test_no_warning_at_night(agent, customer, policies):
    ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "x", "priority": "high"},
                  now=at(2026, 12, 7, 17, 50))
    # By 22:00 the clock has not moved since 18:00 (10 of 30 minutes) — and it is night anyway.
    assert sla_sweep(now=at(2026, 12, 7, 22, 0)) == 0
    assert sla_sweep(now=at(2026, 12, 8, 9, 10)) == 0  # 20 of 30 minutes: 66 %
    assert sla_sweep(now=at(2026, 12, 8, 9, 13)) == 1  # 23 of 30: the 75 % warning, next morning


# ---------------------------------------------------------------- next response

@pytest.fixture
def next_response_policy(admin_user, policies):
    return sla_policy_save(actor=admin_user, policy=policies["normal"], data={"next_response_minutes": 120})


def test_next_response_runs_from_the_customers_message_after_a_reply_to_the_next_reply(
        agent, customer, next_response_policy):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "退款", "description": "还没到账"},
                      now=at(2026, 12, 4, 9, 0))
    assert t.next_response_due_at is None  # the opening message is the first response's business
    ticket_reply(actor=agent, ticket=t, body="正在处理", now=at(2026, 12, 4, 10, 0))
    # Friday 17:00: 60 minutes that day, 60 on Monday. A second message keeps the first start.
    ticket_customer_message(ticket=t, body="还是没有", now=at(2026, 12, 4, 17, 0))
    ticket_customer_message(ticket=t, body="请尽快", now=at(2026, 12, 7, 9, 30))
    t.refresh_from_db()
    assert (t.next_response_started_at, t.next_response_due_at) == (at(2026, 12, 4, 17, 0), at(2026, 12, 7, 10, 0))
    # On hold pauses resolution only: the next-response deadline stays.
    t = ticket_update(actor=agent, ticket=t, data={"status": "on_hold"}, now=at(2026, 12, 7, 9, 40))
    assert t.next_response_due_at == at(2026, 12, 7, 10, 0)
    ticket_reply(actor=agent, ticket=t, body="已退款", now=at(2026, 12, 7, 9, 50))
    t.refresh_from_db()
    assert (t.next_response_started_at, t.next_response_due_at, t.next_response_alert_level) == (None, None, 0)


def test_a_customer_reply_on_a_waiting_ticket_reopens_it_and_starts_the_clock(agent, customer,
                                                                              next_response_policy):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "尺码"}, now=at(2026, 12, 7, 9, 0))
    ticket_reply(actor=agent, ticket=t, body="请提供订单号", now=at(2026, 12, 7, 9, 10))
    ticket_update(actor=agent, ticket=t, data={"status": "waiting"}, now=at(2026, 12, 7, 9, 11))
    ticket_customer_message(ticket=t, body="订单号 123", now=at(2026, 12, 7, 11, 0))
    t.refresh_from_db()
    assert (t.status, t.next_response_due_at) == ("open", at(2026, 12, 7, 13, 0))
    assert [(n, p.get("to_status", p.get("kind"))) for n, p in outbox("ticket.status_changed", "ticket.replied")][-2:] \
        == [("ticket.replied", "inbound"), ("ticket.status_changed", "open")]
    t = ticket_update(actor=agent, ticket=t, data={"status": "solved"}, now=at(2026, 12, 7, 12, 30))
    assert t.next_response_due_at is None  # solving answers the customer too


def test_a_priority_change_moves_the_running_next_response_clock(admin_user, agent, customer,
                                                                 next_response_policy, policies):
    sla_policy_save(actor=admin_user, policy=policies["high"], data={"next_response_minutes": 30})
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "漏发"}, now=at(2026, 12, 7, 9, 0))
    ticket_reply(actor=agent, ticket=t, body="查询中", now=at(2026, 12, 7, 9, 5))
    ticket_customer_message(ticket=t, body="?", now=at(2026, 12, 7, 10, 0))
    t = ticket_update(actor=agent, ticket=t, data={"priority": "high"}, now=at(2026, 12, 7, 10, 10))
    assert t.next_response_due_at == at(2026, 12, 7, 10, 30)  # 30 minutes from the message, 10 already used


def test_no_next_response_target_means_no_clock(agent, customer, policies):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "发票"}, now=at(2026, 12, 7, 9, 0))
    ticket_reply(actor=agent, ticket=t, body="好的", now=at(2026, 12, 7, 9, 5))
    ticket_customer_message(ticket=t, body="谢谢", now=at(2026, 12, 7, 10, 0))
    t.refresh_from_db()
    assert (t.next_response_started_at, t.next_response_due_at) == (at(2026, 12, 7, 10, 0), None)


def test_next_response_warnings_and_breach_inside_business_hours_with_their_clock(agent, customer,
                                                                                  next_response_policy):
    t = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "x"}, now=at(2026, 12, 7, 9, 0))
    ticket_reply(actor=agent, ticket=t, body="收到", now=at(2026, 12, 7, 9, 10))
    ticket_customer_message(ticket=t, body="然后呢", now=at(2026, 12, 7, 16, 0))
    assert sla_sweep(now=at(2026, 12, 7, 17, 29)) == 0  # 89 of 120 minutes: 74 %
    assert sla_sweep(now=at(2026, 12, 7, 17, 30)) == 1  # 75 %
    assert sla_sweep(now=at(2026, 12, 7, 17, 50)) == 1  # 91 %
    assert sla_sweep(now=at(2026, 12, 7, 23, 0)) == 0  # due at 18:00, but night: nothing is delivered
    assert sla_sweep(now=at(2026, 12, 8, 8, 59)) == 0
    assert sla_sweep(now=at(2026, 12, 8, 9, 0)) == 1  # the breach, at opening time
    assert sla_sweep(now=at(2026, 12, 8, 9, 30)) == 0
    assert [(n, p.get("percent"), p["clock"]) for n, p in outbox("ticket.sla_warning", "ticket.sla_breached")] == [
        ("ticket.sla_warning", 75, "next_response"), ("ticket.sla_warning", 90, "next_response"),
        ("ticket.sla_breached", None, "next_response")]
    # The next cycle starts afresh.
    ticket_reply(actor=agent, ticket=t, body="已处理", now=at(2026, 12, 8, 9, 40))
    ticket_customer_message(ticket=t, body="好的", now=at(2026, 12, 8, 10, 0))
    t.refresh_from_db()
    assert (t.next_response_alert_level, t.next_response_due_at) == (0, at(2026, 12, 8, 12, 0))
    # The KPIs count both clocks and the one breach (the ticket's own columns were reset).
    from valuecrm.service.selectors import service_kpis

    kpi = service_kpis(agent, period="7d", now=at(2026, 12, 8, 12, 30))["next_response"]
    assert (kpi["started"], kpi["breached"], kpi["tickets_breached"], kpi["compliance"]["value"],
            kpi["compliance"]["n"]) == (2, 1, 1, 0.5, 2)


def test_policy_next_response_target_is_checked(admin_user, office):
    with pytest.raises(ValidationFailed) as info:
        sla_policy_save(actor=admin_user, data={
            "name": "N", "calendar_id": office.pk, "priority": "low", "first_response_minutes": 60,
            "resolution_minutes": 600, "next_response_minutes": 0})
    assert list(info.value.errors) == ["next_response_minutes"]
