"""Stored feedback analysis: every customer-written text (a ticket's description, a customer
message on a ticket, a survey comment) gets one TextAnalysis row — language, sentiment,
keywords and a topic — and negative feedback from a valuable customer raises a value alert.

Written by an outbox subscriber that runs in the worker (`ticket.created`, `ticket.updated`
of the description, `ticket.replied` by the customer, `survey.answered`); idempotent twice
over: the outbox keeps one receipt per event, and each source has at most one analysis
row (re-analysing replaces it). `feedback_backfill` (the `analyse_feedback` command) does
the same in batches for texts that have no analysis yet or one of an older model version.

Sentiment: the project's Chinese model (text/sentiment.py). English texts are not scored
(label "unscored", sentiment NULL): no labelled English corpus is available as package
data, and the Chinese model's output on English text is noise. The worker never trains:
without a saved model, Chinese texts are stored unscored too, with a version that makes
the next backfill (after `train_sentiment`) score them.

Topics: a text's keywords are its top TF-IDF terms within its batch; the period's topic
words are the TOPIC_WORDS keywords that most texts of the last TOPIC_DAYS days share; a
text's topic is the most frequent of those among its own keywords ("" = other).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from valuecrm.common import events
from valuecrm.service.models import (
    MessageKind,
    Sentiment,
    SourceKind,
    Survey,
    TextAnalysis,
    Ticket,
    TicketMessage,
)
from valuecrm.service.text import language as lang
from valuecrm.service.text import sentiment
from valuecrm.service.text import tokens as tok

KEYWORDS_VERSION = "kw1"
KEYWORDS_PER_TEXT = 8
POSITIVE = 0.65
TOPIC_WORDS = 12
TOPIC_DAYS = 365
TOPIC_SAMPLE = 20_000
BATCH = 500
MAX_TEXT = 4000
INTERESTS = frozenset({"ticket.created", "ticket.updated", "ticket.replied", "survey.answered"})
SUBSCRIBER_KEY = "service.feedback_analysis"


@dataclass(frozen=True)
class FeedbackText:
    kind: str  # SourceKind
    source_id: int
    customer_id: int
    text: str
    written_at: datetime


def sentiment_version(language: str, model=None) -> str:
    if language != "zh":
        return "en-none"
    return sentiment.MODEL_FILE.removesuffix(".joblib") if model is not None else "zh-none"


def model_version(language: str, model=None) -> str:
    return f"{sentiment_version(language, model)}+{KEYWORDS_VERSION}"


def label_for(score: float | None) -> str:
    if score is None:
        return Sentiment.UNSCORED
    if sentiment.is_negative(score):
        return Sentiment.NEGATIVE
    return Sentiment.POSITIVE if score >= POSITIVE else Sentiment.NEUTRAL


def current_model(*, train: bool = False):
    """The sentiment model in memory or saved under the data dir; None when there is none
    (and `train` is False: the worker never spends half a minute training)."""
    if sentiment._model is not None or train or sentiment.model_path().exists():
        return sentiment.load()
    return None


# ---------------------------------------------------------------- sources

def _message_texts(qs) -> list[FeedbackText]:
    """Customer messages, except the copy of the description a new ticket starts with."""
    out = []
    for pk, body, at, cid, description in qs.filter(kind=MessageKind.INBOUND).values_list(
            "pk", "body", "created_at", "ticket__customer_id", "ticket__description"):
        if body.strip() and body.strip() != (description or "").strip():
            out.append(FeedbackText(SourceKind.MESSAGE, pk, cid, body, at))
    return out


def _ticket_texts(qs) -> list[FeedbackText]:
    return [FeedbackText(SourceKind.TICKET, pk, cid, d, at) for pk, d, at, cid in
            qs.exclude(description="").values_list("pk", "description", "opened_at", "customer_id")
            if d.strip()]


def _survey_texts(qs) -> list[FeedbackText]:
    return [FeedbackText(SourceKind.SURVEY, pk, cid, c, at) for pk, c, at, cid in
            qs.exclude(comment="").filter(answered_at__isnull=False).values_list(
                "pk", "comment", "answered_at", "customer_id") if c.strip()]


def texts_for_events(envelopes) -> list[FeedbackText]:
    created, replied, surveys = set(), set(), set()
    for env in envelopes:
        e = env.event
        if env.name == "ticket.created" or (env.name == "ticket.updated" and "description" in e.changed_fields):
            created.add(e.ticket_id)
        elif env.name == "ticket.replied" and e.kind == MessageKind.INBOUND:
            replied.add(e.ticket_id)
        elif env.name == "survey.answered":
            surveys.add(e.survey_id)
    out = _ticket_texts(Ticket.objects.filter(pk__in=created))
    out += _message_texts(TicketMessage.objects.filter(ticket_id__in=created | replied))
    out += _survey_texts(Survey.objects.filter(pk__in=surveys))
    return out


# ---------------------------------------------------------------- analysis

def _source_field(kind: str) -> str:
    return {SourceKind.TICKET: "ticket_id", SourceKind.MESSAGE: "message_id", SourceKind.SURVEY: "survey_id"}[kind]


def topic_words(*, now: datetime | None = None, extra: list[list[str]] = ()) -> list[str]:
    """The TOPIC_WORDS keywords shared by most texts of the last TOPIC_DAYS days (at least two
    texts each), most frequent first; ties alphabetical."""
    now = now or timezone.now()
    df: Counter = Counter()
    rows = (TextAnalysis.objects.filter(written_at__gte=now - timedelta(days=TOPIC_DAYS))
            .order_by("-written_at").values_list("keywords", flat=True)[:TOPIC_SAMPLE])
    for words in list(rows) + list(extra):
        df.update(set(words or []))
    ranked = sorted(((n, w) for w, n in df.items() if n >= 2), key=lambda p: (-p[0], p[1]))
    return [w for _, w in ranked[:TOPIC_WORDS]]


def topic_of(keywords: list[str], words: list[str]) -> str:
    """The most frequent topic word of the period among the text's keywords ("" = other)."""
    mine = set(keywords)
    return next((w for w in words if w in mine), "")


