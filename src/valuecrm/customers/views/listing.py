"""The customer list: search, filter chips, sort, keyset pages, columns, saved views,
bulk actions and CSV export. Thin: parsing the query string and rendering; the
reads are customers.selectors, the writes customers.services / saved_views."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.accounts.models import User
from valuecrm.accounts.roles import Scope
from valuecrm.common.errors import DomainError, ValidationFailed
from valuecrm.common.http import safe_next_url
from valuecrm.customers.columns import all_columns, clean_columns, column_by_key
from valuecrm.customers.exports import customer_csv_lines
from valuecrm.customers.extensions import registry
from valuecrm.customers.filters import ActiveFilter, FilterSpec, filter_specs, parse_filters
from valuecrm.customers.list_rows import RowBuilder
from valuecrm.customers.models import Tag
from valuecrm.customers.saved_views import (
    saved_view_can_delete,
    saved_view_create,
    saved_view_delete,
    saved_view_get,
    saved_views_for,
)
from valuecrm.customers.selectors import (
    DEFAULT_SORT,
    SEARCH_MAX_LENGTH,
    SORTS,
    customer_count,
    customer_list,
    customer_queryset,
)
from valuecrm.customers.services import (
    customers_bulk_assign,
    customers_bulk_tag,
    customers_bulk_untag,
)

PAGE_SIZE = 50
# "1,000+" is as precise as a list header needs to be, and keeps the count cheap.
COUNT_CAP = 1000
COLUMNS_SESSION_KEY = "customer_list_columns"
# Query-string keys that are not filters.
PAGE_PARAMS = ("q", "sort", "after", "p")
AVATAR_COLOURS = 8


@dataclass
class ListQuery:
    """The list's state as read from a query string, with what was wrong in it."""

    search: str = ""
    sort: str = DEFAULT_SORT
    filters: list[ActiveFilter] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    specs: dict[str, FilterSpec] = field(default_factory=dict)

    def querydict(self) -> QueryDict:
        """The canonical query string: bad values dropped, default sort omitted."""
        qd = QueryDict(mutable=True)
        if self.search:
            qd["q"] = self.search
        for item in self.filters:
            qd[item.key] = item.raw
        if self.sort != DEFAULT_SORT:
            qd["sort"] = self.sort
        return qd


def read_list_query(request, params: QueryDict | None = None) -> ListQuery:
    params = request.GET if params is None else params
    query = ListQuery(specs=filter_specs(get_language() or ""))
    search = params.get("q", "").strip()
    if len(search) > SEARCH_MAX_LENGTH or "\x00" in search:
        query.errors["q"] = [_("Enter at most %(n)d characters.") % {"n": SEARCH_MAX_LENGTH}]
    else:
        query.search = search
    sort = params.get("sort", "") or DEFAULT_SORT
    if sort in SORTS:
        query.sort = sort
    else:
        query.errors["sort"] = [_("Unknown sort order.")]
    raw = {key: params.get(key) for key in params if key not in PAGE_PARAMS}
    query.filters, errors = parse_filters(raw, user=request.user, specs=query.specs,
                                          ignore_unknown=True)
    query.errors.update(errors)
    return query


def refuse_bad_export(query: ListQuery) -> HttpResponseBadRequest | None:
    """A 400 naming each bad parameter, or None when the query is sound.

    An export must be exactly the view the user asked for, or nothing: a list page
    can drop a bad filter and say so, a file cannot.
    """
    if not query.errors:
        return None
    text = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in query.errors.items())
    return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")


def _url(base: str, qd: QueryDict, **changes) -> str:
    qd = qd.copy()
    for key, value in changes.items():
        if value is None:
            qd.pop(key, None)
        else:
            qd[key] = value
    encoded = qd.urlencode()
    return f"{base}?{encoded}" if encoded else base


def _chips(query: ListQuery, base: str) -> list[dict]:
    qd = query.querydict()
    chips = []
    if query.search:
        chips.append({"key": "q", "label": _("Search"), "value": query.search,
                      "remove_url": _url(base, qd, q=None)})
    for item in query.filters:
        chips.append({"key": item.key, "label": item.spec.label, "value": item.display,
                      "remove_url": _url(base, qd, **{item.key: None})})
    return chips


def _user_columns(request) -> list[str]:
    return clean_columns(request.session.get(COLUMNS_SESSION_KEY))


def _decorate(rows) -> None:
    # Presentation only: initials and a stable avatar colour per customer.
    for row in rows:
        name = (row.name or "?").strip()
        parts = name.split()
        initials = (parts[0][0] + parts[1][0]) if len(parts) > 1 and name.isascii() else name[:1]
        row.initials = initials.upper()
        row.avatar_colour = row.pk % AVATAR_COLOURS


def _assignable_owners(user):
    if not user.can_manage:
        return User.objects.none()
    users = User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")
    if user.scope != Scope.ALL:
        users = users.filter(team_id=user.team_id) if user.team_id else users.filter(pk=user.pk)
    return users


