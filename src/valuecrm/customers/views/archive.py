"""Archive, unarchive and delete a customer (managers).

Archiving hides the customer from lists, search and exports and keeps everything;
deleting is final, so it goes through a confirmation page that says exactly what
goes with the customer. The writes are customers.services' customer_archive,
customer_unarchive and customer_delete.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from valuecrm.accounts.capabilities import Capability
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied
from valuecrm.customers import services
from valuecrm.customers.selectors import customer_get


def _customer(request, pk: int):
    try:
        customer = customer_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404 from None
    if not request.user.can(Capability.CUSTOMERS_DELETE):
        raise DjangoPermissionDenied(_("Only managers can archive or delete customers."))
    return customer


def _write(request, write, customer):
    try:
        return write(actor=request.user, customer=customer)
    except NotFound:
        raise Http404 from None
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None


@login_required
@require_POST
def customer_archive(request, pk: int):
    customer = _write(request, services.customer_archive, _customer(request, pk))
    messages.success(request, _("“%(name)s” is archived: hidden from lists, search and exports. "
                                "Nothing was deleted.") % {"name": customer.name})
    return redirect("customer-detail", pk=customer.pk)


@login_required
@require_POST
def customer_unarchive(request, pk: int):
    customer = _write(request, services.customer_unarchive, _customer(request, pk))
    messages.success(request, _("“%(name)s” is back in the lists.") % {"name": customer.name})
    return redirect("customer-detail", pk=customer.pk)


def deletion_summary(customer) -> dict:
    """What goes with the customer (cascades), and what blocks the deletion."""
    return {
        "orders": customer.orders.count(),
        "tasks": customer.tasks.count(),
        "notes": customer.notes.count(),
        "interactions": customer.interactions.count(),
        "contact_points": customer.contact_points.count(),
        "contacts": customer.contacts.count(),
    }


@login_required
def customer_delete(request, pk: int):
    """GET: the confirmation page. POST: delete, then back to the list."""
    customer = _customer(request, pk)
    summary = deletion_summary(customer)
    error, status = "", 200
    if request.method == "POST":
        name = customer.name
        try:
            _write(request, services.customer_delete, customer)
        except Conflict as exc:
            error, status = exc.detail, 409
        else:
            messages.success(request, _("“%(name)s” was deleted.") % {"name": name})
            return redirect(reverse("customer-list"))
    return render(request, "customers/delete_confirm.html", {
        "customer": customer, "summary": summary, "error": error,
    }, status=status)
