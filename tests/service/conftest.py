"""Service fixtures: an agent, a customer, a Beijing office calendar and its policies."""

from datetime import date

import pytest

from valuecrm.customers.services import customer_create
from valuecrm.service.services import calendar_save, sla_policy_save

OFFICE_HOURS = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)]


@pytest.fixture
def agent(make_user):
    return make_user("agent_li", role="support_agent", email="li@example.com")


@pytest.fixture
def customer(admin_user):
    return customer_create(actor=admin_user, data={"name": "王芳", "email": "wang.fang@example.com"})


def set_tier(customer, tier, stage="loyal"):
    from valuecrm.insights.models import CustomerValue

    CustomerValue.objects.update_or_create(customer=customer, defaults={
        "tier": tier, "stage": stage, "as_of": date(2026, 12, 1)})


@pytest.fixture
def office(admin_user):
    return calendar_save(actor=admin_user, data={"name": "Beijing office", "timezone": "Asia/Shanghai",
                                                 "hours": OFFICE_HOURS, "holidays": "CN"})


@pytest.fixture
def policies(admin_user, office):
    normal = sla_policy_save(actor=admin_user, data={
        "name": "Normal", "calendar_id": office.pk, "priority": "normal",
        "first_response_minutes": 240, "resolution_minutes": 1080})
    tier_a = sla_policy_save(actor=admin_user, data={
        "name": "Normal · tier A", "calendar_id": office.pk, "priority": "normal", "tier": "A",
        "first_response_minutes": 60, "resolution_minutes": 540})
    high = sla_policy_save(actor=admin_user, data={
        "name": "High", "calendar_id": office.pk, "priority": "high",
        "first_response_minutes": 30, "resolution_minutes": 240})
    return {"normal": normal, "tier_a": tier_a, "high": high}


@pytest.fixture(scope="session")
def small_sentiment_model():
    """The sentiment model fitted on 2,000 training sentences (3 s, not the full 23 s)."""
    from valuecrm.service.text import sentiment

    model, _ = sentiment.train(limit=2000)
    return model


@pytest.fixture
def sentiment_model(small_sentiment_model, monkeypatch):
    """The worker's model for this test: the small one, in memory (nothing read from or
    written to the data dir)."""
    from valuecrm.service.text import sentiment

    monkeypatch.setattr(sentiment, "_model", small_sentiment_model)
    return small_sentiment_model
