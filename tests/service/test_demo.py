"""The service demo: tickets with SLA due times from the real clock and conversations."""

from datetime import datetime
from zoneinfo import ZoneInfo

from valuecrm.demo.generate import demo_generate
from valuecrm.service.models import SlaPolicy, Ticket, TicketMessage


def test_demo_writes_a_year_of_tickets_with_clocks(db):
    now = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    demo_generate(customers=120, seed=7, now=now)
    tickets = Ticket.objects.all()
    assert 20 <= tickets.count() <= 60
    assert SlaPolicy.objects.count() == 7
    assert not tickets.filter(first_response_due_at__isnull=True).exists()
    assert tickets.filter(status="closed").exists() and tickets.filter(is_complaint=True).exists()
    assert TicketMessage.objects.filter(kind="reply").count() >= tickets.filter(first_responded_at__isnull=False).count()
    oldest = tickets.order_by("opened_at").first().opened_at
    assert (now - oldest).days > 200
