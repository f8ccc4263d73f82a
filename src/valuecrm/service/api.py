"""API v1: tickets and replies, business calendars, SLA policies, service KPIs.

The same services as the pages: TICKETS_WORK for tickets, POLICIES_CHANGE for
calendars and policies; a ticket whose customer you cannot see is a 404.
"""

from typing import Literal

from ninja import File, Path, Query, Router, Status
from ninja.files import UploadedFile

from valuecrm.common.patch import patch_data
from valuecrm.common.schemas import MAX_ID, ProblemOut
from valuecrm.service import selectors, services
from valuecrm.service.models import BusinessCalendar, SlaPolicy
from valuecrm.service.schemas import (
    TICKET_PATCH_NOT_NULL,
    AgentProfileIn,
    AgentProfileOut,
    AttachmentOut,
    CalendarIn,
    CalendarOut,
    EscalationOut,
    KpisOut,
    MessageOut,
    PolicyIn,
    PolicyOut,
    ReplyIn,
    ServiceTeamIn,
    ServiceTeamOut,
    StatusValue,
    SurveyPage,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TopicsOut,
)

router = Router(tags=["service"])
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
READ_ERRORS = {404: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)


@router.get("/tickets", response={200: TicketPage, **READ_ERRORS})
def list_tickets(request, status: StatusValue | None = None,
                 customer_id: int | None = Query(None, ge=1, le=MAX_ID),
                 assignee_id: int | None = Query(None, ge=1, le=MAX_ID),
                 offset: int = Query(0, ge=0, le=1_000_000), limit: int = Query(50, ge=1, le=200)):
    """Tickets of the customers you can see, newest first."""
    return {"items": selectors.ticket_list(request.auth, status=status, customer_id=customer_id,
                                           assignee_id=assignee_id, offset=offset, limit=limit)}


@router.post("/tickets", response={201: TicketOut, **ERRORS})
def create_ticket(request, payload: TicketIn):
    ticket = services.ticket_create(actor=request.auth, data=payload.model_dump(exclude_unset=True))
    return Status(201, ticket)


@router.get("/tickets/{ticket_id}", response={200: TicketOut, **READ_ERRORS})
def get_ticket(request, ticket_id: int = PathId):
    return selectors.ticket_get(request.auth, ticket_id)


@router.patch("/tickets/{ticket_id}", response={200: TicketOut, **ERRORS})
def update_ticket(request, payload: TicketPatch, ticket_id: int = PathId):
    ticket = selectors.ticket_get(request.auth, ticket_id)
    return services.ticket_update(actor=request.auth, ticket=ticket,
                                  data=patch_data(payload, TICKET_PATCH_NOT_NULL))


@router.post("/tickets/{ticket_id}/replies", response={201: MessageOut, **ERRORS})
def reply_ticket(request, payload: ReplyIn, ticket_id: int = PathId):
    """A public reply (e-mailed to the customer, threaded) or an internal note."""
    ticket = selectors.ticket_get(request.auth, ticket_id)
    return Status(201, services.ticket_reply(actor=request.auth, ticket=ticket, body=payload.body,
                                             kind=payload.kind))


@router.get("/tickets/{ticket_id}/attachments", response={200: list[AttachmentOut], **READ_ERRORS})
def list_attachments(request, ticket_id: int = PathId):
    return selectors.ticket_attachments(selectors.ticket_get(request.auth, ticket_id))


@router.post("/tickets/{ticket_id}/attachments", response={201: AttachmentOut, **ERRORS})
def add_attachment(request, ticket_id: int = PathId, file: UploadedFile = File(...)):
    """Attach a file (multipart field `file`): png, jpg, gif, webp, pdf, txt, csv, docx, xlsx, at most
    VALUECRM_SERVICE_ATTACHMENT_MAX_BYTES (10 MB); a refused file is a 422 naming `file`."""
    ticket = selectors.ticket_get(request.auth, ticket_id)
    return Status(201, services.attachment_add(actor=request.auth, ticket=ticket, name=file.name,
                                               chunks=file.chunks()))