def _headers(query: ListQuery, base: str, columns: list[str]) -> list[dict]:
    """Header cells: sortable ones link to the next sort order and say the current one."""
    qd = query.querydict()
    headers = []
    by_key = column_by_key()
    highest_first = {c.sort for c in registry.columns if c.descending_first and c.sort}
    for key in columns:
        column = by_key[key]
        header = {"column": column, "url": "", "sort": "", "state": ""}
        if column.sort:
            current = query.sort.lstrip("-") == column.sort
            descending = query.sort.startswith("-")
            # First click sorts names A→Z and dates newest first; a second click flips.
            if current:
                next_sort = column.sort if descending else f"-{column.sort}"
                header["state"] = "descending" if descending else "ascending"
            else:
                descending_first = column.sort == "created" or column.sort in highest_first
                next_sort = f"-{column.sort}" if descending_first else column.sort
            header["sort"] = next_sort
            header["url"] = _url(base, qd, sort=None if next_sort == DEFAULT_SORT else next_sort)
        headers.append(header)
    return headers


@login_required
@require_GET
def customer_list_view(request):
    base = reverse("customer-list")
    view_id = request.GET.get("view")
    if view_id:
        return _apply_saved_view(request, view_id, base)

    query = read_list_query(request)
    after = request.GET.get("after") or None
    try:
        page_number = max(1, int(request.GET.get("p", "1")))
    except ValueError:
        page_number = 1
    try:
        rows, next_cursor = customer_list(
            user=request.user, search=query.search, filters=query.filters, sort=query.sort,
            after=after, limit=PAGE_SIZE,
        )
    except ValidationFailed as exc:
        # Only the cursor can still be wrong here (an edited or stale link): start over.
        query.errors.update(exc.errors)
        after, page_number = None, 1
        rows, next_cursor = customer_list(
            user=request.user, search=query.search, filters=query.filters, sort=query.sort,
            limit=PAGE_SIZE,
        )
    _decorate(rows)
    columns = _user_columns(request)
    qd = query.querydict()
    count = customer_count(user=request.user, search=query.search, filters=query.filters,
                           cap=COUNT_CAP)
    first_row = (page_number - 1) * PAGE_SIZE + 1
    builder = RowBuilder(columns, can_bulk=request.user.can_write)
    context = {
        "rows": rows,
        "table_rows": builder.rows(rows),
        "card_rows": builder.cards(rows),
        "query": query,
        "chips": _chips(query, base),
        "count": count,
        "first_row": first_row if rows else 0,
        "last_row": first_row + len(rows) - 1,
        "next_url": _url(base, qd, after=next_cursor, p=str(page_number + 1)) if next_cursor else "",
        "first_url": _url(base, qd) if after else "",
        "columns": [column_by_key()[key] for key in columns],
        "show": dict.fromkeys(columns, True),
        "headers": _headers(query, base, columns),
        "export_url": _url(reverse("customer-export"), qd),
        "reset_url": base,
        "is_filtered": bool(query.search or query.filters),
        "can_bulk": request.user.can_write,
        # "Select all matching": the list's own query, which the server applies again.
        "bulk_query": qd.urlencode(),
    }
    canonical = _url(base, qd, after=after, p=str(page_number) if after else None)
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        response = render(request, "customers/list.html#results", context)
        # The form sends every field, blank ones too; the address bar gets the tidy URL.
        response["HX-Push-Url"] = canonical
        return response
    if not query.errors and any(value == "" for value in request.GET.values()):
        return redirect(canonical)

    saved = list(saved_views_for(request.user))
    context.update({
        "all_columns": all_columns(),
        "sorts": [
            ("-id", _("Newest first")), ("id", _("Oldest first")),
            ("name", _("Name A–Z")), ("-name", _("Name Z–A")),
            ("-created", _("Created (newest)")), ("created", _("Created (oldest)")),
            *((choice.key, choice.label) for choice in registry.sort_choices),
        ],
        "value_presets": [link for provider in registry.preset_links for link in provider()],
        "filter_fields": [
            {"spec": spec, "value": request.GET.get(key, ""),
             "choices": spec.choices(request.user) if spec.choices else None}
            for key, spec in query.specs.items()
        ],
        "saved_views": [
            {"view": v, "can_delete": saved_view_can_delete(request.user, v)} for v in saved
        ],
        "can_share_views": request.user.can_manage,
        "owners": _assignable_owners(request.user),
        "tags": Tag.objects.all(),
        "query_string": qd.urlencode(),
    })
    return render(request, "customers/list.html", context)


def _apply_saved_view(request, view_id: str, base: str):
    try:
        view = saved_view_get(user=request.user, pk=view_id)
    except DomainError:
        raise Http404 from None
    stored = view.query or {}
    qd = QueryDict(mutable=True)
    if stored.get("q"):
        qd["q"] = stored["q"]
    for key, value in (stored.get("filters") or {}).items():
        qd[key] = str(value)
    if stored.get("sort") and stored["sort"] != DEFAULT_SORT:
        qd["sort"] = stored["sort"]
    if stored.get("columns"):
        request.session[COLUMNS_SESSION_KEY] = clean_columns(stored["columns"])
    messages.info(request, _("Showing saved view “%(name)s”.") % {"name": view.name})
    # A filter that no longer exists (a deleted custom field) is reported by the list.
    return redirect(_url(base, qd))