@transaction.atomic
def feedback_analyse(texts: list[FeedbackText], *, model=None, now: datetime | None = None,
                     words: list[str] | None = None) -> list[TextAnalysis]:
    """Analyse `texts` and store (replace) one TextAnalysis per source; emits
    `feedback.analysed` per text and raises the negative-feedback alerts."""
    now = now or timezone.now()
    texts = [t for t in texts if t.text.strip()]
    if not texts:
        return []
    bodies = [t.text[:MAX_TEXT] for t in texts]
    languages = [lang.detect(b) for b in bodies]
    keywords = tok.keywords(bodies, top=KEYWORDS_PER_TEXT, languages=languages)
    zh = [i for i, code in enumerate(languages) if code == "zh"]
    scores: list[float | None] = [None] * len(texts)
    if model is not None and zh:
        for i, p in zip(zh, model.predict_proba([bodies[i] for i in zh])[:, 1], strict=True):
            scores[i] = round(float(p), 3)
    words = words if words is not None else topic_words(now=now, extra=keywords)
    rows = []
    for t, code, kws, score in zip(texts, languages, keywords, scores, strict=True):
        rows.append(TextAnalysis(
            kind=t.kind, customer_id=t.customer_id, written_at=t.written_at,
            month=timezone.localtime(t.written_at).strftime("%Y-%m"), language=code, sentiment=score,
            label=label_for(score), keywords=kws, topic=topic_of(kws, words)[:40],
            model_version=model_version(code, model), analysed_at=now, **{_source_field(t.kind): t.source_id}))
    for kind in SourceKind.values:
        ids = [t.source_id for t in texts if t.kind == kind]
        for start in range(0, len(ids), BATCH):
            TextAnalysis.objects.filter(**{f"{_source_field(kind)}__in": ids[start:start + BATCH]}).delete()
    TextAnalysis.objects.bulk_create(rows, batch_size=BATCH)
    events.emit_many([events.FeedbackAnalysed(
        customer_id=r.customer_id, analysis_id=r.pk, source=r.kind, language=r.language, label=r.label,
        topic=r.topic) for r in rows])
    _alert_negative(rows, texts)
    return rows


def alert_settings() -> tuple[float, str]:
    """(highest sentiment that still alerts, tiers that alert) from the settings."""
    return (float(getattr(settings, "VALUECRM_FEEDBACK_ALERT_SCORE", 0.3)),
            str(getattr(settings, "VALUECRM_FEEDBACK_ALERT_TIERS", "A")).upper())


