"""API v1: customers, contact points, history, notes, interactions and tasks.

Thin endpoints: they parse, call a selector or a service, and shape the answer.
Visibility and permissions live in the selectors and services, so the API answers
exactly as the pages do: an object the caller cannot see is a 404, a write the
caller may not make is a 403, bad input is a 422 naming the field.
"""

from datetime import datetime
from typing import Literal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from valuecrm.accounts.models import User
from valuecrm.common.errors import ValidationFailed
from valuecrm.common.patch import patch_data
from valuecrm.customers import activities, services
from valuecrm.customers.filters import CUSTOM_FIELD_PREFIX
from valuecrm.customers.history import customer_history
from valuecrm.customers.models import Customer, InteractionKind
from valuecrm.customers.schemas import (
    MAX_ID,
    PATCH_NOT_NULL,
    ChannelValue,
    ContactPointIn,
    ContactPointOut,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    CustomerWriteOut,
    Day,
    HistoryEntryOut,
    InteractionIn,
    InteractionOut,
    InteractionPage,
    InteractionPatch,
    KindValue,
    Moment,
    NoteIn,
    NoteOut,
    NotePage,
    ProblemOut,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
    Text,
    choices_literal,
)
from valuecrm.customers.selectors import SORTS, contact_clashes, customer_get, customer_list
from valuecrm.customers.visibility import visible_customers

router = Router(tags=["customers"])

MAX_PAGE = 200
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
READ_ERRORS = {404: ProblemOut, 422: ProblemOut}
SortValue = Literal[SORTS]
HISTORY_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}

# The list selector's filter keys are the UI's query-string names; the API names
# its parameters after the fields.
_FILTER_NAMES = {
    "owner_id": "owner", "team_id": "team", "acquisition_channel": "channel",
    "created_after": "created_from", "created_before": "created_to",
}
_ERROR_NAMES = {v: k for k, v in _FILTER_NAMES.items()} | {"after": "cursor"}

PathId = Path(..., ge=1, le=MAX_ID)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and timezone.is_naive(moment):
        return timezone.make_aware(moment)
    return moment


# ---------------------------------------------------------------- customers

