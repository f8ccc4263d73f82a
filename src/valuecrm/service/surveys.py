"""CSAT and NPS surveys: sent by e-mail with a signed, expiring link; answered once.

- at most one survey per customer per VALUECRM_SURVEY_MIN_DAYS (default 30);
- the link is the survey id signed with the site secret (django.core.signing), valid for
  VALUECRM_SURVEY_VALID_DAYS (default 14): a changed character is a 404, an old link a 410;
- the agent whose ticket is rated can never answer it (no self-rating);
- a CSAT of 1–2 or an NPS of 0–6 (a detractor) marks `survey.answered` as low, for the
  closed-loop automation rule.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from valuecrm.common import events
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.service.models import Survey, SurveyKind, Ticket, TicketStatus

SALT = "valuecrm.service.survey"
RANGES = {SurveyKind.CSAT: (1, 5), SurveyKind.NPS: (0, 10)}


class Expired(Conflict):
    status = 410


def survey_token(survey: Survey) -> str:
    return signing.dumps(survey.pk, salt=SALT, compress=False)


def survey_link(survey: Survey) -> str:
    return getattr(settings, "VALUECRM_SITE_URL", "").rstrip("/") + reverse("survey-answer",
                                                                            args=[survey_token(survey)])


def is_low(kind: str, score: int) -> bool:
    return score <= 2 if kind == SurveyKind.CSAT else score <= 6


def _recently_surveyed(customer_id: int, now: datetime) -> bool:
    days = int(getattr(settings, "VALUECRM_SURVEY_MIN_DAYS", 30))
    return Survey.objects.filter(customer_id=customer_id, sent_at__gt=now - timedelta(days=days)).exists()


@transaction.atomic
def survey_send(*, customer, kind: str, ticket: Ticket | None = None, now: datetime | None = None) -> Survey | None:
    """Send a survey (None when the customer had one within the limit or has no e-mail)."""
    now = now or timezone.now()
    if kind not in SurveyKind.values:
        raise ValidationFailed(_("Validation failed"), errors={"kind": [_("Not a valid choice.")]})
    if not customer.email or _recently_surveyed(customer.pk, now):
        return None
    survey = Survey.objects.create(
        kind=kind, customer=customer, ticket=ticket, agent=ticket.assignee if ticket else None,
        language=getattr(customer, "language", "") or settings.LANGUAGE_CODE, sent_at=now,
        expires_at=now + timedelta(days=int(getattr(settings, "VALUECRM_SURVEY_VALID_DAYS", 14))))
    with translation.override(survey.language):
        subject = _("How did we do?") if kind == SurveyKind.CSAT else _("Would you recommend us?")
        body = _("Please tell us in one click: %(link)s") % {"link": survey_link(survey)}
    mail = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[customer.email])
    transaction.on_commit(lambda: mail.send(fail_silently=True))
    events.emit(events.SurveySent(customer_id=customer.pk, survey_id=survey.pk, kind=kind))
    return survey


def survey_from_token(token: str, *, now: datetime | None = None) -> Survey:
    """The survey of a link: NotFound if tampered with, Expired (410) after its validity."""
    try:
        pk = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise NotFound(_("This survey link is not valid.")) from None
    survey = Survey.objects.filter(pk=pk).select_related("customer").first()
    if survey is None:
        raise NotFound(_("This survey link is not valid."))
    if (now or timezone.now()) >= survey.expires_at:
        raise Expired(_("This survey has expired."))
    return survey


@transaction.atomic
def survey_answer(*, token: str, score, comment: str = "", user=None, now: datetime | None = None) -> Survey:
    now = now or timezone.now()
    survey = survey_from_token(token, now=now)
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if user is not None and getattr(user, "is_authenticated", False) and user.pk == survey.agent_id:
        raise PermissionDenied(_("You cannot rate your own ticket."))
    if survey.answered_at is not None:
        raise Conflict(_("This survey has already been answered. Thank you!"))
    low, high = RANGES[survey.kind]
    errors = {}
    if isinstance(score, bool) or not isinstance(score, int):
        try:
            score = int(str(score))
        except ValueError:
            score = None
    if score is None or not low <= score <= high:
        errors["score"] = [_("Choose a score from %(low)s to %(high)s.") % {"low": low, "high": high}]
    comment = (comment or "").strip()
    if len(comment) > 2000 or "\x00" in comment:
        errors["comment"] = [_("Enter at most %(n)s characters.") % {"n": 2000}]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    survey.score, survey.comment, survey.answered_at = score, comment, now
    survey.save(update_fields=["score", "comment", "answered_at", "updated_at"])
    events.emit(events.SurveyAnswered(customer_id=survey.customer_id, survey_id=survey.pk, kind=survey.kind,
                                      score=score, low=is_low(survey.kind, score)))
    return survey


def on_ticket_solved(envelopes) -> None:
    """Subscriber: a CSAT survey after a ticket is solved."""
    for env in envelopes:
        if getattr(env.event, "to_status", None) != TicketStatus.SOLVED:
            continue
        ticket = Ticket.objects.select_related("customer", "assignee").filter(pk=env.event.ticket_id).first()
        if ticket is not None:
            survey_send(customer=ticket.customer, kind=SurveyKind.CSAT, ticket=ticket)
