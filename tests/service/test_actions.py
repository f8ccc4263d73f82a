"""The "open ticket" automation action: a side-effect-free plan, an apply through the service."""

import pytest

from valuecrm.common.actions import ActionContext, action_class, no_writes
from valuecrm.common.errors import ValidationFailed
from valuecrm.service.models import Ticket


def _ctx(customer, actor=None):
    return ActionContext(rule_id=1, rule_name="VIP complaint", event_name="customer.stage_changed",
                         event_id="e1", customer_id=customer.pk,
                         facts={"customer": customer.name, "tier": "A"}, actor=actor)


def test_open_ticket_plans_without_writing_and_applies_with_the_policy(admin_user, customer, policies):
    cls = action_class("open_ticket")
    config = cls.clean({"subject": "回访 {customer}（{tier}）", "priority": "high"})
    action = cls(config)
    with no_writes():
        plan = action.plan(_ctx(customer))
    assert plan.summary == "Open ticket “回访 王芳（A）”"
    outcome = action.apply(_ctx(customer, admin_user))
    ticket = Ticket.objects.get()
    assert (outcome.changes, ticket.subject, ticket.priority, ticket.sla_policy) == (
        {"ticket_id": ticket.pk}, "回访 王芳（A）", "high", policies["high"])


def test_open_ticket_settings_are_checked_by_name():
    with pytest.raises(ValidationFailed) as info:
        action_class("open_ticket").clean({"priority": "asap"})
    assert sorted(info.value.errors) == ["priority", "subject"]


def test_send_survey_action_sends_once_within_the_limit(admin_user, customer):
    from valuecrm.service.models import Survey

    action = action_class("send_survey")(action_class("send_survey").clean({"kind": "nps"}))
    with no_writes():
        assert action.plan(_ctx(customer)).summary == "Send a NPS survey"
    first = action.apply(_ctx(customer, admin_user))
    second = action.apply(_ctx(customer, admin_user))
    assert (first.changes, second.changes) == ({"survey_id": Survey.objects.get().pk}, {})
