"""Saved views of the deal board and list: named filters, private or shared, and a default.

The customers list keeps its views in `customers.SavedView`, whose filters are the customer
`FilterSpec` and whose sharing is "everyone"; a deal view holds `DealFilters` query
parameters and can be shared with the owner's team, so it has its own small table with the
same shape (name, owner, sharing, stored query) and the same habits: filters validated on
save and again on use (an owner or team may have gone since), so a view never breaks a page.

Who sees a view: its owner; a team view the members of that team and whoever sees every
record (the records' own visibility rule); an "everyone" view everybody. Only managers share
with everyone (the capability that shares customer views); only the owner changes or deletes
a view (administrators may delete shared ones).
"""

from __future__ import annotations

from django.db import transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability
from valuecrm.common import events
from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.deals.models import DealView, DealViewDefault, DealViewVisibility
from valuecrm.deals.selectors import DealFilters

NAME_MAX_LENGTH = 100
# The board's pipeline is a filter too: a view may pin one.
VIEW_FIELDS = DealFilters.FIELDS


# ---------------------------------------------------------------- reads

def deal_views_for(user):
    return DealView.objects.visible_to(user).select_related("owner").order_by("name", "id")


def deal_view_get(*, user, pk) -> DealView:
    view = deal_views_for(user).filter(pk=pk).first() if str(pk).isdigit() and int(pk) < 2**62 else None
    if view is None:
        raise NotFound(_("Saved view not found."))
    return view


def default_view_id(user) -> int | None:
    """The user's default view, if it is still one they may see."""
    row = DealViewDefault.objects.filter(user=user).values_list("view_id", flat=True).first()
    if row is None or not deal_views_for(user).filter(pk=row).exists():
        return None
    return row


def view_query(view: DealView) -> str:
    """The view's filters as a query string (only those still valid, in a stable order)."""
    filters = clean_view_filters(view.filters, strict=False)
    q = QueryDict(mutable=True)
    for key in VIEW_FIELDS:
        if key in filters:
            q[key] = filters[key]
    q["view"] = str(view.pk)
    return q.urlencode()


def clean_view_filters(filters, *, strict: bool = True) -> dict[str, str]:
    """{key: text} of known, valid `DealFilters` parameters. strict: bad ones are errors by
    "filters.<key>"; otherwise they are dropped (a view saved before a user left)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(filters, dict):
        raise ValidationFailed(_("Validation failed"), errors={"filters": [_("Expected an object.")]})
    out: dict[str, str] = {}
    for key, value in filters.items():
        if key not in VIEW_FIELDS:
            errors[f"filters.{key}"] = [_("Unknown filter.")]
            continue
        if value is None or isinstance(value, (dict, list, bool)):
            if value is not None:
                errors[f"filters.{key}"] = [_("Enter text.")]
            continue
        text = str(value).strip()
        if text:
            out[key] = text[:100]
    parsed = DealFilters.from_params(out)
    for key, messages in parsed.errors.items():
        errors[f"filters.{key}"] = messages
        out.pop(key, None)
    if strict and errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    return out


def can_change(user, view: DealView) -> bool:
    return view.owner_id == user.pk


def can_delete(user, view: DealView) -> bool:
    return can_change(user, view) or (view.visibility != DealViewVisibility.PRIVATE
                                      and has_capability(user, Capability.ADMIN_USERS))


# ---------------------------------------------------------------- writes

def _name(errors, name) -> str:
    if not isinstance(name, str):
        errors["name"] = [_("Enter text.")]
        return ""
    name = name.strip()
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [_("Enter at most %(n)d characters.") % {"n": NAME_MAX_LENGTH}]
    elif "\x00" in name:
        errors["name"] = [_("Null characters are not allowed.")]
    return name


def _sharing(actor, errors, visibility):
    """(visibility, team_id) the actor may give a view."""
    if visibility not in DealViewVisibility.values:
        errors["visibility"] = [_("Not a valid choice.")]
        return DealViewVisibility.PRIVATE, None
    if visibility == DealViewVisibility.TEAM:
        if not actor.team_id:
            errors["visibility"] = [_("You are not in a team to share with.")]
        elif not has_capability(actor, Capability.DEALS_CHANGE):
            errors["visibility"] = [_("Your role cannot share views.")]
        return visibility, actor.team_id
    if visibility == DealViewVisibility.EVERYONE and not has_capability(actor, Capability.CUSTOMERS_REASSIGN):
        errors["visibility"] = [_("Only managers can share views with everyone.")]
    return visibility, None


def _set_default(actor, view: DealView | None) -> None:
    if view is None:
        DealViewDefault.objects.filter(user=actor).delete()
    else:
        DealViewDefault.objects.update_or_create(user=actor, defaults={"view": view})


@transaction.atomic
def deal_view_create(*, actor, name, filters, visibility=DealViewVisibility.PRIVATE,
                     make_default: bool = False) -> DealView:
    errors: dict[str, list[str]] = {}
    name = _name(errors, name)
    visibility, team_id = _sharing(actor, errors, visibility)
    try:
        cleaned = clean_view_filters(filters)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        cleaned = {}
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    view = DealView.objects.create(name=name, owner=actor, visibility=visibility, team_id=team_id, filters=cleaned)
    if make_default:
        _set_default(actor, view)
    events.emit(events.ConfigChanged(kind="deal_view", object_id=str(view.pk), action="created"), actor=actor)
    return view


@transaction.atomic
def deal_view_update(*, actor, view: DealView, data: dict) -> DealView:
    """Change the keys present in `data`: name, filters, visibility (owner only), and
    is_default (anyone who sees the view: their own default)."""
    view = deal_view_get(user=actor, pk=view.pk)
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in ("name", "filters", "visibility", "is_default"):
            errors[key] = [_("Unknown field.")]
    owned = {"name", "filters", "visibility"} & set(data)
    if owned and not can_change(actor, view):
        raise PermissionDenied(_("Only the owner of a view can change it."))
    if "name" in data:
        view.name = _name(errors, data["name"])
    if "visibility" in data:
        view.visibility, view.team_id = _sharing(actor, errors, data["visibility"])
    if "filters" in data:
        try:
            view.filters = clean_view_filters(data["filters"])
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if "is_default" in data and not isinstance(data["is_default"], bool):
        errors["is_default"] = [_("Enter true or false.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    if owned:
        view.save()
    if "is_default" in data:
        if data["is_default"]:
            _set_default(actor, view)
        elif default_view_id(actor) == view.pk:
            _set_default(actor, None)
    events.emit(events.ConfigChanged(kind="deal_view", object_id=str(view.pk), action="updated"), actor=actor)
    return view


@transaction.atomic
def deal_view_delete(*, actor, view: DealView) -> None:
    view = deal_view_get(user=actor, pk=view.pk)
    if not can_delete(actor, view):
        raise PermissionDenied(_("Only the owner of a view can delete it."))
    events.emit(events.ConfigChanged(kind="deal_view", object_id=str(view.pk), action="deleted"), actor=actor)
    view.delete()
