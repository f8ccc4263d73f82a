"""Saved customer-list views: reads and writes.

A view stores the list's query string parts — search, filters, sort — and its
columns. Filters are validated on save, and again whenever the view is applied
(a custom field may have been deleted since), so a saved view never breaks the list.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability
from valuecrm.common import events
from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.columns import clean_columns
from valuecrm.customers.filters import clean_filters
from valuecrm.customers.models import SavedView
from valuecrm.customers.selectors import SEARCH_MAX_LENGTH, parse_sort

NAME_MAX_LENGTH = 100


def saved_views_for(user) -> QuerySet:
    """The user's own views and everyone's shared ones."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def saved_view_get(*, user, pk) -> SavedView:
    view = saved_views_for(user).filter(pk=pk).first() if str(pk).isdigit() else None
    if view is None:
        raise NotFound(_("Saved view not found."))
    return view


def saved_view_can_delete(user, view: SavedView) -> bool:
    # Administrators tidy up shared views; nobody else deletes someone else's view.
    return view.owner_id == user.pk or has_capability(user, Capability.ADMIN_USERS)


@transaction.atomic
def saved_view_create(
    *, actor, name: str, search: str = "", filters: dict | None = None, sort: str = "-id",
    columns: list[str] | None = None, shared: bool = False,
) -> SavedView:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [_("Enter at most %(n)d characters.") % {"n": NAME_MAX_LENGTH}]
    if shared and not has_capability(actor, Capability.CUSTOMERS_REASSIGN):
        errors["shared"] = [_("Only managers can share views with everyone.")]
    search = (search or "").strip()
    if len(search) > SEARCH_MAX_LENGTH:
        errors["q"] = [_("Enter at most %(n)d characters.") % {"n": SEARCH_MAX_LENGTH}]
    try:
        parse_sort(sort)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    filters = {k: str(v) for k, v in (filters or {}).items() if v is not None and str(v).strip()}
    try:
        clean_filters(filters, user=actor)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    view = SavedView.objects.create(
        name=name, owner=actor, shared=shared,
        query={"q": search, "filters": filters, "sort": sort, "columns": clean_columns(columns)},
    )
    events.emit(events.ConfigChanged(kind="saved_view", object_id=str(view.pk), action="created"), actor=actor)
    return view


def saved_view_delete(*, actor, view: SavedView) -> None:
    if not saved_view_can_delete(actor, view):
        raise PermissionDenied(_("Only the owner of a view can delete it."))
    events.emit(events.ConfigChanged(kind="saved_view", object_id=str(view.pk), action="deleted"), actor=actor)
    view.delete()
