"""Surveys: a CSAT goes out when a ticket is solved; the signed link refuses tampering and
expiry; one survey per customer per 30 days; the rated agent cannot answer; a low score is
flagged on survey.answered (the closed loop's trigger)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from valuecrm.common.errors import ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.service.models import Survey
from valuecrm.service.services import ticket_create, ticket_update
from valuecrm.service.surveys import survey_answer, survey_from_token, survey_send, survey_token

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def solved(agent, customer, policies, django_capture_on_commit_callbacks):
    ticket = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "破损",
                                              "assignee_id": agent.pk})
    with django_capture_on_commit_callbacks(execute=True):
        ticket_update(actor=agent, ticket=ticket, data={"status": "solved"})
    return ticket


def test_solving_a_ticket_sends_one_csat_survey_about_its_agent(solved, agent, mailoutbox):
    survey = Survey.objects.get()
    assert (survey.kind, survey.ticket, survey.agent, survey.customer_id) == ("csat", solved, agent,
                                                                              solved.customer_id)
    [mail] = mailoutbox
    assert mail.to == ["wang.fang@example.com"]
    token = mail.body.rsplit("/s/", 1)[1].strip("/")
    assert survey_from_token(token) == survey


def test_one_survey_per_customer_per_30_days(customer):
    first = survey_send(customer=customer, kind="nps", now=NOW)
    assert survey_send(customer=customer, kind="csat", now=NOW + timedelta(days=29)) is None
    later = survey_send(customer=customer, kind="nps", now=NOW + timedelta(days=31))
    assert first is not None and later is not None and Survey.objects.count() == 2


def test_the_public_page_answers_once_and_a_tampered_or_old_link_is_refused(customer):
    survey = survey_send(customer=customer, kind="nps", now=NOW - timedelta(days=1))
    token = survey_token(survey)
    client = Client()
    assert client.get(f"/s/{token}/").status_code == 200
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/s/{tampered}/").status_code == 404
    assert client.post(f"/s/{token}/", {"score": "11"}).status_code == 422
    assert client.post(f"/s/{token}/", {"score": "3", "comment": "太慢了"}).status_code == 200
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (3, "太慢了")
    [event] = OutboxEvent.objects.filter(name="survey.answered")
    assert (event.payload["score"], event.payload["kind"], event.payload["low"]) == (3, "nps", True)
    Survey.objects.filter(pk=survey.pk).update(expires_at=NOW - timedelta(days=2))
    assert client.get(f"/s/{token}/").status_code == 410


def test_the_rated_agent_cannot_answer_and_scores_are_checked(solved, agent, admin_user):
    token = survey_token(Survey.objects.get())
    client = Client()
    client.force_login(agent)
    assert client.post(f"/s/{token}/", {"score": "5"}).status_code == 403
    with pytest.raises(ValidationFailed) as info:
        survey_answer(token=token, score=0)  # CSAT is 1–5
    assert list(info.value.errors) == ["score"]
    answered = survey_answer(token=token, score=5, user=admin_user)
    assert answered.score == 5
    assert OutboxEvent.objects.get(name="survey.answered").payload["low"] is False


def test_csat_and_nps_with_intervals_in_the_kpis(customer, admin_user, api_client_for):
    from valuecrm.customers.services import customer_create
    from valuecrm.service.selectors import survey_scores

    scores = {"nps": [10, 9, 9, 8, 7, 6, 3, 10, 0, 9], "csat": [5, 4, 2, 5]}
    for kind, values in scores.items():
        for i, score in enumerate(values):
            c = customer_create(actor=admin_user, data={"name": f"{kind}{i}", "email": f"{kind}{i}@x.cn"})
            survey_answer(token=survey_token(survey_send(customer=c, kind=kind, now=NOW)), score=score, now=NOW)
    got = survey_scores(admin_user, start=NOW - timedelta(days=1), end=NOW + timedelta(days=1))
    # NPS: 5 promoters, 3 detractors of 10 → 20 ± 1.96·√((0.8 − 0.04)/10) = 20 ± 54.0;
    # CSAT: 3 of 4 → 0.75 (Wilson 0.3006–0.9544).
    assert got["nps"] == {"value": 20.0, "low": -34.0, "high": 74.0, "n": 10}
    assert got["csat"] == {"value": 0.75, "low": 0.3006, "high": 0.9544, "n": 4}
    body = api_client_for(admin_user).get("/api/v1/surveys?kind=nps&answered=true").json()
    assert sorted(s["score"] for s in body["items"]) == sorted(scores["nps"])
