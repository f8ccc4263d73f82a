"""Privacy pages: a person's consent and rights, the erasure confirmation and proofs,
consent wording, and "explain this score". Thin: selectors read, services write."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from valuecrm.accounts.capabilities import Capability
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.selectors import customer_get
from valuecrm.privacy import selectors, services
from valuecrm.privacy.erasure import customer_erase
from valuecrm.privacy.explain import explain
from valuecrm.privacy.export import personal_data_export
from valuecrm.privacy.forms import ConsentChangeForm, ConsentTextForm, EraseForm
from valuecrm.privacy.models import Source


def _customer(request, pk):
    try:
        return customer_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404 from None


def _require(request, capability):
    if not request.user.can(capability):
        raise DjangoPermissionDenied(_("Your role does not allow this."))


@login_required
@require_GET
def customer_privacy(request, pk: int):
    """Consent per channel and purpose with the ledger; export, explain and erase."""
    customer = _customer(request, pk)
    return render(request, "privacy/customer_privacy.html", {
        "customer": customer,
        "consent": selectors.consent_overview(customer),
        "ledger": selectors.consent_ledger(customer, limit=200),
        "exports": selectors.export_log(request.user, customer),
        "erasure": getattr(customer, "erasure", None) if selectors.is_erased(customer) else None,
        "can_change": request.user.can(Capability.CUSTOMERS_CHANGE),
    })


@login_required
@require_POST
def consent_change(request, pk: int):
    customer = _customer(request, pk)
    form = ConsentChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("That consent change could not be read."))
        return redirect("customer-privacy", pk=customer.pk)
    try:
        services.consent_record(actor=request.user, customer=customer, source=Source.FORM, **form.cleaned_data)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    except (ValidationFailed, Conflict) as exc:
        messages.error(request, " ".join([exc.detail, *[m for ms in exc.errors.values() for m in ms]]))
    else:
        messages.success(request, _("Consent recorded."))
    return redirect(reverse("customer-privacy", args=[customer.pk]) + "#consent")


@login_required
@require_POST
def personal_data_download(request, pk: int):
    customer = _customer(request, pk)
    file_format = request.POST.get("format", "json")
    try:
        name, content, content_type = personal_data_export(actor=request.user, customer=customer,
                                                           file_format=file_format)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    except ValidationFailed:
        messages.error(request, _("Choose JSON or ZIP."))
        return redirect("customer-privacy", pk=customer.pk)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def customer_erase_confirm(request, pk: int):
    customer = _customer(request, pk)
    _require(request, Capability.PRIVACY_ERASE)
    if selectors.is_erased(customer):
        return redirect("privacy-erasure", pk=customer.erasure.pk)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        proof = customer_erase(actor=request.user, customer=customer, reason=form.cleaned_data["reason"])
        messages.success(request, _("The person's personal data was erased. This is the proof."))
        return redirect("privacy-erasure", pk=proof.pk)
    return render(request, "privacy/erase_confirm.html", {
        "customer": customer, "form": form,
        "counts": {
            "orders": customer.orders.count(),
            "interactions": customer.interactions.count(),
            "notes": customer.notes.count(),
            "contact_points": customer.contact_points.count(),
        },
    }, status=422 if request.method == "POST" else 200)


@login_required
@require_GET
def erasure_list(request):
    try:
        proofs = selectors.erasure_log(request.user)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    return render(request, "privacy/erasure_list.html", {"proofs": proofs})


@login_required
@require_GET
def erasure_detail(request, pk: int):
    try:
        proof = selectors.erasure_get(request.user, pk)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    except NotFound:
        raise Http404 from None
    tables = sorted(proof.tables.items())
    return render(request, "privacy/erasure_detail.html", {"proof": proof, "tables": tables,
                                                            "kept": sorted(proof.kept.items())})


@login_required
@require_http_methods(["GET", "POST"])
def consent_texts(request):
    _require(request, Capability.PRIVACY_MANAGE)
    form = ConsentTextForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                text = services.consent_text_publish(actor=request.user, **form.cleaned_data)
            except ValidationFailed as exc:
                for field, errors in exc.errors.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("Version %(v)s of this wording is now the one cited.") % {"v": text.version})
                return redirect("privacy-consent-texts")
        status = 422
    return render(request, "privacy/consent_texts.html", {"form": form, "texts": selectors.consent_texts()},
                  status=status)


@login_required
@require_GET
def score_explanation(request, pk: int):
    customer = _customer(request, pk)
    return render(request, "privacy/explain.html", {"customer": customer, "x": explain(customer)})
