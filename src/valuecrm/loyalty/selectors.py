"""Reads of the loyalty programme: accounts (derived from the ledger), the ledger page,
referrals and the dashboard figures. Nothing here writes."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.customers.visibility import visible_customers
from valuecrm.loyalty import ledger
from valuecrm.loyalty.models import (
    Account,
    Entry,
    EntryKind,
    Program,
    Referral,
    ReferralStatus,
    Tier,
)


def program_current(day: dt.date | None = None) -> Program:
    """The rules in force on ``day`` (today by default); the defaults when none were saved."""
    day = day or timezone.localdate()
    program = Program.objects.filter(effective_from__lte=day).order_by("-effective_from", "-id").first()
    return program or Program(effective_from=dt.date(2000, 1, 1))


def lot_rows(account_id: int):
    """The account's rows as the FIFO replay wants them (a reversal aims at its order's lot)."""
    # Insertion order is the order things happened in (an import may date an earn in the past).
    rows = list(Entry.objects.filter(account_id=account_id).order_by("id").values_list(
        "id", "kind", "points", "expires_at", "source_id"))
    release_of = {source: pk for pk, kind, _p, _e, source in rows if kind == EntryKind.RELEASE}
    out = []
    for pk, kind, points, expires_at, source in rows:
        lot = None
        if kind == EntryKind.EXPIRE:
            lot = source
        elif kind == EntryKind.REVERSE:
            lot = release_of.get(source, source)
        out.append((pk, kind, points, expires_at, lot))
    return out


def qualifying_points(account_id: int, *, now: dt.datetime | None = None, window_days: int = 365) -> int:
    """Points earned from orders and referrals in the window, net of their reversals."""
    now = now or timezone.now()
    row = Entry.objects.filter(account_id=account_id, at__gt=now - dt.timedelta(days=window_days), at__lte=now,
                               kind__in=(EntryKind.EARN, EntryKind.REFERRAL, EntryKind.REVERSE)).aggregate(
        p=Sum(F("points") + F("pending")))
    return max(0, row["p"] or 0)


@dataclass(frozen=True)
class AccountView:
    customer_id: int
    member: bool
    balance: int
    pending: int
    lifetime_earned: int
    expiring_30d: int
    tier: Tier | None
    next_tier: Tier | None
    qualifying_points: int
    points_to_next: int
    progress: float  # 0..1 toward the next tier
    override_tier: Tier | None
    override_until: dt.date | None
    referral_code: str
    value_cny: Decimal


def _customer(user, customer_id: int) -> Customer:
    customer = visible_customers(user).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(_("Customer not found."))
    return customer


def ledger_sums(account_id: int) -> tuple[int, int]:
    """(balance, pending) summed from the rows — what the snapshot must equal."""
    row = Entry.objects.filter(account_id=account_id).aggregate(b=Sum("points"), p=Sum("pending"))
    return row["b"] or 0, row["p"] or 0


def expiring_points(account_id: int, *, within_days: int = 30, now=None) -> int:
    now = now or timezone.now()
    horizon = now + dt.timedelta(days=within_days)
    if not Entry.objects.filter(account_id=account_id, points__gt=0, expires_at__lte=horizon,
                                expires_at__gt=now).exists():
        return 0
    state = ledger.replay(lot_rows(account_id))
    return sum(lot.remaining for lot in state.lots.values()
               if lot.expires_at is not None and now < lot.expires_at <= horizon and lot.remaining > 0)


def account_view(*, user, customer_id: int) -> AccountView:
    customer = _customer(user, customer_id)
    account = Account.objects.select_related("tier", "override_tier").filter(customer=customer).first()
    program = program_current()
    tiers = list(Tier.objects.order_by("rank"))
    if account is None:
        first = tiers[0] if tiers else None
        nxt = tiers[1] if len(tiers) > 1 else None
        return AccountView(customer.pk, False, 0, 0, 0, 0, first, nxt, 0, nxt.threshold if nxt else 0, 0.0,
                           None, None, "", Decimal("0.00"))
    qp = qualifying_points(account.pk, window_days=program.tier_window_days)
    current_rank = account.tier.rank if account.tier else -1
    nxt = next((t for t in tiers if t.rank > current_rank), None)
    base = account.tier.threshold if account.tier else 0
    if nxt is None:
        to_next, progress = 0, 1.0
    else:
        to_next = max(0, nxt.threshold - qp)
        span = max(1, nxt.threshold - base)
        progress = min(1.0, max(0.0, (qp - base) / span))
    return AccountView(
        customer.pk, True, account.balance, account.pending, account.lifetime_earned,
        expiring_points(account.pk), account.tier, nxt, qp, to_next, progress,
        account.override_tier, account.override_until, account.referral_code,
        (Decimal(max(account.balance, 0)) * program.point_value_cny).quantize(Decimal("0.01")))


def _cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(str(entry_id).encode()).decode()


def _uncursor(raw: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(_("Validation failed"), errors={"cursor": [_("Invalid cursor.")]}) from None


def ledger_page(*, user, customer_id: int, after: str | None = None, limit: int = 50):
    """The customer's rows, newest first, cursor-paged by row id."""
    customer = _customer(user, customer_id)
    # A lot spent in full before its date closes with a 0-point expiry row: bookkeeping, not a movement.
    qs = (Entry.objects.filter(account__customer=customer).exclude(kind=EntryKind.EXPIRE, points=0)
          .select_related("created_by").order_by("-id"))
    if after:
        qs = qs.filter(id__lt=_uncursor(after))
    rows = list(qs[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_cursor(rows[-1].pk) if more and rows else None)


def referrals_for(*, user, customer_id: int | None = None, limit: int = 100):
    visible = visible_customers(user).values("pk")
    qs = Referral.objects.select_related("referrer__customer", "referee__customer").filter(
        referrer__customer__in=visible)
    if customer_id is not None:
        qs = qs.filter(Q(referrer__customer_id=customer_id) | Q(referee__customer_id=customer_id))
    return list(qs.order_by("-id")[:limit])


def referral_stats(customer_id: int) -> dict:
    row = Referral.objects.filter(referrer__customer_id=customer_id).aggregate(
        count=Count("id", filter=Q(status=ReferralStatus.REWARDED)),
        revenue=Sum("order_total", filter=Q(status=ReferralStatus.REWARDED)))
    return {"count": row["count"] or 0, "revenue": row["revenue"] or Decimal("0")}


# ---------------------------------------------------------------- dashboard

# The expiring-soon card replays each candidate's lots (FIFO); beyond this many it counts the first ones.
EXPIRING_EXACT_LIMIT = 5000


def dashboard(*, user, months: int = 12, now=None) -> dict:
    """The programme's figures over the customers the user can see."""
    now = now or timezone.now()
    program = program_current()
    visible = visible_customers(user).values("pk")
    accounts = Account.objects.filter(customer__in=visible)
    entries = Entry.objects.filter(account__customer__in=visible)
    members = accounts.count()
    active_since = now - dt.timedelta(days=90)
    active = entries.filter(at__gte=active_since, kind__in=(EntryKind.EARN, EntryKind.REDEEM)).values(
        "account").distinct().count()
    liability_points = accounts.filter(balance__gt=0).aggregate(s=Sum("balance"))["s"] or 0
    pending = accounts.aggregate(s=Sum("pending"))["s"] or 0
    start = (timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
             - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    monthly = {}
    for row in (entries.filter(at__gte=start).annotate(month=TruncMonth("at")).values("month", "kind")
                .annotate(points=Sum(F("points") + F("pending")))):
        key = row["month"].strftime("%Y-%m")
        monthly.setdefault(key, {"earned": 0, "redeemed": 0, "expired": 0, "reversed": 0})
        kind = row["kind"]
        if kind in (EntryKind.EARN, EntryKind.REFERRAL) or (kind == EntryKind.ADJUST and row["points"] > 0):
            monthly[key]["earned"] += row["points"]
        elif kind == EntryKind.REDEEM:
            monthly[key]["redeemed"] += -row["points"]
        elif kind == EntryKind.EXPIRE:
            monthly[key]["expired"] += -row["points"]
        elif kind == EntryKind.REVERSE:
            monthly[key]["reversed"] += -row["points"]
    earned_total = entries.filter(Q(kind__in=(EntryKind.EARN, EntryKind.REFERRAL))).aggregate(
        s=Sum(F("points") + F("pending")))["s"] or 0
    redeemed_total = -(entries.filter(kind=EntryKind.REDEEM).aggregate(s=Sum("points"))["s"] or 0)
    tiers = list(Tier.objects.order_by("rank"))
    counts = dict(accounts.values_list("tier").annotate(n=Count("id")))
    referrers = Referral.objects.filter(referrer__in=accounts, status=ReferralStatus.REWARDED).values(
        "referrer").distinct().count()
    horizon = now + dt.timedelta(days=30)
    candidates = list(entries.filter(kind__in=("earn", "release", "adjust", "referral"), points__gt=0,
                                     expires_at__gt=now, expires_at__lte=horizon)
                      .values_list("account_id", flat=True).distinct()[:EXPIRING_EXACT_LIMIT])
    expiring = [expiring_points(a, now=now) for a in candidates]
    return {
        "expiring_members": sum(1 for p in expiring if p > 0),
        "expiring_points": sum(expiring),
        "members": members,
        "active_members": active,
        "liability_points": liability_points,
        "liability_cny": (Decimal(liability_points) * program.point_value_cny).quantize(Decimal("0.01")),
        "pending_points": pending,
        "monthly": [{"month": k, **v} for k, v in sorted(monthly.items())],
        "tiers": [{"code": t.code, "label": t.label, "members": counts.get(t.pk, 0)} for t in tiers],
        "redemption_rate": (redeemed_total / earned_total) if earned_total else None,
        "referral_rate": (referrers / members) if members else None,
        "referrals_rewarded": Referral.objects.filter(referrer__in=accounts,
                                                      status=ReferralStatus.REWARDED).count(),
    }


# ---------------------------------------------------------------- VIP care

@dataclass(frozen=True)
class VipRow:
    customer: Customer
    value_tier: str
    membership_tier: Tier | None
    last_touch: dt.datetime | None
    overdue: bool


def vip_q() -> Q:
    """Customers who are VIPs: value tier A or the top membership tier."""
    top = Tier.objects.order_by("-rank").first()
    q = Q(value__tier="A")
    if top is not None:
        q |= Q(loyalty_account__tier=top)
    return q


def care_due_q(*, now=None) -> Q:
    """VIPs whose care is due: no interaction within the care cadence, and no care task given
    for them by the VIP-care rule within it either (one reminder per cadence period)."""
    from valuecrm.customers.models import Interaction
    from valuecrm.loyalty.models import CareReminder

    now = now or timezone.now()
    since = now - dt.timedelta(days=program_current(timezone.localtime(now).date()).vip_care_days)
    touched = Interaction.objects.filter(occurred_at__gte=since).values("customer_id")
    reminded = CareReminder.objects.filter(created_at__gt=since).values("customer_id")
    return vip_q() & ~Q(pk__in=touched) & ~Q(pk__in=reminded)


def vip_list(*, user, overdue_only: bool = False, now=None, limit: int = 500) -> list[VipRow]:
    """VIPs: value tier A or the top membership tier. Their care owner is the customer's owner;
    a VIP is overdue when the last interaction is older than the programme's care cadence."""
    from django.db.models import Max, OuterRef, Subquery

    from valuecrm.customers.models import Interaction

    now = now or timezone.now()
    program = program_current()
    last = Interaction.objects.filter(customer=OuterRef("pk")).values("customer").annotate(
        m=Max("occurred_at")).values("m")
    qs = (visible_customers(user).filter(vip_q()).annotate(last_touch=Subquery(last))
          .select_related("owner", "value", "loyalty_account__tier"))
    due = now - dt.timedelta(days=program.vip_care_days)
    if overdue_only:
        qs = qs.filter(Q(last_touch__isnull=True) | Q(last_touch__lt=due))
    rows = []
    for c in qs.order_by(F("last_touch").asc(nulls_first=True), "pk")[:limit]:
        value = getattr(c, "value", None)
        account = getattr(c, "loyalty_account", None)
        rows.append(VipRow(c, value.tier if value else "", account.tier if account else None, c.last_touch,
                           c.last_touch is None or c.last_touch < due))
    return rows
