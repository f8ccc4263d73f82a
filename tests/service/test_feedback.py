"""Stored feedback analysis: the worker subscriber, the backfill command, topics, the topics
page and the negative-feedback value alert."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from valuecrm.common.errors import ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.customers.services import customer_create
from valuecrm.insights.models import ValueAlert
from valuecrm.service import feedback, selectors
from valuecrm.service.models import Survey, TextAnalysis, Ticket, TicketMessage
from valuecrm.service.services import ticket_create
from valuecrm.service.surveys import survey_answer, survey_send, survey_token

from .conftest import set_tier

TZ = ZoneInfo("Asia/Shanghai")
NEGATIVE_ZH = "质量太差了，非常失望，再也不买了"
POSITIVE_ZH = "很好用，物流很快，非常满意"


@pytest.fixture
def answer(django_capture_on_commit_callbacks):
    def _answer(customer, comment, score=1):
        survey = survey_send(customer=customer, kind="csat")
        with django_capture_on_commit_callbacks(execute=True):
            survey_answer(token=survey_token(survey), score=score, comment=comment)
        Survey.objects.filter(pk=survey.pk).update(sent_at=survey.sent_at - timedelta(days=40))  # next may go out
        return survey
    return _answer


def test_a_new_ticket_is_analysed_once_by_the_worker(agent, customer, sentiment_model,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "快递破损",
                                                  "description": "快递破损，茶叶罐子压坏了，非常失望"})
    row = TextAnalysis.objects.get()  # the inbound copy of the description is not a second text
    assert (row.kind, row.ticket_id, row.customer_id, row.language) == ("ticket", ticket.pk, customer.pk, "zh")
    assert row.label == "negative" and 0 <= row.sentiment < 0.35
    assert "破损" in row.keywords and "罐子" in row.keywords
    assert row.model_version == "sentiment-zh-v1+kw1"
    assert row.written_at == ticket.opened_at
    assert OutboxEvent.objects.filter(name="feedback.analysed", payload__analysis_id=row.pk).count() == 1


def test_a_customer_reply_and_a_survey_comment_are_analysed(agent, customer, sentiment_model, answer,
                                                            django_capture_on_commit_callbacks):
    from valuecrm.service.mail import inbound_email

    with django_capture_on_commit_callbacks(execute=True):
        ticket = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "发票",
                                                  "description": "发票抬头开错了"})
    with django_capture_on_commit_callbacks(execute=True):
        outcome, _ = inbound_email((f"From: {customer.email}\r\nSubject: [#{ticket.pk}] Re: 发票\r\n"
                                    "Message-ID: <r1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                    "Content-Transfer-Encoding: 8bit\r\n\r\n还是没有解决，请再看看。\r\n").encode())
    assert outcome == "reply"
    message = TicketMessage.objects.get(message_id="<r1@example.com>")
    assert TextAnalysis.objects.get(message=message).label == "negative"
    survey = answer(customer, "Quick and friendly support, thank you!", score=5)
    row = TextAnalysis.objects.get(survey=survey)
    # English is not scored: no labelled English corpus ships as package data.
    assert (row.language, row.label, row.sentiment, row.model_version) == ("en", "unscored", None, "en-none+kw1")
    assert row.keywords[:3] == ["quick", "friendly", "support"] or set(row.keywords) == {
        "quick", "friendly", "support", "thank"}
    assert sorted(TextAnalysis.objects.values_list("kind", flat=True)) == ["message", "survey", "ticket"]


def test_redelivery_and_reanalysis_keep_one_row_per_text(agent, customer, sentiment_model,
                                                         django_capture_on_commit_callbacks):
    from valuecrm.common.events.outbox import _load, deliver

    with django_capture_on_commit_callbacks(execute=True):
        ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "退货", "description": "想退货"})
    envelopes = _load(OutboxEvent.objects.filter(name="ticket.created"))
    assert deliver(feedback.SUBSCRIBER_KEY, envelopes) == 0  # the receipt says: handled already
    feedback.on_feedback_events(envelopes)  # a handler run twice replaces, never duplicates
    assert TextAnalysis.objects.count() == 1


def test_no_saved_model_means_unscored_not_a_training_run_in_the_worker(agent, customer, settings, tmp_path,
                                                                        monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    from valuecrm.service.text import sentiment

    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(sentiment, "_model", None)
    monkeypatch.setattr(sentiment, "train", lambda **kw: pytest.fail("the worker must not train"))
    with django_capture_on_commit_callbacks(execute=True):
        ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "x", "description": NEGATIVE_ZH})
    row = TextAnalysis.objects.get()
    assert (row.label, row.sentiment, row.model_version) == ("unscored", None, "zh-none+kw1")


def _bulk_tickets(customer, texts, opened):
    tickets = Ticket.objects.bulk_create([Ticket(customer=customer, subject=t[:10], description=t, opened_at=o)
                                          for t, o in zip(texts, opened, strict=True)])
    return tickets


def test_backfill_command_in_batches_since_a_date_and_after_a_model_change(customer, sentiment_model,
                                                                           monkeypatch):
    from valuecrm.service.text import sentiment

    now = datetime.now(TZ)
    texts = ["快递破损，罐子压坏了", "快递太慢，罐子也破了", "发票开错了", "The parcel arrived late", "积分没有到账"]
    _bulk_tickets(customer, texts, [now - timedelta(days=d) for d in (1, 2, 3, 40, 50)])
    out = StringIO()
    call_command("analyse_feedback", "--since", (now - timedelta(days=10)).date().isoformat(), "--batch", "2",
                 stdout=out)
    assert out.getvalue().strip() == "analysed 3 texts"
    call_command("analyse_feedback", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "analysed 2 texts"
    call_command("analyse_feedback", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "analysed 0 texts"
    # A new model version re-analyses the Chinese texts; English has no model to change.
    monkeypatch.setattr(sentiment, "MODEL_FILE", "sentiment-zh-v2.joblib")
    call_command("analyse_feedback", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "analysed 4 texts"
    assert set(TextAnalysis.objects.filter(language="zh").values_list("model_version", flat=True)) == {
        "sentiment-zh-v2+kw1"}
    assert TextAnalysis.objects.count() == 5
    # Topic words: keywords shared by at least two texts.
    assert TextAnalysis.objects.get(ticket__description="快递破损，罐子压坏了").topic == "快递"
    assert TextAnalysis.objects.get(ticket__description="发票开错了").topic == ""
    with pytest.raises(CommandError, match="--since"):
        call_command("analyse_feedback", "--since", "7/12/2026")


def test_topics_counts_share_negative_trend_visibility_and_filters(admin_user, rep_north, rep_south,
                                                                   sentiment_model):
    now = datetime(2026, 12, 7, 10, 0, tzinfo=TZ)
    mine = customer_create(actor=rep_north, data={"name": "北方客户"})
    other = customer_create(actor=rep_south, data={"name": "南方客户"})
    texts = [(mine, "快递破损，非常失望", now - timedelta(days=40)),
             (mine, "快递很快，非常满意", now - timedelta(days=2)),
             (other, "快递破损了，太差了", now - timedelta(days=3)),
             (mine, "Delivery was late", now - timedelta(days=1))]
    for customer, text, at in texts:
        _bulk_tickets(customer, [text], [at])
    feedback.feedback_backfill(model=sentiment_model)
    full = selectors.feedback_topics(admin_user, now=now)
    assert full["months"][-2:] == ["2026-11", "2026-12"] and len(full["months"]) == 12
    express = next(t for t in full["topics"] if t["topic"] == "快递")
    assert (express["count"], express["scored"], express["negative"]) == (3, 3, 2)
    assert express["share_negative"] == 0.6667
    assert express["by_month"][-3:] == [1, 0, 2]  # October, November, December
    assert full["topics"][-1]["topic"] == "" and full["topics"][-1]["share_negative"] is None  # English: other
    north = selectors.feedback_topics(rep_north, now=now)
    assert next(t for t in north["topics"] if t["topic"] == "快递")["count"] == 2  # not the south's customer
    assert north["total"] == 3
    assert [a.customer_id for a in selectors.feedback_texts(rep_south, topic="快递", now=now)] == [other.pk]
    assert selectors.feedback_topics(admin_user, language="en", now=now)["total"] == 1
    assert selectors.feedback_topics(admin_user, label="negative", now=now)["total"] == 2
    with pytest.raises(ValidationFailed) as err:
        selectors.feedback_topics(admin_user, language="fr", label="angry")
    assert set(err.value.errors) == {"language", "sentiment"}


def test_topics_page_drill_down_and_ticket_page_sentiment(agent, admin_user, customer, sentiment_model,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "快递破损",
                                                  "description": "快递破损，罐子压坏了"})
        ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "快递慢",
                                         "description": "快递太慢了"})
    feedback.topics_refresh()
    client = Client()
    client.force_login(admin_user)
    page = client.get("/service/topics/")
    assert page.status_code == 200
    assert b'data-topic="\xe5\xbf\xab\xe9\x80\x92"' in page.content  # 快递
    drill = client.get("/service/topics/", {"topic": "快递", "sentiment": "negative"})
    assert drill.status_code == 200
    body = drill.content.decode()
    assert "快递破损，罐子压坏了" in body and f"/service/tickets/{ticket.pk}/" in body
    assert client.get("/service/topics/", {"language": "fr"}).status_code == 400
    client.cookies["django_language"] = "zh-hans"
    zh = client.get("/service/topics/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "反馈话题" in zh and "按月趋势" in zh
    detail = client.get(f"/service/tickets/{ticket.pk}/").content.decode()
    assert 'data-sentiment="negative"' in detail


# ---------------------------------------------------------------- negative feedback → value alert

def test_negative_chinese_comment_from_a_tier_a_customer_raises_one_alert(customer, admin_user, sentiment_model,
                                                                          answer):
    set_tier(customer, "A")
    answer(customer, NEGATIVE_ZH)
    alert = ValueAlert.objects.get()
    assert (alert.customer_id, alert.kind, alert.tier, alert.resolved_at) == (customer.pk, "negative_feedback", "A",
                                                                              None)
    assert alert.reason_params["source"] == "survey" and alert.reason_params["excerpt"] == NEGATIVE_ZH
    assert alert.reason.startswith("negative survey comment (sentiment 0.")
    assert OutboxEvent.objects.filter(name="value_alert.raised", payload__alert_id=alert.pk).count() == 1
    answer(customer, "客服态度很差，问题也没有解决，太差了")  # still open: no second alert
    answer(customer, POSITIVE_ZH, score=5)
    assert ValueAlert.objects.count() == 1


def test_negative_feedback_from_a_tier_c_customer_raises_none(customer, sentiment_model, answer):
    set_tier(customer, "C")
    answer(customer, NEGATIVE_ZH)
    assert TextAnalysis.objects.get().label == "negative"
    assert ValueAlert.objects.count() == 0


def test_alert_tiers_and_threshold_are_settings(customer, sentiment_model, answer, settings):
    set_tier(customer, "B")
    settings.VALUECRM_FEEDBACK_ALERT_TIERS = "AB"
    settings.VALUECRM_FEEDBACK_ALERT_SCORE = 0.0  # only a text scored exactly 0 would alert
    answer(customer, NEGATIVE_ZH)
    assert ValueAlert.objects.count() == 0
    settings.VALUECRM_FEEDBACK_ALERT_SCORE = 0.3
    answer(customer, NEGATIVE_ZH)
    assert ValueAlert.objects.get().tier == "B"


def test_raise_alert_refuses_scoring_kinds_and_a_scoring_run_leaves_it_open(customer, make_user):
    import datetime as dt

    from valuecrm.common.errors import PermissionDenied
    from valuecrm.insights.models import WarningPolicy
    from valuecrm.insights.services import raise_alert
    from valuecrm.insights.services.warnings import apply

    with pytest.raises(ValidationFailed) as err:
        raise_alert(customer, "slowing", {})
    assert set(err.value.errors) == {"kind"}
    with pytest.raises(PermissionDenied):
        raise_alert(customer, "negative_feedback", {"source": "survey"}, actor=make_user("ro", role="read_only"))
    alert = raise_alert(customer, "negative_feedback", {"source": "survey", "score": 0.1, "excerpt": "太差"})
    assert raise_alert(customer, "negative_feedback", {"source": "survey"}) is None
    apply(None, [], {customer.pk}, {}, WarningPolicy(), dt.date(2026, 12, 7))
    alert.refresh_from_db()
    assert alert.resolved_at is None


def test_topics_api(admin_user, customer, api_client_for, sentiment_model):
    _bulk_tickets(customer, ["快递破损，太差了", "快递很快"], [datetime.now(TZ)] * 2)
    feedback.feedback_backfill(model=sentiment_model)
    client = api_client_for(admin_user)
    body = client.get("/api/v1/service/feedback/topics").json()
    assert body["total"] == 2 and body["topics"][0]["topic"] == "快递" and body["topics"][0]["count"] == 2
    assert body["topics"][0]["negative"] == 1
    assert client.get("/api/v1/service/feedback/topics", {"language": "en"}).json()["total"] == 0
    bad = client.get("/api/v1/service/feedback/topics", {"sentiment": "angry"})
    assert bad.status_code == 422 and "sentiment" in bad.content.decode()
