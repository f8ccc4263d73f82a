"""The service demo: tickets with SLA due times from the real clock and conversations."""

from datetime import datetime
from zoneinfo import ZoneInfo

from valuecrm.demo.generate import demo_generate
from valuecrm.service import feedback, selectors
from valuecrm.service.models import SlaPolicy, Survey, TextAnalysis, Ticket, TicketMessage


def test_demo_writes_a_year_of_tickets_with_clocks_surveys_and_their_analysis(db, admin_user, sentiment_model):
    now = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    demo_generate(customers=120, seed=7, now=now)
    tickets = Ticket.objects.all()
    assert 20 <= tickets.count() <= 60
    assert SlaPolicy.objects.count() == 7
    assert not tickets.filter(first_response_due_at__isnull=True).exists()
    assert tickets.filter(status="closed").exists() and tickets.filter(is_complaint=True).exists()
    assert TicketMessage.objects.filter(kind="reply").count() >= tickets.filter(first_responded_at__isnull=False).count()
    waiting = tickets.filter(next_response_due_at__isnull=False)
    assert not waiting.exclude(status="open").exists()
    assert all(TicketMessage.objects.filter(ticket=t, kind="inbound", created_at=t.next_response_started_at).exists()
               and t.next_response_due_at > t.next_response_started_at for t in waiting)
    # The support team routes round-robin and escalates; breached tickets went to its lead.
    from valuecrm.accounts.models import User
    from valuecrm.service.models import AgentProfile, ServiceTeam, TicketEscalation

    desk = ServiceTeam.objects.get()
    assert (desk.routing, desk.lead is not None, tickets.filter(team=desk.team).count()) == (
        "round_robin", True, tickets.count())
    profiles = list(AgentProfile.objects.values_list("skills", flat=True))
    assert len(profiles) == User.objects.filter(role="support_agent").count() and all(profiles)
    escalated = TicketEscalation.objects.all()
    assert set(escalated.values_list("target", flat=True)) == {desk.lead_id}
    assert set(escalated.values_list("ticket", flat=True)) == set(
        tickets.filter(sla_alert_level=100).values_list("pk", flat=True)) != set()
    kpi = selectors.service_kpis(admin_user, period="365d", now=now)["next_response"]
    assert kpi["started"] == sum(tickets.values_list("next_response_started", flat=True)) > kpi["breached"] > 0
    oldest = tickets.order_by("opened_at").first().opened_at
    assert (now - oldest).days > 200

    # CSAT answers whose comments track the score, and the stored analysis of every customer text.
    answered = Survey.objects.exclude(comment="")
    analysed = TextAnalysis.objects.all()
    assert analysed.filter(kind="survey").count() == answered.count() > 0
    assert analysed.filter(kind="ticket").count() == tickets.exclude(description="").count()
    zh = analysed.filter(language="zh")
    low = list(zh.filter(survey__score__lte=2).values_list("sentiment", flat=True))
    high = list(zh.filter(survey__score__gte=4).values_list("sentiment", flat=True))
    assert sum(low) / len(low) < 0.35 < 0.5 < sum(high) / len(high)
    assert set(analysed.filter(language="en").values_list("label", flat=True)) == {"unscored"}
    topics = selectors.feedback_topics(admin_user, now=now)
    assert topics["total"] == analysed.count() and topics["topics"][0]["topic"] != ""
    # Re-running the backfill (make demo's analyse_feedback) finds nothing left to do.
    assert feedback.feedback_backfill(model=sentiment_model) == 0
