"""Pages: duplicate pairs, the merge review, merge history and undo.
Thin: reads from selectors, writes through the services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from valuecrm.common.errors import DomainError
from valuecrm.customers.models import Customer, CustomFieldDefinition
from valuecrm.customers.visibility import visible_customers
from valuecrm.duplicates import selectors, services
from valuecrm.duplicates.duplicates import THRESHOLD, reason_text
from valuecrm.duplicates.merge import (
    CUSTOM_PREFIX,
    MERGED,
    SURVIVOR,
    customer_merge,
    customer_merge_undo,
    default_choices,
    merge_fields,
)

PAGE_SIZE = 50


def _error_text(exc: DomainError) -> str:
    details = [msg for msgs in exc.errors.values() for msg in msgs]
    return " ".join(details) if details else exc.detail


def _forbidden(request, exc: DomainError):
    return render(request, "duplicates/forbidden.html", {"detail": exc.detail}, status=403)


# ---------------------------------------------------------------- duplicates

@login_required
@require_GET
def duplicate_list(request):
    try:
        services.require_duplicate_manager(request.user)
    except DomainError as exc:
        return _forbidden(request, exc)
    status = "dismissed" if request.GET.get("status") == "dismissed" else "open"
    pairs = selectors.duplicate_candidates(user=request.user, status=status)
    page = Paginator(pairs, PAGE_SIZE).get_page(request.GET.get("page"))
    for pair in page:
        pair.reasons = [{"text": reason_text(r), "points": r.get("points", 0)}
                        for r in (pair.evidence or {}).get("reasons", [])]
    return render(request, "integrations/duplicates.html", {
        "page": page, "status": status, "threshold": THRESHOLD,
        "open_count": selectors.duplicate_candidates(user=request.user).count(),
    })


@login_required
@require_POST
def duplicate_scan_view(request):
    try:
        result = services.duplicate_scan_run(actor=request.user)
    except DomainError as exc:
        return _forbidden(request, exc)
    messages.success(request, _("Scan finished: %(found)d likely duplicate pairs (%(new)d new) "
                                "from %(compared)d compared.") % {
        "found": result.found, "new": result.new, "compared": result.compared})
    if result.skipped_blocks:
        messages.info(request, _("%(n)d e-mails, phones or names shared by more than 50 customers "
                                 "were not used for matching.") % {"n": result.skipped_blocks})
    return redirect("duplicates")


@login_required
@require_POST
def duplicate_dismiss_view(request, pk: int):
    try:
        services.duplicate_dismiss(actor=request.user, pk=pk)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Marked as not a duplicate."))
    return redirect("duplicates")


def _display(customer: Customer, key: str, definitions: dict) -> str:
    if key.startswith(CUSTOM_PREFIX):
        value = (customer.custom_fields or {}).get(key[len(CUSTOM_PREFIX):])
    else:
        field = Customer._meta.get_field(key)
        if field.is_relation:
            value = getattr(customer, field.name)
        elif field.choices:
            value = getattr(customer, f"get_{field.name}_display")() if getattr(customer, key) else ""
        else:
            value = getattr(customer, key)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if hasattr(value, "display_name"):
        return value.display_name
    if hasattr(value, "tzinfo"):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _label(key: str, definitions: dict) -> str:
    if key.startswith(CUSTOM_PREFIX):
        definition = definitions.get(key[len(CUSTOM_PREFIX):])
        if definition is None:
            return key[len(CUSTOM_PREFIX):]
        zh = (get_language() or "").startswith("zh")
        return definition.label_zh if zh and definition.label_zh else definition.label
    return str(Customer._meta.get_field(key).verbose_name).capitalize()


def _related_counts(customer: Customer) -> dict:
    counts = Customer.objects.filter(pk=customer.pk).aggregate(
        orders=Count("orders", distinct=True), interactions=Count("interactions", distinct=True),
        tasks=Count("tasks", distinct=True), notes=Count("notes", distinct=True),
        contact_points=Count("contact_points", distinct=True), contacts=Count("contacts", distinct=True),
    )
    counts["tags"] = ", ".join(customer.tags.values_list("name", flat=True))
    return counts


def _merge_pair(request):
    source = request.POST if request.method == "POST" else request.GET
    ids = []
    for key in ("survivor", "merged"):
        value = source.get(key, "")
        if not value.isdigit():
            raise Http404
        ids.append(int(value))
    visible = {c.pk: c for c in visible_customers(request.user).filter(pk__in=ids)
               .select_related("company", "owner", "team")}
    if len(visible) != 2 or ids[0] == ids[1]:
        raise Http404
    return visible[ids[0]], visible[ids[1]]


@login_required
@require_http_methods(["GET", "POST"])
def merge_review(request):
    """Side by side; a radio per differing field; POST merges."""
    try:
        services.require_duplicate_manager(request.user)
    except DomainError as exc:
        return _forbidden(request, exc)
    survivor, merged = _merge_pair(request)
    if request.method == "POST":
        keys = merge_fields(survivor, merged)
        choices = {key: request.POST[f"choice-{key}"] for key in keys if f"choice-{key}" in request.POST}
        try:
            merge = customer_merge(actor=request.user, survivor=survivor, merged=merged,
                                   field_choices=choices)
        except DomainError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, _("Merged “%(merged)s” into “%(survivor)s”. You can undo this "
                                        "on the merge history page.") % {
                "merged": merge.merged_name, "survivor": merge.survivor_name})
            return redirect("customer-detail", pk=survivor.pk)
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    defaults = default_choices(survivor, merged)
    rows = []
    for key in merge_fields(survivor, merged):
        a, b = _display(survivor, key, definitions), _display(merged, key, definitions)
        if not a and not b and key not in defaults:
            continue
        rows.append({"key": key, "label": _label(key, definitions), "survivor": a, "merged": b,
                     "differs": key in defaults, "choice": defaults.get(key, SURVIVOR)})
    return render(request, "integrations/merge.html", {
        "survivor": survivor, "merged": merged, "rows": rows,
        "survivor_counts": _related_counts(survivor), "merged_counts": _related_counts(merged),
        "SURVIVOR": SURVIVOR, "MERGED": MERGED,
        "swap_url": f"{reverse('merge-review')}?survivor={merged.pk}&merged={survivor.pk}",
    })


@login_required
@require_GET
def merge_list(request):
    try:
        services.require_duplicate_manager(request.user)
    except DomainError as exc:
        return _forbidden(request, exc)
    page = Paginator(selectors.customer_merges(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    for merge in page:
        merge.taken_labels = [_label(key, definitions) for key, side in merge.field_choices.items()
                              if side == MERGED and _known_field(key)]
    return render(request, "integrations/merges.html", {"page": page})


def _known_field(key: str) -> bool:
    from django.core.exceptions import FieldDoesNotExist

    if key.startswith(CUSTOM_PREFIX):
        return True
    try:
        Customer._meta.get_field(key)
    except FieldDoesNotExist:
        return False
    return True


@login_required
@require_POST
def merge_undo_view(request, pk: int):
    merge = selectors.customer_merges(user=request.user).filter(pk=pk).first()
    if merge is None:
        raise Http404
    try:
        customer_merge_undo(actor=request.user, merge=merge)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Merge undone: “%(merged)s” and “%(survivor)s” are separate again.") % {
            "merged": merge.merged_name, "survivor": merge.survivor_name})
    return redirect("merges")
