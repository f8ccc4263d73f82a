"""What each role may do: one table of capabilities, checked by the services.

Pages, the API, the CLI and automation call the same service functions, so a
check here holds on every path; views only *ask* (`user.can("deals.change")`) to
decide what to show. Which records a user may see is separate (the role's
scope, see roles.ROLE_SCOPE and common.visibility).

Later apps add their capabilities to this table rather than testing role names.
"""

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.accounts.roles import Role
from valuecrm.common.errors import PermissionDenied


class Capability(models.TextChoices):
    CUSTOMERS_CHANGE = "customers.change", gettext_lazy("Create and change customers and their timeline")
    CUSTOMERS_REASSIGN = "customers.reassign", gettext_lazy("Reassign owners, share views, bulk-edit")
    CUSTOMERS_DELETE = "customers.delete", gettext_lazy("Delete customers and others' activities")
    CUSTOMERS_MERGE = "customers.merge", gettext_lazy("Review duplicates and merge customers")
    ORDERS_CHANGE = "orders.change", gettext_lazy("Record orders and change their status")
    CATALOGUE_CHANGE = "catalogue.change", gettext_lazy("Manage products")
    IMPORTS_RUN = "imports.run", gettext_lazy("Import customers and orders")
    IMPORTS_MANAGE = "imports.manage", gettext_lazy("See and undo others' imports; import products")
    POLICIES_CHANGE = "policies.change", gettext_lazy("Change value policies and the playbook")
    SCORING_RUN = "scoring.run", gettext_lazy("Run customer scoring")
    DEALS_CHANGE = "deals.change", gettext_lazy("Work deals")
    DEALS_CONFIGURE = "deals.configure", gettext_lazy("Change pipelines, pool rules and claim caps")
    TICKETS_WORK = "tickets.work", gettext_lazy("Work service tickets")
    CAMPAIGNS_SEND = "campaigns.send", gettext_lazy("Send campaigns")
    LOYALTY_ADJUST = "loyalty.adjust", gettext_lazy("Adjust loyalty points")
    LOYALTY_MANAGE = "loyalty.manage", gettext_lazy("Change the loyalty programme's rules and tiers")
    AUTOMATION_MANAGE = "automation.manage", gettext_lazy("Create and change automation rules")
    INTEGRATIONS_MANAGE = "integrations.manage", gettext_lazy("Manage webhooks and inbound sources")
    DATA_EXPORT_ALL = "data.export_all", gettext_lazy("Export the whole account")
    ADMIN_USERS = "admin.users", gettext_lazy("Manage users, teams and roles")
    PRIVACY_EXPORT = "privacy.export", gettext_lazy("Export one person's personal data")
    PRIVACY_ERASE = "privacy.erase", gettext_lazy("Erase a person's personal data and see the proofs")
    PRIVACY_MANAGE = "privacy.manage", gettext_lazy("Write and version consent wording")


C = Capability
_WRITER = {C.CUSTOMERS_CHANGE, C.ORDERS_CHANGE, C.IMPORTS_RUN}
_MANAGER = _WRITER | {C.CUSTOMERS_REASSIGN, C.CUSTOMERS_DELETE, C.CUSTOMERS_MERGE, C.IMPORTS_MANAGE,
                      C.CATALOGUE_CHANGE}

# The one table. Superusers hold every capability.
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.SALES_MANAGER: frozenset(_MANAGER | {C.DEALS_CHANGE, C.LOYALTY_ADJUST, C.PRIVACY_EXPORT}),
    Role.SALES_REP: frozenset(_WRITER | {C.DEALS_CHANGE}),
    Role.SUPPORT_AGENT: frozenset(_WRITER | {C.TICKETS_WORK}),
    Role.MARKETER: frozenset(_WRITER | {C.CAMPAIGNS_SEND, C.LOYALTY_ADJUST, C.LOYALTY_MANAGE}),
    Role.ANALYST: frozenset({C.SCORING_RUN}),
    Role.READ_ONLY: frozenset(),
}


def capabilities_of(user) -> frozenset[Capability]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Capability)
    return ROLE_CAPABILITIES.get(user.role, frozenset())


def has_capability(user, capability: str) -> bool:
    return Capability(capability) in capabilities_of(user)


# Why a capability is refused, in the words a user understands.
_REFUSALS = {
    C.CUSTOMERS_CHANGE: gettext_lazy("Your role cannot change records."),
    C.CUSTOMERS_REASSIGN: gettext_lazy("Only managers can reassign customers."),
    C.CUSTOMERS_DELETE: gettext_lazy("Only managers can delete customers."),
    C.CUSTOMERS_MERGE: gettext_lazy("Only managers can review duplicates."),
    C.POLICIES_CHANGE: gettext_lazy("Only administrators can change value policies."),
    C.INTEGRATIONS_MANAGE: gettext_lazy("Only administrators can manage integrations."),
    C.AUTOMATION_MANAGE: gettext_lazy("Your role cannot change automation rules."),
    C.PRIVACY_EXPORT: gettext_lazy("Only managers and administrators can export a person's data."),
    C.PRIVACY_ERASE: gettext_lazy("Only administrators can erase personal data."),
    C.PRIVACY_MANAGE: gettext_lazy("Only administrators can change consent wording."),
    C.LOYALTY_ADJUST: gettext_lazy("Your role cannot adjust loyalty points."),
    C.LOYALTY_MANAGE: gettext_lazy("Your role cannot change the loyalty programme."),
    C.DEALS_CONFIGURE: gettext_lazy("Only administrators can change pipelines and pool rules."),
}


def require(user, capability: str, message: str | None = None) -> None:
    """Raise PermissionDenied unless `user` holds `capability`."""
    if not has_capability(user, capability):
        raise PermissionDenied(message or str(_REFUSALS.get(Capability(capability))
                                              or _("Your role does not allow this.")))
