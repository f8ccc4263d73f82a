"""What tickets add to the customer pages (timeline entries, a 360 panel, palette
entries) and to automation (the "open ticket" action)."""

from django.utils.translation import gettext_lazy


def _timeline_tickets(customer, page):
    from valuecrm.service.models import Ticket

    return [(t.opened_at, t) for t in page(Ticket.objects.filter(customer=customer), "opened_at")]


def _panel_context(request, customer):
    from valuecrm.service.models import Ticket

    tickets = list(Ticket.objects.filter(customer=customer).active().order_by("-opened_at")[:5])
    complaints = Ticket.objects.filter(customer=customer, is_complaint=True).count()
    return {"service_tickets": tickets, "service_complaints": complaints}


def register() -> None:
    from valuecrm.common import events
    from valuecrm.common.actions import register_action
    from valuecrm.customers.extensions import PaletteEntry, Panel, TimelineSource, registry
    from valuecrm.service.automation_actions import OpenTicket, SendSurvey
    from valuecrm.service.feedback import INTERESTS, SUBSCRIBER_KEY, on_feedback_events
    from valuecrm.service.surveys import on_ticket_solved

    registry.add_timeline_source(TimelineSource(
        "ticket", "life-preserver", rank=2, fetch=_timeline_tickets, label=gettext_lazy("Tickets"),
        template="service/_timeline_ticket.html"))
    registry.add_panel(Panel("service", "service/_panel.html", _panel_context, order=60))
    registry.add_palette_entry(PaletteEntry(
        "ticket-list", gettext_lazy("Tickets"), "life-preserver", keywords="tickets service support queue sla"))
    registry.add_palette_entry(PaletteEntry(
        "service-dashboard", gettext_lazy("Service dashboard"), "speedometer2",
        keywords="service sla compliance response time"))
    registry.add_palette_entry(PaletteEntry(
        "service-topics", gettext_lazy("Feedback topics"), "chat-quote",
        keywords="feedback topics sentiment keywords comments negative 反馈 话题 情感"))
    register_action(OpenTicket)
    register_action(SendSurvey)
    events.subscribe("service.csat_after_solved", on_ticket_solved,
                     interests=frozenset({"ticket.status_changed"}))
    # Slow (a model, TF-IDF): in the worker, not in the request that wrote the text.
    events.subscribe(SUBSCRIBER_KEY, on_feedback_events, interests=INTERESTS, inline=False,
                     accepts=_has_text)


def _has_text(event) -> bool:
    """Only the events that can carry a customer-written text."""
    if event.name == "ticket.updated":
        return "description" in event.changed_fields
    if event.name == "ticket.replied":
        return event.kind == "inbound"
    return True
