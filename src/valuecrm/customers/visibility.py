"""Record visibility: the single rule every read path (pages, API, search, palette,
exports) uses, per owned record type.

Each owned model's queryset has `visible_to(user)`; it is defined here, in one
place, so that a page, the API and an export cannot disagree. Records about a
customer (tasks, notes, interactions, contact points, orders and the coming
deals/tickets) are visible exactly when their customer is; a record about nobody
(a task with no customer) is visible to the people involved with it.
"""

from django.db.models import Q, QuerySet

from valuecrm.accounts.roles import Scope

NOTHING = Q(pk__in=[])


def customer_visibility_q(user) -> Q:
    """A Q over Customer for what `user` may see.

    own  → customers the user owns;
    team → customers assigned to the user's team or owned by a team member (and own);
    all  → everything.
    """
    if not user or not user.is_authenticated:
        return NOTHING
    scope = user.scope
    if scope == Scope.ALL:
        return Q()
    own = Q(owner_id=user.pk)
    if scope == Scope.TEAM and user.team_id:
        return own | Q(team_id=user.team_id) | Q(owner__team_id=user.team_id)
    return own


def about_visible_customer_q(user, field: str = "customer") -> Q:
    """A Q over any model with a foreign key `field` to Customer: rows about a
    customer `user` may see (never rows about no customer)."""
    if not user or not user.is_authenticated:
        return NOTHING
    if user.scope == Scope.ALL:
        return Q(**{f"{field}__isnull": False})
    return Q(**{f"{field}__in": visible_customers(user).values("pk")})


def task_visibility_q(user) -> Q:
    """Tasks about a visible customer; a task about no customer when the user is
    involved (assignee or creator), a team-mate is the assignee (team scope), or the
    user sees everything. The record page, the activities page, the inbox, the API
    and the done button all use this."""
    if not user or not user.is_authenticated:
        return NOTHING
    about_visible = about_visible_customer_q(user)
    if user.scope == Scope.ALL:
        return Q(customer__isnull=True) | about_visible
    involved = Q(assignee_id=user.pk) | Q(created_by_id=user.pk)
    if user.scope == Scope.TEAM and user.team_id:
        involved |= Q(assignee__team_id=user.team_id)
    return (Q(customer__isnull=True) & involved) | about_visible


def visible_customers(user, queryset: QuerySet | None = None) -> QuerySet:
    from valuecrm.customers.models import Customer

    qs = Customer.objects.all() if queryset is None else queryset
    return qs.filter(customer_visibility_q(user))


def can_see_customer(user, customer) -> bool:
    return visible_customers(user).filter(pk=customer.pk).exists()


def can_change_customer(user, customer) -> bool:
    return bool(user.can_write) and can_see_customer(user, customer)


class AboutCustomerQuerySet(QuerySet):
    """Queryset base for records about a customer: visible when the customer is."""

    customer_field = "customer"

    def visible_to(self, user) -> QuerySet:
        return self.filter(about_visible_customer_q(user, self.customer_field))
