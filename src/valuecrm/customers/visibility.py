"""Record visibility: the single rule every read path (pages, API, search, export) uses."""

from django.db.models import Q, QuerySet

from valuecrm.accounts.roles import Scope


def customer_visibility_q(user) -> Q:
    """A Q over Customer for what `user` may see.

    own  → customers the user owns;
    team → customers assigned to the user's team or owned by a team member (and own);
    all  → everything.
    """
    if not user or not user.is_authenticated:
        return Q(pk__in=[])
    scope = user.scope
    if scope == Scope.ALL:
        return Q()
    own = Q(owner_id=user.pk)
    if scope == Scope.TEAM and user.team_id:
        return own | Q(team_id=user.team_id) | Q(owner__team_id=user.team_id)
    return own


def visible_customers(user, queryset: QuerySet | None = None) -> QuerySet:
    from valuecrm.customers.models import Customer

    qs = Customer.objects.all() if queryset is None else queryset
    return qs.filter(customer_visibility_q(user))


def can_see_customer(user, customer) -> bool:
    return visible_customers(user).filter(pk=customer.pk).exists()


def can_change_customer(user, customer) -> bool:
    return bool(user.can_write) and can_see_customer(user, customer)
