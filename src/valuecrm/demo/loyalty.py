"""Demo loyalty data: a programme that started a year ago, replayed through the loyalty
services day by day — earn on the year's paid orders, escrow releases and expiry every
fortnight, members redeeming, a few manual adjustments, tiers and referrals.

Only about 60 % of the year's buyers join (the programme does not auto-enrol here), so
the dashboard's member vs non-member comparison has a comparison group.
"""

import datetime as dt
import random

from django.utils import timezone

from valuecrm.loyalty import services
from valuecrm.loyalty.models import Account, Program
from valuecrm.orders.models import REVENUE_STATUSES, Order

MEMBER_SHARE = 0.6
NIGHTLY_EVERY_DAYS = 14


def loyalty_demo(*, now: dt.datetime, seed: int, actor) -> int:
    """Returns the number of ledger rows written."""
    from valuecrm.loyalty.models import Entry

    rnd = random.Random(seed + 13)
    start = now - dt.timedelta(days=365)
    Program.objects.create(effective_from=timezone.localtime(start).date(), auto_enrol=False, points_per_cny=1,
                           escrow_days=7, expiry_days=180, first_order_bonus=100, redeem_min_points=100,
                           category_multipliers={"茶叶": "2"})
    orders = list(Order.objects.filter(placed_at__gte=start, placed_at__lt=now, status__in=REVENUE_STATUSES)
                  .order_by("placed_at", "id").select_related("customer"))
    buyers = sorted({o.customer_id for o in orders})
    members = {c for c in buyers if rnd.random() < MEMBER_SHARE}
    referees = {c for c in members if rnd.random() < 0.08}
    referrers = sorted(members - referees)
    next_nightly = start + dt.timedelta(days=NIGHTLY_EVERY_DAYS)
    for order in orders:
        while order.placed_at >= next_nightly:
            _nightly(rnd, actor, next_nightly)
            next_nightly += dt.timedelta(days=NIGHTLY_EVERY_DAYS)
        if order.customer_id not in members:
            continue
        if not Account.objects.filter(customer_id=order.customer_id).exists():
            services.account_enrol(actor=actor, customer_id=order.customer_id, at=order.placed_at)
            if order.customer_id in referees and referrers:
                referrer = Account.objects.filter(customer_id=rnd.choice(referrers)).first()
                if referrer is not None:
                    services.referral_register(actor=actor, customer_id=order.customer_id,
                                               code=referrer.referral_code)
        services.order_earn(order=order)
    while next_nightly <= now:
        _nightly(rnd, actor, next_nightly)
        next_nightly += dt.timedelta(days=NIGHTLY_EVERY_DAYS)
    services.nightly(now=now)
    return Entry.objects.count()


def _nightly(rnd: random.Random, actor, at: dt.datetime) -> None:
    services.escrow_release(now=at)
    services.points_expire(now=at)
    for account in Account.objects.filter(balance__gte=300).only("id", "customer_id", "balance"):
        if rnd.random() < 0.25:
            points = min(account.balance, rnd.choice((100, 200, 300, 500)))
            services.points_redeem(actor=actor, customer_id=account.customer_id, points=points,
                                   reference=f"DEMO-{at:%Y%m%d}-{account.pk}", at=at)
        elif rnd.random() < 0.01:
            services.points_adjust(actor=actor, customer_id=account.customer_id, points=50,
                                   reason="客诉补偿 / service recovery")


def vip_care_demo(*, now: dt.datetime, actor) -> int:
    """What the shipped VIP-care rule would have done this morning: a care task for the owner
    of every VIP whose care is due (the top membership tier here; value tier A once scored).
    Run after the timeline's task ids are in the sequence. Returns the tasks created."""
    from valuecrm.customers.models import Customer
    from valuecrm.loyalty.selectors import care_due_q

    due = Customer.objects.filter(care_due_q(now=now), owner__isnull=False).order_by("pk").values_list("pk",
                                                                                                    flat=True)
    return sum(services.vip_care_remind(actor=actor, customer_id=pk, now=now) is not None for pk in list(due))
