"""Does the programme raise customer value? Members against comparable non-members.

Method (coarsened exact matching at one cut-off date):
1. The cut-off is the median enrolment date of the members enrolled at least
   ``FOLLOW_UP_DAYS`` ago; "members" are those enrolled by then, everyone else with
   a paid order before the cut-off is a candidate control.
2. Each customer gets the pre-cut-off figures RFM is made of — paid orders
   (1, 2, 3–5, 6+), revenue tercile, days since the last order (≤ 90, ≤ 365, more) —
   and the two groups are compared only inside the same stratum.
3. Outcomes: the repeat rate (a paid order in the ``FOLLOW_UP_DAYS`` after the
   cut-off) and the predicted 12-month CLV of the last scoring run. The difference is
   the member-weighted mean of the per-stratum differences (the effect on the members).

Caveat: members chose to join (or were chosen) — matching on past behaviour removes
what RFM/CLV can see, not motivation the data cannot see, so the figure is an
association, not a causal effect. Only a random hold-out measures the cause.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, Sum
from django.utils import timezone

from valuecrm.customers.visibility import visible_customers
from valuecrm.loyalty.models import Account
from valuecrm.orders.models import REVENUE_STATUSES, Order

FOLLOW_UP_DAYS = 90
MIN_PER_GROUP = 20


@dataclass(frozen=True)
class Effect:
    cutoff: dt.date | None
    members: int
    controls: int
    strata: int
    member_repeat: float | None
    control_repeat: float | None
    member_clv: Decimal | None
    control_clv: Decimal | None
    enough: bool

    @property
    def repeat_lift(self):
        if self.member_repeat is None or self.control_repeat is None:
            return None
        return self.member_repeat - self.control_repeat

    @property
    def clv_lift(self):
        if self.member_clv is None or self.control_clv is None:
            return None
        return self.member_clv - self.control_clv


def _bucket_orders(n: int) -> int:
    return 0 if n <= 1 else 1 if n == 2 else 2 if n <= 5 else 3


def _bucket_recency(days: int) -> int:
    return 0 if days <= 90 else 1 if days <= 365 else 2


def member_effect(*, user, now=None) -> Effect:
    now = now or timezone.now()
    customers = visible_customers(user).values("pk")
    enrolled = list(Account.objects.filter(customer__in=customers, enrolled_at__lte=now - dt.timedelta(
        days=FOLLOW_UP_DAYS)).order_by("enrolled_at").values_list("enrolled_at", flat=True))
    if not enrolled:
        return Effect(None, 0, 0, 0, None, None, None, None, False)
    cutoff = enrolled[len(enrolled) // 2]
    member_ids = set(Account.objects.filter(customer__in=customers, enrolled_at__lte=cutoff)
                     .values_list("customer_id", flat=True))
    paid = Order.objects.filter(customer__in=customers, status__in=REVENUE_STATUSES)
    before = {row["customer_id"]: row for row in paid.filter(placed_at__lt=cutoff).values("customer_id").annotate(
        n=Count("id"), revenue=Sum("total_amount"), last=Max("placed_at"))}
    after = set(paid.filter(placed_at__gte=cutoff, placed_at__lt=cutoff + dt.timedelta(days=FOLLOW_UP_DAYS))
                .values_list("customer_id", flat=True).distinct())
    from valuecrm.insights.models import CustomerValue

    clv = dict(CustomerValue.objects.filter(customer_id__in=list(before)).values_list("customer_id", "clv"))
    revenues = sorted(row["revenue"] or 0 for row in before.values())
    cuts = (revenues[len(revenues) // 3], revenues[2 * len(revenues) // 3]) if revenues else (0, 0)
    groups: dict[tuple, dict[bool, list]] = defaultdict(lambda: {True: [], False: []})
    for customer_id, row in before.items():
        revenue = row["revenue"] or 0
        key = (_bucket_orders(row["n"]), 0 if revenue <= cuts[0] else 1 if revenue <= cuts[1] else 2,
               _bucket_recency((cutoff - row["last"]).days))
        groups[key][customer_id in member_ids].append(customer_id)
    weights = m_rep = c_rep = 0.0
    m_clv = c_clv = Decimal("0")
    n_members = n_controls = strata = 0
    for key in groups:
        members, controls = groups[key][True], groups[key][False]
        if not members or not controls:
            continue  # no comparable customer on the other side: left out, not guessed
        strata += 1
        w = len(members)
        weights += w
        n_members += len(members)
        n_controls += len(controls)
        m_rep += w * sum(c in after for c in members) / len(members)
        c_rep += w * sum(c in after for c in controls) / len(controls)
        m_clv += w * sum((clv.get(c) or Decimal("0")) for c in members) / len(members)
        c_clv += w * sum((clv.get(c) or Decimal("0")) for c in controls) / len(controls)
    if not weights:
        return Effect(timezone.localtime(cutoff).date(), 0, 0, 0, None, None, None, None, False)
    wd = Decimal(str(weights))
    return Effect(timezone.localtime(cutoff).date(), n_members, n_controls, strata, m_rep / weights, c_rep / weights,
                  (m_clv / wd).quantize(Decimal("0.01")), (c_clv / wd).quantize(Decimal("0.01")),
                  n_members >= MIN_PER_GROUP and n_controls >= MIN_PER_GROUP)
