"""The Ctrl/Cmd+K palette: matching customers (visible ones only) and pages to jump to."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.selectors import SEARCH_MAX_LENGTH, customer_list

CUSTOMER_RESULTS = 8

# (url name, label, icon, English keywords so "dash" finds 价值看板 in Chinese too)
PAGES = (
    ("customer-list", _("Customers"), "people", "customers list clients"),
    ("customer-create", _("New customer"), "person-plus", "new customer create add"),
    ("inbox", _("My follow-ups"), "check2-square", "inbox tasks follow-ups todo"),
    ("value-dashboard", _("Value"), "graph-up-arrow", "value dashboard kpi clv"),
    ("model-report", _("Model report"), "clipboard-data", "model report evaluation"),
    ("profile", _("Profile and API tokens"), "person", "profile tokens api settings"),
)


def _pages(user, search: str) -> list[dict]:
    needle = search.casefold()
    pages = []
    for url_name, label, icon, keywords in PAGES:
        if url_name == "customer-create" and not user.can_write:
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        if needle and needle not in str(label).casefold() and needle not in keywords:
            continue
        pages.append({"url": url, "label": label, "icon": icon})
    if user.is_staff or user.is_superuser:
        label = _("Administration")
        if not needle or needle in str(label).casefold() or needle in "admin administration":
            pages.append({"url": reverse("admin:index"), "label": label, "icon": "gear"})
    if not needle or needle in "api docs openapi" or needle in str(_("API docs")).casefold():
        pages.append({"url": "/api/docs", "label": _("API docs"), "icon": "braces"})
    return pages


@login_required
@require_GET
def palette(request):
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    customers = []
    if search:
        try:
            customers, _cursor = customer_list(
                user=request.user, search=search, sort="name", limit=CUSTOMER_RESULTS
            )
        except ValidationFailed:
            customers = []
    return render(request, "customers/palette_results.html", {
        "search": search,
        "customers": customers,
        "pages": _pages(request.user, search),
    })
