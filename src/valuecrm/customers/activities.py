"""Reads of what hangs off a customer: contact points, notes, interactions and tasks.

Everything is filtered through customers.visibility, so a record whose customer
the user cannot see does not exist for them (NotFound, never PermissionDenied).
Lists are keyset pages, newest first, with an opaque cursor.
"""

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers.models import ContactPoint, Interaction, Note, Task

MAX_LIMIT = 200


# ---------------------------------------------------------------- keyset pages

def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(_("Invalid cursor"), errors={"cursor": [_("This page link is not valid.")]})


def _encode(payload) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise _bad_cursor() from None
    if not isinstance(payload, list) or not payload:
        raise _bad_cursor()
    return payload


def _page(qs: QuerySet, *, time_field: str | None, after: str | None, limit: int):
    """Newest first by (time_field, id), or by id alone when time_field is None."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(_("Invalid limit"), errors={
            "limit": [_("Enter a whole number from 1 to %(n)d.") % {"n": MAX_LIMIT}]
        })
    if after:
        payload = _decode(after)
        pk = payload[-1]
        if not isinstance(pk, int) or isinstance(pk, bool):
            raise _bad_cursor()
        if time_field is None:
            qs = qs.filter(id__lt=pk)
        else:
            moment = None
            if len(payload) == 2 and isinstance(payload[0], str):
                try:
                    moment = parse_datetime(payload[0])
                except ValueError:
                    moment = None
            if not isinstance(moment, datetime):
                raise _bad_cursor()
            qs = qs.filter(Q(**{f"{time_field}__lt": moment}) | Q(**{time_field: moment, "id__lt": pk}))
    ordering = ["-id"] if time_field is None else [f"-{time_field}", "-id"]
    rows = list(qs.order_by(*ordering)[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    key = [last.pk] if time_field is None else [getattr(last, time_field).isoformat(), last.pk]
    return rows, _encode(key)


# ---------------------------------------------------------------- contact points

def contact_points_of(*, customer) -> list[ContactPoint]:
    """The caller has already checked that the user may see `customer`."""
    return list(customer.contact_points.all())


def contact_point_get(*, user, pk) -> ContactPoint:
    point = (
        ContactPoint.objects.visible_to(user).select_related("customer").filter(pk=pk).first()
    )
    if point is None:
        raise NotFound(_("Contact point not found."))
    return point


# ---------------------------------------------------------------- notes

def note_list(*, user, customer, after: str | None = None, limit: int = 50):
    qs = Note.objects.visible_to(user).filter(customer=customer)
    return _page(qs.select_related("author"), time_field=None, after=after, limit=limit)


# ---------------------------------------------------------------- interactions

def visible_interactions(user) -> QuerySet:
    return Interaction.objects.visible_to(user)


def interaction_list(*, user, customer_id: int | None = None, kind: str | None = None,
                     after: str | None = None, limit: int = 50):
    qs = visible_interactions(user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if kind:
        qs = qs.filter(kind=kind)
    return _page(qs.select_related("author"), time_field="occurred_at", after=after, limit=limit)


def interaction_get(*, user, pk) -> Interaction:
    interaction = visible_interactions(user).select_related("customer").filter(pk=pk).first()
    if interaction is None:
        raise NotFound(_("Interaction not found."))
    return interaction


# ---------------------------------------------------------------- tasks

def visible_tasks(user) -> QuerySet:
    return Task.objects.visible_to(user)


def task_list(*, user, assignee_id: int | None = None, customer_id: int | None = None,
              done: bool | None = None, due_after=None, due_before=None,
              after: str | None = None, limit: int = 50):
    qs = visible_tasks(user)
    if assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if done is not None:
        qs = qs.filter(done=done)
    if due_after is not None:
        qs = qs.filter(due_at__gte=due_after)
    if due_before is not None:
        qs = qs.filter(due_at__lt=due_before)
    return _page(qs.select_related("customer", "assignee"), time_field=None, after=after, limit=limit)


def task_get(*, user, pk) -> Task:
    task = visible_tasks(user).select_related("customer", "assignee").filter(pk=pk).first()
    if task is None:
        raise NotFound(_("Task not found."))
    return task
