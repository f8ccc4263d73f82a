"""The Ctrl/Cmd+K palette: matching customers (visible ones only) and pages to jump to."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET

from valuecrm.accounts.capabilities import Capability
from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.extensions import registry
from valuecrm.customers.selectors import SEARCH_MAX_LENGTH, customer_list

CUSTOMER_RESULTS = 8

def _everyone(user) -> bool:
    return True


def _capable(capability: Capability):
    """The page opens for users whose role grants ``capability`` (the check its view makes)."""
    return lambda user: user.can(capability)


def _superuser(user) -> bool:
    # Django admin opens for superusers only (accounts/apps.py).
    return user.is_superuser


# Every page of the sidebar and the user menu, with who may open it: (url name, label,
# icon, English keywords so "dash" finds 价值看板 in Chinese too, may the user open it).
# An app that is not installed (no such URL name) is skipped.
PAGES = (
    ("customer-list", _("Customers"), "people", "customers list clients", _everyone),
    ("customer-create", _("New customer"), "person-plus", "new customer create add", _capable(Capability.CUSTOMERS_CHANGE)),
    ("inbox", _("My follow-ups"), "check2-square", "inbox tasks follow-ups todo", _everyone),
    ("import-history", _("Imports"), "upload", "imports history upload csv excel", _everyone),
    ("import-wizard", _("Import a file"), "file-earmark-arrow-up", "import new upload csv xlsx", _capable(Capability.IMPORTS_RUN)),
    ("duplicates", _("Duplicates"), "intersect", "duplicates dedupe merge", _capable(Capability.CUSTOMERS_MERGE)),
    ("merges", _("Merge history"), "clock-history", "merges merge history undo", _capable(Capability.CUSTOMERS_MERGE)),
    ("value-dashboard", pgettext_lazy("navigation", "Value"), "graph-up-arrow", "value dashboard kpi clv", _everyone),
    ("model-report", _("Model report"), "clipboard-data", "model report evaluation", _everyone),
    ("value-settings", _("Value settings"), "sliders", "value settings tiers stages playbook", _everyone),
    ("integrations", _("Integrations"), "plug", "integrations webhooks inbound api", _capable(Capability.INTEGRATIONS_MANAGE)),
    ("webhook-deliveries", _("Webhook deliveries"), "send", "webhooks deliveries log", _capable(Capability.INTEGRATIONS_MANAGE)),
    ("profile", _("Profile and API tokens"), "person", "profile tokens api settings", _everyone),
    ("admin-users", _("Users & teams"), "person-gear", "users teams roles people staff accounts password", _capable(Capability.ADMIN_USERS)),
    ("admin:index", _("Administration"), "gear", "admin administration", _superuser),
)


def _pages(user, search: str) -> list[dict]:
    needle = search.casefold()
    pages = []
    registered = [(e.url_name, e.label, e.icon, e.keywords, e.allowed) for e in registry.palette_entries]
    for url_name, label, icon, keywords, may_open in (*PAGES, *registered):
        if not may_open(user):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        if needle and needle not in str(label).casefold() and needle not in keywords:
            continue
        pages.append({"url": url, "label": label, "icon": icon})
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
