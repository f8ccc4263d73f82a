"""The customer 360 page, its create/edit forms and the quick actions on it.

Thin views: reads go through selectors (which apply the visibility rule), writes
through services. A customer the user cannot see is a 404 for the page and for
every action on it; a write the user's role does not allow is a friendly 403.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.accounts.models import User
from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers import services
from valuecrm.customers.extensions import registry
from valuecrm.customers.forms import CustomerForm, InteractionForm, NoteForm, TaskForm
from valuecrm.customers.history import customer_history
from valuecrm.customers.models import Task
from valuecrm.customers.profile import customer_profile
from valuecrm.customers.selectors import contact_clashes, customer_get
from valuecrm.customers.timeline import (
    Cursor,
    customer_timeline,
    timeline_type_clean,
    timeline_types,
)

QUICK_FORMS = {"note": NoteForm, "interaction": InteractionForm, "task": TaskForm}


def _visible_customer(request, pk: int):
    try:
        return customer_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404 from None


def _forbidden(request, message: str):
    """403: a small alert for htmx (shown above the quick actions), the error page otherwise."""
    if request.htmx:
        html = render_to_string("customers/_timeline_forbidden.html", {"message": message}, request)
        response = HttpResponse(html, status=403)
        response["HX-Retarget"] = "#action-feedback"
        response["HX-Reswap"] = "innerHTML"
        return response
    raise DjangoPermissionDenied(message)


def _no_write_message() -> str:
    return _("Your role can view this customer but not change it.")


def _timeline_context(request, customer, type_: str = "", before: Cursor | None = None):
    return {
        "customer": customer,
        "timeline": customer_timeline(customer=customer, type=type_, before=before),
        "timeline_types": timeline_types(),
        "can_write": request.user.can_write,
    }


def _render_timeline(request, customer, type_: str = "", status: int = 200):
    return render(request, "customers/_timeline.html", _timeline_context(request, customer, type_), status=status)


@login_required
@require_GET
def customer_detail(request, pk: int):
    customer = _visible_customer(request, pk)
    type_ = timeline_type_clean(request.GET.get("type"))
    # ?before= is the "Show more" link followed without JavaScript: older entries.
    context = {
        **_timeline_context(request, customer, type_, Cursor.parse(request.GET.get("before"))),
        "profile": customer_profile(user=request.user, customer=customer),
        "panels": [{"template": p.template, "first_on_small_screens": p.first_on_small_screens,
                    "context": p.context(request, customer)} for p in registry.panels],
        "history": customer_history(customer=customer),
        "forms": {
            "note": NoteForm(auto_id="note_%s"),
            "interaction": InteractionForm(auto_id="interaction_%s", initial=_prefill(
                request, "interaction", {"kind", "subject", "body"})),
            "task": TaskForm(auto_id="task_%s", user=request.user, customer=customer,
                             initial=_prefill(request, "task", {"title", "description"})),
        },
        # ?quick=interaction&subject=… (the next-best action's "do it") opens that form filled in.
        "quick_open": request.GET.get("quick") if request.GET.get("quick") in QUICK_FORMS else "",
    }
    return render(request, "customers/detail.html", context)


def _prefill(request, kind: str, fields: set[str]) -> dict:
    """Initial values for a quick form from the query string, when it asks for that form."""
    if request.GET.get("quick") != kind:
        return {}
    return {name: request.GET[name][:200] for name in fields if request.GET.get(name)}


@login_required
@require_GET
def customer_timeline_partial(request, pk: int):
    """The whole timeline (type tabs), or with ?before= the next page of entries to append."""
    customer = _visible_customer(request, pk)
    type_ = timeline_type_clean(request.GET.get("type"))
    if "before" not in request.GET:
        return _render_timeline(request, customer, type_)
    before = Cursor.parse(request.GET["before"])
    if before is None:
        return HttpResponseBadRequest(_("This link to older timeline entries is not valid."))
    return render(request, "customers/_timeline.html#entries", _timeline_context(request, customer, type_, before))


def _warn_contact_clashes(request, customer) -> None:
    """A warning with a link for each other customer holding the same phone or e-mail."""
    for clash in contact_clashes(user=request.user, customer=customer):
        text = (_("%(name)s already has this e-mail (%(value)s). If it is the same customer, "
                  "merge the two from Duplicates.") if clash.field == "email"
                else _("%(name)s already has this phone number (%(value)s). If it is the same "
                       "customer, merge the two from Duplicates."))
        link = format_html('<a href="{}">{}</a>', reverse("customer-detail", args=[clash.customer_id]),
                           clash.customer_name)
        # Every part is escaped: the translated text here, the link and value by format_html.
        messages.warning(request, mark_safe(conditional_escape(text) % {  # noqa: S308
            "name": link, "value": conditional_escape(clash.value)}))


@login_required
def customer_create(request):
    if not request.user.can_write:
        return _forbidden(request, _("Your role cannot create customers."))
    form = CustomerForm(request.POST or None, user=request.user, initial=None if request.POST else {
        "owner": request.user.pk, "team": request.user.team_id,
    })
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                customer = services.customer_create(actor=request.user, data=form.to_service_data())
            except (ValidationFailed, PermissionDenied) as exc:
                form.add_service_errors(exc)
                status = 403 if isinstance(exc, PermissionDenied) else 422
            else:
                messages.success(request, _("Customer “%(name)s” created.") % {"name": customer.name})
                _warn_contact_clashes(request, customer)
                return redirect("customer-detail", pk=customer.pk)
        else:
            status = 422
    return render(request, "customers/form.html", {"form": form, "customer": None}, status=status)


@login_required
def customer_edit(request, pk: int):
    customer = _visible_customer(request, pk)
    if not request.user.can_write:
        return _forbidden(request, _no_write_message())
    form = CustomerForm(request.POST or None, user=request.user, customer=customer)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                updated = services.customer_update(actor=request.user, customer=customer,
                                                   data=form.to_service_data())
            except (ValidationFailed, PermissionDenied) as exc:
                form.add_service_errors(exc)
                status = 403 if isinstance(exc, PermissionDenied) else 422
            else:
                messages.success(request, _("Changes saved."))
                _warn_contact_clashes(request, updated)
                return redirect("customer-detail", pk=customer.pk)
        else:
            status = 422
    return render(request, "customers/form.html", {"form": form, "customer": customer}, status=status)


def _quick_action(request, pk: int, kind: str, write):
    """Shared flow of the three quick actions: validate, write, answer with the timeline.

    On invalid input htmx gets the form back (with its errors) in place of the form;
    a plain POST is redirected to the page with the errors as a message.
    """
    customer = _visible_customer(request, pk)
    if not request.user.can_write:
        return _forbidden(request, _no_write_message())
    extra = {"user": request.user, "customer": customer} if kind == "task" else {}
    form = QUICK_FORMS[kind](request.POST, auto_id=f"{kind}_%s", **extra)
    status = 422
    if form.is_valid():
        try:
            write(customer, form.cleaned_data)
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        except PermissionDenied as exc:
            return _forbidden(request, exc.detail)
        else:
            type_ = timeline_type_clean(request.POST.get("timeline_type"))
            if request.htmx:
                response = _render_timeline(request, customer, type_)
                response["HX-Trigger"] = "timeline-changed"
                return response
            messages.success(request, _("Saved."))
            return redirect(reverse("customer-detail", args=[customer.pk]))
    if request.htmx:
        html = render_to_string(
            "customers/_timeline_quick_form.html",
            {"customer": customer, "form": form, "kind": kind}, request,
        )
        response = HttpResponse(html, status=status)
        response["HX-Retarget"] = f"#quick-{kind}"
        response["HX-Reswap"] = "outerHTML"
        return response
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)
    return redirect(reverse("customer-detail", args=[customer.pk]))


@login_required
@require_POST
def customer_note_add(request, pk: int):
    def write(customer, data):
        services.note_create(actor=request.user, customer=customer, body=data["body"])

    return _quick_action(request, pk, "note", write)


@login_required
@require_POST
def customer_interaction_add(request, pk: int):
    def write(customer, data):
        services.interaction_create(
            actor=request.user, customer=customer, kind=data["kind"], direction=data["direction"],
            occurred_at=data["occurred_at"], subject=data["subject"], body=data["body"],
        )

    return _quick_action(request, pk, "interaction", write)


@login_required
@require_POST
def customer_task_add(request, pk: int):
    def write(customer, data):
        assignee = None
        if data.get("assignee") and data["assignee"] != request.user.pk:
            assignee = User.objects.filter(pk=data["assignee"], is_active=True).first()
        services.task_create(
            actor=request.user, customer=customer, title=data["title"],
            due_at=data["due_at"], description=data["description"], assignee=assignee,
        )

    return _quick_action(request, pk, "task", write)


@login_required
@require_POST
def task_done(request, pk: int):
    """Mark a follow-up done; answers with whichever list the click came from."""
    user = request.user
    task = (
        Task.objects.visible_to(user).select_related("customer", "assignee").filter(pk=pk).first()
    )
    if task is None:
        raise Http404
    if not user.can_write:
        return _forbidden(request, _no_write_message())
    try:
        services.task_complete(actor=user, task=task)
    except PermissionDenied as exc:
        return _forbidden(request, exc.detail)
    if request.htmx and request.POST.get("from") == "timeline" and task.customer_id:
        return _render_timeline(request, task.customer, timeline_type_clean(request.POST.get("timeline_type")))
    if request.htmx and request.POST.get("from") == "inbox":
        from valuecrm.customers.views.inbox import render_inbox_groups

        return render_inbox_groups(request)
    messages.success(request, _("Follow-up “%(title)s” done.") % {"title": task.title})
    if request.POST.get("from") == "inbox":
        return redirect("inbox")
    if task.customer_id:
        return redirect("customer-detail", pk=task.customer_id)
    return redirect("inbox")