@router.get("/customers", response={200: CustomerPage, **READ_ERRORS})
def list_customers(
    request,
    q: Text = Query("", max_length=200, description="Search name, email, phone or company."),
    kind: KindValue | None = None,
    owner_id: int | None = Query(None, ge=1, le=MAX_ID),
    team_id: int | None = Query(None, ge=1, le=MAX_ID),
    tag: Text | None = Query(None, max_length=50),
    city: Text | None = Query(None, max_length=100),
    region: Text | None = Query(None, max_length=100),
    acquisition_channel: ChannelValue | None = None,
    created_after: Day | None = None,
    created_before: Day | None = None,
    archived: bool | None = Query(None, description="true: only archived customers; false or absent: the others."),
    sort: SortValue = "-id",
    cursor: Text | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    """Visible customers, one keyset page at a time. Custom fields filter as
    `cf_<key>=value` (e.g. `cf_shoe_size=42`)."""
    raw = {
        "kind": kind, "owner_id": owner_id, "team_id": team_id, "tag": tag, "city": city,
        "region": region, "acquisition_channel": acquisition_channel,
        "created_after": created_after.isoformat() if created_after else None,
        "created_before": created_before.isoformat() if created_before else None,
        "archived": None if archived is None else ("yes" if archived else "no"),
    }
    filters = {_FILTER_NAMES.get(k, k): str(v) for k, v in raw.items() if v not in (None, "")}
    for key, value in request.GET.items():
        if key.startswith(CUSTOM_FIELD_PREFIX):
            if "\x00" in value or len(value) > 1000:
                raise ValidationFailed(_("Invalid filter"), errors={key: [_("Enter a valid value.")]})
            filters[key] = value
    try:
        rows, next_cursor = customer_list(
            user=request.auth, search=q, filters=filters, sort=sort, after=cursor, limit=limit
        )
    except ValidationFailed as exc:
        exc.errors = {_ERROR_NAMES.get(k, k): v for k, v in exc.errors.items()}
        raise
    return {"items": rows, "next_cursor": next_cursor}


def _with_warnings(user, customer: Customer) -> Customer:
    """The customer as the API returns it after a write, with its contact-point warnings."""
    customer.warnings = []
    for clash in contact_clashes(user=user, customer=customer):
        detail = (_("%(name)s already has this e-mail.") if clash.field == "email"
                  else _("%(name)s already has this phone number.")) % {"name": clash.customer_name}
        customer.warnings.append({
            "code": f"{clash.field}_in_use", "field": clash.field, "value": clash.value,
            "customer_id": clash.customer_id, "customer_name": clash.customer_name, "detail": detail,
        })
    return customer


@router.post("/customers", response={201: CustomerWriteOut, **ERRORS})
def create_customer(request, payload: CustomerIn):
    """Create a customer. A phone or e-mail another customer already has is not refused: the
    response lists those customers in `warnings`."""
    customer = services.customer_create(actor=request.auth, data=payload.model_dump(exclude_unset=True))
    return Status(201, _with_warnings(request.auth, customer_get(user=request.auth, pk=customer.pk)))


@router.get("/customers/{customer_id}", response={200: CustomerOut, **READ_ERRORS})
def get_customer(request, customer_id: int = PathId):
    return customer_get(user=request.auth, pk=customer_id)


@router.patch("/customers/{customer_id}", response={200: CustomerWriteOut, **ERRORS})
def update_customer(request, payload: CustomerPatch, customer_id: int = PathId):
    """Change a customer; `warnings` as for create."""
    customer = customer_get(user=request.auth, pk=customer_id)
    data = patch_data(payload, PATCH_NOT_NULL)
    services.customer_update(actor=request.auth, customer=customer, data=data)
    return _with_warnings(request.auth, customer_get(user=request.auth, pk=customer_id))


@router.delete("/customers/{customer_id}", response={204: None, **ERRORS})
def delete_customer(request, customer_id: int = PathId):
    customer = customer_get(user=request.auth, pk=customer_id)
    services.customer_delete(actor=request.auth, customer=customer)
    return Status(204, None)


@router.get("/customers/{customer_id}/history", response={200: list[HistoryEntryOut], **READ_ERRORS})
def get_customer_history(request, customer_id: int = PathId,
                         limit: int = Query(50, ge=1, le=MAX_PAGE)):
    """Who changed what and when, newest first: the customer, its orders and interactions."""
    customer = customer_get(user=request.auth, pk=customer_id)
    return [
        {
            "when": entry.when, "who": entry.who, "subject": entry.subject,
            "action": HISTORY_ACTIONS[entry.action],
            "via": entry.via, "reason": entry.reason,
            "changes": [
                {"field": c.field, "before": c.before, "after": c.after} for c in entry.changes
            ],
        }
        for entry in customer_history(customer=customer, limit=limit)
    ]


# ---------------------------------------------------------------- contact points

@router.get("/customers/{customer_id}/contact-points",
            response={200: list[ContactPointOut], **READ_ERRORS})
def list_contact_points(request, customer_id: int = PathId):
    customer = customer_get(user=request.auth, pk=customer_id)
    return activities.contact_points_of(customer=customer)


@router.post("/customers/{customer_id}/contact-points", response={201: ContactPointOut, **ERRORS})
def add_contact_point(request, payload: ContactPointIn, customer_id: int = PathId):
    customer = customer_get(user=request.auth, pk=customer_id)
    point = services.contact_point_add(actor=request.auth, customer=customer, **payload.model_dump())
    return Status(201, point)


@router.delete("/contact-points/{point_id}", response={204: None, **ERRORS})
def delete_contact_point(request, point_id: int = PathId):
    point = activities.contact_point_get(user=request.auth, pk=point_id)
    services.contact_point_delete(actor=request.auth, contact_point=point)
    return Status(204, None)


# ---------------------------------------------------------------- notes

@router.get("/notes", response={200: NotePage, **READ_ERRORS})
def list_notes(request, customer_id: int = Query(..., ge=1, le=MAX_ID),
               cursor: Text | None = Query(None, max_length=500),
               limit: int = Query(50, ge=1, le=MAX_PAGE)):
    customer = customer_get(user=request.auth, pk=customer_id)
    rows, next_cursor = activities.note_list(user=request.auth, customer=customer,
                                             after=cursor, limit=limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/notes", response={201: NoteOut, **ERRORS})
def create_note(request, payload: NoteIn):
    customer = customer_get(user=request.auth, pk=payload.customer_id)
    return Status(201, services.note_create(actor=request.auth, customer=customer, body=payload.body))


# ---------------------------------------------------------------- interactions

@router.get("/interactions", response={200: InteractionPage, **READ_ERRORS})
def list_interactions(request, customer_id: int | None = Query(None, ge=1, le=MAX_ID),
                      kind: choices_literal(InteractionKind) | None = None,
                      cursor: Text | None = Query(None, max_length=500),
                      limit: int = Query(50, ge=1, le=MAX_PAGE)):
    rows, next_cursor = activities.interaction_list(
        user=request.auth, customer_id=customer_id, kind=kind, after=cursor, limit=limit
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/interactions", response={201: InteractionOut, **ERRORS})
def create_interaction(request, payload: InteractionIn):
    data = payload.model_dump(exclude_unset=True)
    customer = customer_get(user=request.auth, pk=data.pop("customer_id"))
    return Status(201, services.interaction_create(actor=request.auth, customer=customer, **data))


@router.get("/interactions/{interaction_id}", response={200: InteractionOut, **READ_ERRORS})
def get_interaction(request, interaction_id: int = PathId):
    return activities.interaction_get(user=request.auth, pk=interaction_id)


@router.patch("/interactions/{interaction_id}", response={200: InteractionOut, **ERRORS})
def update_interaction(request, payload: InteractionPatch, interaction_id: int = PathId):
    interaction = activities.interaction_get(user=request.auth, pk=interaction_id)
    data = patch_data(payload, ("kind", "direction", "occurred_at"))
    return services.interaction_update(actor=request.auth, interaction=interaction, data=data)


@router.delete("/interactions/{interaction_id}", response={204: None, **ERRORS})
def delete_interaction(request, interaction_id: int = PathId):
    interaction = activities.interaction_get(user=request.auth, pk=interaction_id)
    services.interaction_delete(actor=request.auth, interaction=interaction)
    return Status(204, None)


# ---------------------------------------------------------------- tasks

def _assignee_filter(request, assignee: str | None) -> int | None:
    if assignee in (None, ""):
        return None
    if assignee == "me":
        return request.auth.pk
    if assignee.isascii() and assignee.isdigit() and 1 <= int(assignee) <= MAX_ID:
        return int(assignee)
    raise ValidationFailed(_("Invalid filter"), errors={"assignee": [_("Use 'me' or a user id.")]})


@router.get("/tasks", response={200: TaskPage, **READ_ERRORS})
def list_tasks(
    request,
    assignee: Text | None = Query(None, max_length=20, description="'me' or a user id."),
    customer_id: int | None = Query(None, ge=1, le=MAX_ID),
    done: bool | None = None,
    due_after: Moment | None = None,
    due_before: Moment | None = None,
    cursor: Text | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    rows, next_cursor = activities.task_list(
        user=request.auth, assignee_id=_assignee_filter(request, assignee),
        customer_id=customer_id, done=done, due_after=_aware(due_after),
        due_before=_aware(due_before), after=cursor, limit=limit,
    )
    return {"items": rows, "next_cursor": next_cursor}


def _task_customer(request, customer_id) -> Customer | None:
    if customer_id is None:
        return None
    customer = visible_customers(request.auth).filter(pk=customer_id).first()
    if customer is None:
        raise ValidationFailed(_("Validation failed"), errors={"customer_id": [_("Unknown customer.")]})
    return customer


@router.post("/tasks", response={201: TaskOut, **ERRORS})
def create_task(request, payload: TaskIn):
    assignee = None
    if payload.assignee_id is not None:
        assignee = User.objects.filter(pk=payload.assignee_id, is_active=True).first()
        if assignee is None:
            raise ValidationFailed(_("Validation failed"), errors={"assignee_id": [_("Unknown user.")]})
    with transaction.atomic():
        task = services.task_create(
            actor=request.auth, title=payload.title, description=payload.description,
            due_at=payload.due_at, customer=_task_customer(request, payload.customer_id),
            assignee=assignee,
        )
    return Status(201, task)


@router.get("/tasks/{task_id}", response={200: TaskOut, **READ_ERRORS})
def get_task(request, task_id: int = PathId):
    return activities.task_get(user=request.auth, pk=task_id)


@router.patch("/tasks/{task_id}", response={200: TaskOut, **ERRORS})
def update_task(request, payload: TaskPatch, task_id: int = PathId):
    task = activities.task_get(user=request.auth, pk=task_id)
    data = patch_data(payload, ("title", "done"))
    return services.task_update(actor=request.auth, task=task, data=data)


@router.delete("/tasks/{task_id}", response={204: None, **ERRORS})
def delete_task(request, task_id: int = PathId):
    task = activities.task_get(user=request.auth, pk=task_id)
    services.task_delete(actor=request.auth, task=task)
    return Status(204, None)

