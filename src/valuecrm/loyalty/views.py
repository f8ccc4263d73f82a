"""Loyalty pages: the dashboard, the programme settings and a customer's ledger. Thin:
reads through selectors, writes through services (which check permissions)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.accounts.capabilities import Capability
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.loyalty import effect, selectors, services
from valuecrm.loyalty.forms import AdjustForm, ProgramForm, RedeemForm
from valuecrm.loyalty.models import EntryKind, Program, Tier

PAGE_SIZE = 50


@login_required
@require_GET
def dashboard(request):
    figures = selectors.dashboard(user=request.user)
    peak = max([max(m["earned"], m["redeemed"], m["expired"]) for m in figures["monthly"]] or [0]) or 1
    for month in figures["monthly"]:
        for key in ("earned", "redeemed", "expired"):
            month[f"{key}_pct"] = round(100 * month[key] / peak)
    biggest_tier = max([t["members"] for t in figures["tiers"]] or [0]) or 1
    for tier in figures["tiers"]:
        tier["pct"] = round(100 * tier["members"] / biggest_tier)
    return render(request, "loyalty/dashboard.html", {
        "f": figures, "program": selectors.program_current(), "effect": effect.member_effect(user=request.user),
        "can_manage": request.user.can(Capability.LOYALTY_MANAGE),
    })


@login_required
def program(request):
    if not request.user.can(Capability.LOYALTY_MANAGE):
        raise DjangoPermissionDenied(_("Your role cannot change the loyalty programme."))
    current = selectors.program_current()
    initial = ProgramForm.initial_from(current)
    initial["effective_from"] = timezone.localdate()
    form = ProgramForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.program_update(actor=request.user, data=dict(form.cleaned_data))
            except ValidationFailed as exc:
                for key, msgs in exc.errors.items():
                    form.add_error(key if key in form.fields else None, msgs)
                status = 422
            else:
                messages.success(request, _("Loyalty programme saved."))
                return redirect("loyalty-program")
        else:
            status = 422
    return render(request, "loyalty/program.html", {
        "form": form, "program": current, "tiers": Tier.objects.order_by("rank"),
        "versions": Program.objects.order_by("-effective_from", "-id")[:10],
    }, status=status)


def _account_or_404(request, pk):
    try:
        return selectors.account_view(user=request.user, customer_id=pk)
    except NotFound:
        raise Http404 from None


@login_required
@require_GET
def customer_ledger(request, pk: int):
    account = _account_or_404(request, pk)
    try:
        rows, next_cursor = selectors.ledger_page(user=request.user, customer_id=pk,
                                                  after=request.GET.get("after") or None, limit=PAGE_SIZE)
    except ValidationFailed:
        rows, next_cursor = [], None
    from valuecrm.customers.models import Customer

    return render(request, "loyalty/ledger.html", {
        "account": account, "customer": Customer.objects.get(pk=pk), "rows": rows, "next_cursor": next_cursor,
        "redeem_form": RedeemForm(), "adjust_form": AdjustForm(), "kinds": EntryKind,
        "can_adjust": request.user.can(Capability.LOYALTY_ADJUST),
        "can_redeem": request.user.can(Capability.CUSTOMERS_CHANGE),
        "referrals": selectors.referrals_for(user=request.user, customer_id=pk, limit=20),
        "program": selectors.program_current(),
    })


def _post_action(request, pk, form_class, call, done_message):
    _account_or_404(request, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        for msgs in form.errors.values():
            messages.error(request, " ".join(msgs))
        return redirect("loyalty-ledger", pk=pk)
    try:
        call(form.cleaned_data)
    except (ValidationFailed, Conflict) as exc:
        detail = " ".join(m for msgs in (exc.errors or {}).values() for m in msgs) or exc.detail
        messages.error(request, detail)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    else:
        messages.success(request, done_message(form.cleaned_data))
    return redirect(reverse("loyalty-ledger", args=[pk]))


@login_required
@require_POST
def redeem(request, pk: int):
    return _post_action(
        request, pk, RedeemForm,
        lambda d: services.points_redeem(actor=request.user, customer_id=pk, points=d["points"],
                                         reference=d["reference"]),
        lambda d: _("Redeemed %(n)s points.") % {"n": d["points"]})


@login_required
@require_POST
def adjust(request, pk: int):
    return _post_action(
        request, pk, AdjustForm,
        lambda d: services.points_adjust(actor=request.user, customer_id=pk, points=d["points"],
                                         reason=d["reason"]),
        lambda d: _("Adjusted by %(n)s points.") % {"n": d["points"]})


@login_required
@require_GET
def vip(request):
    overdue_only = request.GET.get("overdue") == "yes"
    return render(request, "loyalty/vip.html", {
        "rows": selectors.vip_list(user=request.user, overdue_only=overdue_only), "overdue_only": overdue_only,
        "program": selectors.program_current(),
    })
