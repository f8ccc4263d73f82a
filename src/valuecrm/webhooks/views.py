"""Pages: the integrations hub (outbound webhooks, inbound order sources) and the
webhook delivery log. Thin: reads from selectors, writes through webhooks.py/inbound.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.accounts.capabilities import Capability, has_capability
from valuecrm.accounts.models import User
from valuecrm.common.errors import DomainError, PermissionDenied
from valuecrm.webhooks import selectors, webhooks
from valuecrm.webhooks.inbound import inbound_source_create
from valuecrm.webhooks.models import (
    DeliveryStatus,
    InboundSource,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

PAGE_SIZE = 50


def _error_text(exc: DomainError) -> str:
    details = [msg for msgs in exc.errors.values() for msg in msgs]
    return " ".join(details) if details else exc.detail


def _is_admin(user) -> bool:
    return has_capability(user, Capability.INTEGRATIONS_MANAGE)


def _require_admin(request) -> None:
    if not _is_admin(request.user):
        raise PermissionDenied(_("Only administrators can manage integrations."))


def _forbidden(request, exc: DomainError):
    return render(request, "webhooks/forbidden.html", {"detail": exc.detail}, status=403)


# ---------------------------------------------------------------- integrations hub (admin)

@login_required
@require_GET
def integrations_home(request):
    try:
        _require_admin(request)
    except DomainError as exc:
        return _forbidden(request, exc)
    endpoints = list(WebhookEndpoint.objects.annotate(n_deliveries=Count("deliveries")))
    return render(request, "integrations/home.html", {
        "endpoints": endpoints,
        "sources": InboundSource.objects.select_related("run_as"),
        "events": WebhookEvent.values,
        "writers": [u for u in User.objects.filter(is_active=True).order_by("username") if u.can(Capability.ORDERS_CHANGE)],
        "inbound_base": request.build_absolute_uri("/api/v1/inbound/orders/"),
    })


@login_required
@require_POST
def endpoint_create_view(request):
    try:
        endpoint = webhooks.endpoint_create(actor=request.user, data={
            "name": request.POST.get("name", ""), "url": request.POST.get("url", ""),
            "event_types": request.POST.getlist("event_types"),
        })
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Webhook “%(name)s” added.") % {"name": endpoint.name})
    return redirect("integrations")


@login_required
@require_POST
def endpoint_action_view(request, pk: int):
    try:
        endpoint = webhooks.endpoint_get(actor=request.user, pk=pk)
        action = request.POST.get("action")
        if action == "delete":
            webhooks.endpoint_delete(actor=request.user, endpoint=endpoint)
            messages.success(request, _("Webhook “%(name)s” deleted.") % {"name": endpoint.name})
        elif action == "toggle":
            webhooks.endpoint_update(actor=request.user, endpoint=endpoint, data={
                "name": endpoint.name, "url": endpoint.url, "event_types": endpoint.event_types,
                "active": not endpoint.active})
        else:
            return HttpResponseBadRequest(_("Unknown action."))
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    return redirect("integrations")


@login_required
@require_POST
def inbound_source_create_view(request):
    run_as_id = request.POST.get("run_as", "")
    run_as = User.objects.filter(pk=run_as_id).first() if run_as_id.isdigit() else None
    try:
        source = inbound_source_create(actor=request.user, key=request.POST.get("key", ""),
                                       name=request.POST.get("name", ""), run_as=run_as)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Order source “%(key)s” added.") % {"key": source.key})
    return redirect("integrations")


@login_required
@require_GET
def delivery_list(request):
    try:
        _require_admin(request)
    except DomainError as exc:
        return _forbidden(request, exc)
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    deliveries = selectors.webhook_deliveries(status=status)
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "integrations/deliveries.html", {
        "page": page, "status": status, "statuses": DeliveryStatus.choices})


@login_required
@require_POST
def delivery_resend_view(request, pk: int):
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=pk).first()
    if delivery is None:
        raise Http404
    try:
        copy = webhooks.delivery_resend(actor=request.user, delivery=delivery)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        copy.refresh_from_db()
        messages.success(request, _("Re-sent as delivery #%(id)d (%(status)s).") % {
            "id": copy.pk, "status": copy.get_status_display()})
    return redirect("webhook-deliveries")