@login_required
@require_POST
def customer_columns_update(request):
    request.session[COLUMNS_SESSION_KEY] = clean_columns(request.POST.getlist("columns"))
    return redirect(safe_next_url(request, reverse("customer-list")))


@login_required
@require_POST
def saved_view_create_view(request):
    base = reverse("customer-list")
    params = QueryDict(request.POST.get("query", ""))
    query = read_list_query(request, params)
    if query.errors:
        # Never save a view that silently differs from what the user asked for.
        messages.error(request, _error_text(ValidationFailed(_("Validation failed"), errors=query.errors)))
        return redirect(_url(base, params))
    try:
        view = saved_view_create(
            actor=request.user, name=request.POST.get("name", ""), search=query.search,
            filters={item.key: item.raw for item in query.filters}, sort=query.sort,
            columns=_user_columns(request), shared=request.POST.get("shared") == "on",
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
        return redirect(_url(base, params))
    messages.success(request, _("Saved view “%(name)s”.") % {"name": view.name})
    return redirect(_url(base, query.querydict()))


@login_required
@require_POST
def saved_view_delete_view(request, pk: int):
    try:
        view = saved_view_get(user=request.user, pk=pk)
        saved_view_delete(actor=request.user, view=view)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Deleted view “%(name)s”.") % {"name": view.name})
    return redirect(safe_next_url(request, reverse("customer-list")))


def _error_text(exc: DomainError) -> str:
    details = [msg for msgs in exc.errors.values() for msg in msgs]
    return " ".join(details) if details else exc.detail


BULK_ACTIONS = ("tag", "untag", "assign")


def _bulk_tag_names(request) -> list[str]:
    names = [n.strip() for n in request.POST.get("tags", "").replace("，", ",").split(",")]
    return [n for n in names if n]


@login_required
@require_POST
def customer_bulk_action(request):
    """Tag, untag or reassign the ticked customers — or, with scope=matching, every
    customer matching the list's search and filters (sent as `query`), across all pages:
    the server applies the filter itself, and first answers with a confirmation page
    giving the exact count; the action runs when that page is confirmed."""
    back = safe_next_url(request, reverse("customer-list"))
    action = request.POST.get("action")
    if action not in BULK_ACTIONS:
        return HttpResponseBadRequest(_("Unknown bulk action."))
    matching = request.POST.get("scope") == "matching"
    if matching:
        query = read_list_query(request, QueryDict(request.POST.get("query", "")))
        if query.errors:
            messages.error(request, _error_text(ValidationFailed(_("Validation failed"),
                                                                 errors=query.errors)))
            return redirect(back)
        selection = customer_queryset(user=request.user, search=query.search,
                                      filters=query.filters)
    else:
        selection = [int(pk) for pk in request.POST.getlist("ids") if pk.isdigit()]
        if not selection:
            messages.error(request, _("Select at least one customer."))
            return redirect(back)
    try:
        owner = None
        if action == "assign":
            owner_id = request.POST.get("owner", "")
            owner = User.objects.filter(pk=owner_id).first() if owner_id.isdigit() else None
            if owner is None:
                raise ValidationFailed(_("Validation failed"), errors={"owner": [_("Choose an owner.")]})
        elif not _bulk_tag_names(request):
            raise ValidationFailed(_("Validation failed"), errors={"tags": [_("Choose at least one tag.")]})
        if matching and request.POST.get("confirmed") != "yes":
            return render(request, "customers/bulk_confirm.html", {
                "action": action, "count": selection.count(), "tags": _bulk_tag_names(request),
                "owner": owner, "chips": _chips(query, reverse("customer-list")),
                "fields": [(k, v) for k in request.POST for v in request.POST.getlist(k)
                           if k not in ("csrfmiddlewaretoken", "confirmed")],
                "back": back,
            })
        if action == "tag":
            changed = customers_bulk_tag(actor=request.user, customer_ids=selection,
                                         tag_names=_bulk_tag_names(request))
            messages.success(request, ngettext(
                "Tagged %(n)d customer.", "Tagged %(n)d customers.", changed) % {"n": changed})
        elif action == "untag":
            changed = customers_bulk_untag(actor=request.user, customer_ids=selection,
                                           tag_names=_bulk_tag_names(request))
            messages.success(request, ngettext(
                "Removed the tags from %(n)d customer.", "Removed the tags from %(n)d customers.",
                changed) % {"n": changed})
        else:
            changed = customers_bulk_assign(actor=request.user, customer_ids=selection, owner=owner)
            messages.success(request, ngettext(
                "Assigned %(n)d customer to %(owner)s.", "Assigned %(n)d customers to %(owner)s.",
                changed) % {"n": changed, "owner": owner.display_name})
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    return redirect(back)


@login_required
@require_GET
def customer_export(request):
    query = read_list_query(request)
    if refused := refuse_bad_export(query):
        return refused
    lines = customer_csv_lines(user=request.user, search=query.search, filters=query.filters,
                               sort=query.sort)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