def _alert_negative(rows: list[TextAnalysis], texts: list[FeedbackText]) -> int:
    from valuecrm.customers.models import Customer
    from valuecrm.insights.models import AlertKind, CustomerValue
    from valuecrm.insights.services.alerts import raise_alert

    threshold, tiers = alert_settings()
    negative = [(r, t) for r, t in zip(rows, texts, strict=True)
                if r.label == Sentiment.NEGATIVE and r.sentiment is not None and r.sentiment <= threshold]
    if not negative:
        return 0
    valuable = set(CustomerValue.objects.filter(
        customer_id__in={r.customer_id for r, _ in negative}, tier__in=list(tiers)).values_list(
        "customer_id", flat=True))
    raised = 0
    for row, text in sorted(negative, key=lambda p: p[0].sentiment):  # the most negative text explains it
        if row.customer_id not in valuable:
            continue
        customer = Customer.objects.select_related("owner").filter(pk=row.customer_id).first()
        if customer is None:
            continue
        excerpt = " ".join(text.text.split())
        alert = raise_alert(customer, AlertKind.NEGATIVE_FEEDBACK, {
            "source": row.kind, "score": row.sentiment, "analysis_id": row.pk,
            "excerpt": excerpt[:80] + ("…" if len(excerpt) > 80 else "")})
        raised += alert is not None
    return raised


# ---------------------------------------------------------------- subscriber, backfill, topics

def on_feedback_events(envelopes) -> None:
    """Outbox subscriber (worker): analyse the texts the events are about."""
    texts = texts_for_events(envelopes)
    if texts:
        feedback_analyse(texts, model=current_model())


def _stale(qs, field: str, model):
    """Sources in `qs` with no analysis, or one of another model version than now."""
    from django.db.models import Q

    zh, en = model_version("zh", model), model_version("en", model)
    return qs.filter(Q(**{f"{field}__isnull": True})
                     | Q(**{f"{field}__language": "zh"}) & ~Q(**{f"{field}__model_version": zh})
                     | Q(**{f"{field}__language": "en"}) & ~Q(**{f"{field}__model_version": en}))


def feedback_backfill(*, since: datetime | None = None, batch: int = BATCH, model=None, train: bool = True,
                      progress=None) -> int:
    """Analyse, in batches, every customer-written text (written since `since`) that has no
    analysis or one of an older model version; then refresh the topics. Returns how many
    texts were analysed. Trains the sentiment model first when none is saved (and `train`)."""
    model = model if model is not None else current_model(train=train)
    tickets = Ticket.objects.all()
    messages = TicketMessage.objects.filter(kind=MessageKind.INBOUND)
    surveys = Survey.objects.all()
    if since is not None:
        tickets = tickets.filter(opened_at__gte=since)
        messages = messages.filter(created_at__gte=since)
        surveys = surveys.filter(answered_at__gte=since)
    done = 0
    words = topic_words()
    for qs, read in ((_stale(tickets, "analysis", model), _ticket_texts),
                     (_stale(messages, "analysis", model), _message_texts),
                     (_stale(surveys, "analysis", model), _survey_texts)):
        ids = list(qs.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), batch):
            chunk = read(qs.model.objects.filter(pk__in=ids[start:start + batch]))
            done += len(feedback_analyse(chunk, model=model, words=words))
            if progress:
                progress(done)
    topics_refresh()
    return done


@transaction.atomic
def topics_refresh(*, now: datetime | None = None) -> int:
    """Re-derive the topic words of the period and re-assign the topics of its texts;
    returns how many texts changed topic. Recomputes derived labels only (no event)."""
    now = now or timezone.now()
    words = topic_words(now=now)
    changed = []
    qs = TextAnalysis.objects.filter(written_at__gte=now - timedelta(days=TOPIC_DAYS)).only("pk", "keywords", "topic")
    for row in qs.iterator(chunk_size=2000):
        topic = topic_of(row.keywords or [], words)[:40]
        if topic != row.topic:
            row.topic = topic
            changed.append(row)
    TextAnalysis.objects.bulk_update(changed, ["topic"], batch_size=BATCH)
    return len(changed)
