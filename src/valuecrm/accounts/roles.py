"""Roles and what each may see and do.

Visibility is a property of the role, not of each permission check, so the same
rule applies in pages, the API, search and exports (see customers.selectors).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    SALES_MANAGER = "sales_manager", _("Sales manager")
    SALES_REP = "sales_rep", _("Sales rep")
    SUPPORT_AGENT = "support_agent", _("Support agent")
    MARKETER = "marketer", _("Marketer")
    ANALYST = "analyst", _("Analyst")
    READ_ONLY = "read_only", _("Read-only")


class Scope(models.TextChoices):
    OWN = "own", _("Own records")
    TEAM = "team", _("Team records")
    ALL = "all", _("All records")


# Which customers a role can see. A rep works their own book; a manager their
# team's; service, marketing and analytics need the whole base.
ROLE_SCOPE = {
    Role.ADMIN: Scope.ALL,
    Role.SALES_MANAGER: Scope.TEAM,
    Role.SALES_REP: Scope.OWN,
    Role.SUPPORT_AGENT: Scope.ALL,
    Role.MARKETER: Scope.ALL,
    Role.ANALYST: Scope.ALL,
    Role.READ_ONLY: Scope.TEAM,
}
