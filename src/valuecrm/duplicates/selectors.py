"""Reads for the duplicates and merge pages and API, through the customer visibility rule."""

from django.db.models import QuerySet

from valuecrm.customers.visibility import visible_customers
from valuecrm.duplicates.models import CandidateStatus, CustomerMerge, DuplicateCandidate


def duplicate_candidates(*, user, status: str = CandidateStatus.OPEN) -> QuerySet[DuplicateCandidate]:
    """Pairs where the user can see both customers (a pair half-hidden is not shown at all)."""
    visible = visible_customers(user).values("pk")
    return (DuplicateCandidate.objects.filter(status=status, customer_a__in=visible, customer_b__in=visible)
            .select_related("customer_a__company", "customer_b__company",
                            "customer_a__owner", "customer_b__owner"))


def duplicate_candidate_get(*, user, pk) -> DuplicateCandidate | None:
    visible = visible_customers(user).values("pk")
    return (DuplicateCandidate.objects.filter(pk=pk, customer_a__in=visible, customer_b__in=visible)
            .select_related("customer_a", "customer_b").first())


def customer_merges(*, user) -> QuerySet[CustomerMerge]:
    """Merges whose survivor the user can see (or whose survivor is gone, for admins)."""
    merges = CustomerMerge.objects.select_related("performed_by", "undone_by")
    if user.scope == "all":
        return merges
    return merges.filter(survivor_pk__in=visible_customers(user).values("pk"))