@router.get("/tickets/{ticket_id}/escalations", response={200: list[EscalationOut], **READ_ERRORS})
def ticket_escalations(request, ticket_id: int = PathId):
    """Who the ticket was escalated to (team lead, then manager), when, and the task each got."""
    return selectors.ticket_escalations(selectors.ticket_get(request.auth, ticket_id))


@router.get("/service/teams", response={200: list[ServiceTeamOut], **READ_ERRORS})
def list_service_teams(request):
    """Teams' routing (round_robin, least_open, skills), queue boost, lead and manager."""
    return selectors.service_teams()


@router.put("/service/teams/{team_id}", response={200: ServiceTeamOut, **ERRORS})
def put_service_team(request, payload: ServiceTeamIn, team_id: int = PathId):
    return services.service_team_save(actor=request.auth, team=selectors.team_get(team_id),
                                      data=payload.model_dump())


@router.get("/service/agents/{user_id}", response={200: AgentProfileOut, **READ_ERRORS})
def get_agent_profile(request, user_id: int = PathId):
    return selectors.agent_profile(selectors.user_get(user_id))


@router.put("/service/agents/{user_id}", response={200: AgentProfileOut, **ERRORS})
def put_agent_profile(request, payload: AgentProfileIn, user_id: int = PathId):
    """Skills, working calendar and out-of-office span (an agent may set their own)."""
    return services.agent_profile_save(actor=request.auth, user=selectors.user_get(user_id),
                                       data=payload.model_dump())


@router.get("/service/calendars", response={200: list[CalendarOut], **READ_ERRORS})
def list_calendars(request):
    return list(BusinessCalendar.objects.all())


@router.post("/service/calendars", response={201: CalendarOut, **ERRORS})
def create_calendar(request, payload: CalendarIn):
    data = payload.model_dump()
    data["closures"] = [d.isoformat() for d in payload.closures]
    return Status(201, services.calendar_save(actor=request.auth, data=data))


@router.get("/service/calendars/{calendar_id}", response={200: CalendarOut, **READ_ERRORS})
def get_calendar(request, calendar_id: int = PathId):
    return selectors.calendar_get(calendar_id)


@router.get("/service/sla-policies", response={200: list[PolicyOut], **READ_ERRORS})
def list_policies(request):
    return list(SlaPolicy.objects.all())


@router.post("/service/sla-policies", response={201: PolicyOut, **ERRORS})
def create_policy(request, payload: PolicyIn):
    return Status(201, services.sla_policy_save(actor=request.auth, data=payload.model_dump()))


@router.get("/service/sla-policies/{policy_id}", response={200: PolicyOut, **READ_ERRORS})
def get_policy(request, policy_id: int = PathId):
    return selectors.policy_get(policy_id)


@router.get("/surveys", response={200: SurveyPage, **READ_ERRORS})
def list_surveys(request, kind: Literal["csat", "nps"] | None = None, answered: bool | None = None,
                 offset: int = Query(0, ge=0, le=1_000_000), limit: int = Query(50, ge=1, le=200)):
    """Surveys sent to the customers you can see, with their responses (score, comment), newest first."""
    return {"items": selectors.survey_list(request.auth, kind=kind, answered=answered, offset=offset,
                                           limit=limit)}


@router.get("/service/kpis", response={200: KpisOut, **READ_ERRORS})
def service_kpis(request, period: Literal["7d", "30d", "90d", "365d"] = "30d"):
    """CSAT and NPS with n and 95 % intervals, first response and resolution time (minutes, p50/p90),
    SLA compliance with its 95 % interval, overall and per policy."""
    return selectors.service_kpis(request.auth, period=period)


@router.get("/service/feedback/topics", response={200: TopicsOut, **READ_ERRORS})
def feedback_topics(request, language: Literal["zh", "en"] | None = None,
                    sentiment: Literal["positive", "neutral", "negative", "unscored"] | None = None):
    """Feedback topics of the last 12 months (texts of the customers you can see): count, share,
    share negative among the scored texts, texts per month."""
    return selectors.feedback_topics(request.auth, language=language or "", label=sentiment or "")
