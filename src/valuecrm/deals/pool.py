"""Reads of the 公海 pool: who is in it, and how long an owned customer has until the
reclaim rules give it back (the countdown on the record page; the nightly sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from valuecrm.deals.models import PoolMove, PoolMoveKind, PoolRule


@dataclass(frozen=True)
class Countdown:
    customer_id: int
    owner_id: int | None
    last_touch: datetime
    days_allowed: int
    days_quiet: int
    days_left: int
    warn_only: bool

    @property
    def urgent(self) -> bool:
        return self.days_left < 3


def _rules() -> dict[tuple[str, str], PoolRule]:
    return {(r.tier, r.stage): r for r in PoolRule.objects.all()}


def rule_for(rules: dict, tier: str, stage: str) -> PoolRule | None:
    """The most specific rule: tier and stage, then tier, then stage, then the default."""
    for key in ((tier, stage), (tier, ""), ("", stage), ("", "")):
        if key in rules and (key[0] in ("", tier)) and (key[1] in ("", stage)):
            return rules[key]
    return None


def _owned_with_last_touch(queryset):
    """Owned customers with the last follow-up: the newest logged interaction, or when
    they were claimed/assigned (the newest pool move), or when the record was created."""
    from valuecrm.customers.models import Interaction

    last_interaction = Interaction.objects.filter(customer_id=OuterRef("pk")).order_by().values(
        "customer_id").annotate(m=Max("occurred_at")).values("m")
    last_claim = PoolMove.objects.filter(customer_id=OuterRef("pk"), kind=PoolMoveKind.CLAIMED).order_by().values(
        "customer_id").annotate(m=Max("at")).values("m")
    return queryset.filter(owner_id__isnull=False, archived_at__isnull=True).annotate(
        last_interaction=Subquery(last_interaction), last_claim=Subquery(last_claim),
    ).values_list("pk", "owner_id", "created_at", "last_interaction", "last_claim", "value__tier", "value__stage")


def _countdown(row, rules, now) -> Countdown | None:
    pk, owner_id, created_at, last_interaction, last_claim, tier, stage = row
    rule = rule_for(rules, tier or "", stage or "")
    if rule is None:
        return None
    last = max(t for t in (created_at, last_interaction, last_claim) if t is not None)
    quiet = (now - last) // timedelta(days=1)
    return Countdown(pk, owner_id, last, rule.days, quiet, rule.days - quiet, rule.warn_only)


def countdown_for(customer, *, now=None) -> Countdown | None:
    from valuecrm.customers.models import Customer

    rules = _rules()
    if not rules or customer.owner_id is None:
        return None
    row = _owned_with_last_touch(Customer.objects.filter(pk=customer.pk)).first()
    return _countdown(row, rules, now or timezone.now()) if row else None


def due_for_reclaim(*, now=None) -> list[Countdown]:
    from valuecrm.customers.models import Customer

    rules = _rules()
    if not rules:
        return []
    now = now or timezone.now()
    out = []
    for row in _owned_with_last_touch(Customer.objects.all()).iterator(chunk_size=2000):
        c = _countdown(row, rules, now)
        if c is not None and c.days_left <= 0:
            out.append(c)
    return out


def near_reclaim(*, user, within_days: int = 7, now=None, limit: int = 50) -> list[Countdown]:
    """The user's visible owned customers whose countdown ends within `within_days`."""
    from valuecrm.customers.visibility import visible_customers

    rules = _rules()
    if not rules:
        return []
    now = now or timezone.now()
    out = []
    for row in _owned_with_last_touch(visible_customers(user)).iterator(chunk_size=2000):
        c = _countdown(row, rules, now)
        if c is not None and c.days_left <= within_days:
            out.append(c)
    out.sort(key=lambda c: c.days_left)
    return out[:limit]


def pool_customers(*, user, search: str = "", tier: str = "", limit: int = 50, after: int | None = None):
    """Customers in the pool (no owner, not archived), newest id first; anyone who works
    deals may see and claim them."""
    from valuecrm.customers.models import Customer

    qs = Customer.objects.filter(owner_id__isnull=True, archived_at__isnull=True).select_related("value")
    if search:
        qs = qs.filter(name__icontains=search)
    if tier:
        qs = qs.filter(value__tier=tier)
    if after:
        qs = qs.filter(pk__lt=after)
    rows = list(qs.order_by("-pk")[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return rows[:limit], next_cursor
