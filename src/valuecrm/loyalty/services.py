"""Writes of the loyalty programme. Every movement of points is one ledger row written
here, together with the account snapshot (F-expression updates in the same
transaction) and its event.

Staff paths (redeem, adjust, set tier, enrol, settings) take a keyword-only actor and
check the capability and the customer's visibility first. Order-driven paths (earn,
reverse) and the nightly jobs (release from escrow, expiry, tier review) run as the
system: they are consequences of changes already permitted.
"""

from __future__ import annotations

import calendar
import datetime as dt
import secrets
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.customers.visibility import can_see_customer
from valuecrm.loyalty import ledger
from valuecrm.loyalty.models import (
    Account,
    CareReminder,
    Entry,
    EntryKind,
    ExpiryMode,
    Program,
    Referral,
    ReferralStatus,
    Rounding,
    Tier,
)
from valuecrm.loyalty.selectors import lot_rows, program_current, qualifying_points
from valuecrm.orders.models import REVENUE_STATUSES, Order, OrderStatus

PROGRAM_FIELDS = {
    "enabled": "bool", "auto_enrol": "bool", "points_per_cny": "rate", "rounding": "rounding",
    "birthday_multiplier": "multiplier", "first_order_bonus": "int", "point_value_cny": "point_value",
    "redeem_min_points": "int",
    "redeem_max_share": "share", "expiry_mode": "expiry", "expiry_days": "int", "escrow_days": "int",
    "tier_window_days": "int", "tier_grace_days": "int", "referral_referrer_points": "int",
    "referral_referee_points": "int", "referral_monthly_cap": "int", "vip_care_days": "int", "category_multipliers": "multipliers",
    "effective_from": "date",
}
# kind → (maximum, decimal places), matching the model's columns.
DECIMAL_LIMITS = {"rate": (Decimal("1000"), 3), "multiplier": (Decimal("10"), 2),
                  "point_value": (Decimal("100"), 4), "share": (Decimal("1"), 2)}
MAX_POINTS = 10**8
FIRST_ORDER = "first_order"


def _fail(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


# ---------------------------------------------------------------- the programme

def _clean_program(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    cleaned = {}
    for key, value in data.items():
        kind = PROGRAM_FIELDS.get(key)
        if kind is None:
            errors[key] = [_("Unknown field.")]
            continue
        try:
            cleaned[key] = _clean_value(kind, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    _fail(errors)
    return cleaned


def _clean_value(kind: str, value):
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(_("Enter true or false."))
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(_("Enter a whole number."))
        try:
            number = int(value)
        except ValueError:
            raise ValueError(_("Enter a whole number.")) from None
        if not 0 <= number <= 100_000:
            raise ValueError(_("Enter a number from 0 to 100000."))
        return number
    if kind in DECIMAL_LIMITS:
        maximum, places = DECIMAL_LIMITS[kind]
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite() or number < 0 or number > maximum:
            raise ValueError(_("Enter a number from 0 to %(n)s.") % {"n": maximum})
        return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    if kind == "rounding":
        if value not in Rounding.values:
            raise ValueError(_("Not a valid choice."))
        return value
    if kind == "expiry":
        if value not in ExpiryMode.values:
            raise ValueError(_("Not a valid choice."))
        return value
    if kind == "date":
        try:
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    if kind == "multipliers":
        if not isinstance(value, dict):
            raise ValueError(_("Expected an object of category → multiplier."))
        out = {}
        for category, raw in value.items():
            if not isinstance(category, str) or not category.strip() or "\x00" in category or len(category) > 100:
                raise ValueError(_("Enter category names of at most 100 characters."))
            out[category.strip()] = str(_clean_value("multiplier", raw))
        return out
    raise ValueError(_("Unknown field."))


@transaction.atomic
def program_update(*, actor, data: dict) -> Program:
    """Save a new version of the rules (from ``effective_from``, today by default); earlier
    versions stay, so points already earned keep the rules they were earned under."""
    require(actor, Capability.LOYALTY_MANAGE, _("Your role cannot change the loyalty programme."))
    cleaned = _clean_program(dict(data))
    base = program_current(cleaned.get("effective_from"))
    version = Program(**{f: getattr(base, f) for f in PROGRAM_FIELDS if f != "effective_from"})
    for key, value in cleaned.items():
        setattr(version, key, value)
    if "effective_from" not in cleaned:
        version.effective_from = timezone.localdate()
    version.save()
    events.emit(events.ConfigChanged(kind="loyalty_program", object_id=str(version.pk), action="updated"),
                actor=actor)
    return version


# ---------------------------------------------------------------- accounts

def _new_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _i in range(8))


def _account_for(customer_id: int, *, emit_actor=None, at: dt.datetime | None = None) -> Account:
    """The customer's account, enrolling them on first use."""
    account = Account.objects.filter(customer_id=customer_id).first()
    if account is not None:
        return account
    for _attempt in range(5):
        try:
            with transaction.atomic():
                account = Account.objects.create(customer_id=customer_id, referral_code=_new_code(),
                                                 enrolled_at=at or timezone.now(),
                                                 tier=Tier.objects.order_by("rank").first())
            break
        except IntegrityError:
            account = Account.objects.filter(customer_id=customer_id).first()
            if account is not None:
                return account
    events.emit(events.MemberEnrolled(customer_id=customer_id), actor=emit_actor)
    return account


def _visible_customer(actor, customer_id) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first() if isinstance(customer_id, int) else None
    if customer is None or not can_see_customer(actor, customer):
        raise NotFound(_("Customer not found."))
    return customer


@transaction.atomic
def account_enrol(*, actor, customer_id: int, at: dt.datetime | None = None) -> tuple[Account, bool]:
    """Enrol a customer in the programme; (account, created). ``at`` dates a back-filled enrolment."""
    require(actor, Capability.CUSTOMERS_CHANGE)
    _visible_customer(actor, customer_id)
    existing = Account.objects.filter(customer_id=customer_id).first()
    if existing is not None:
        return existing, False
    return _account_for(customer_id, emit_actor=actor, at=at), True


# ---------------------------------------------------------------- the one writer of rows

def _write(account: Account, kind: str, *, points: int = 0, pending: int = 0, actor=None, **fields) -> Entry:
    entry = Entry.objects.create(account=account, kind=kind, points=points, pending=pending,
                                 created_by=actor if getattr(actor, "pk", None) else None, **fields)
    earned = points + pending if kind in (EntryKind.EARN, EntryKind.REFERRAL) or (
        kind == EntryKind.ADJUST and points > 0) else 0
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + points, pending=F("pending") + pending,
                                                 lifetime_earned=F("lifetime_earned") + earned)
    return entry


def _expiry(program: Program, earned_at: dt.datetime) -> dt.datetime:
    if program.expiry_mode == ExpiryMode.END_OF_NEXT_YEAR:
        local = timezone.localtime(earned_at)
        end = dt.datetime(local.year + 2, 1, 1, tzinfo=local.tzinfo)
        return end
    return earned_at + dt.timedelta(days=program.expiry_days)


def _round(value: Decimal, program: Program) -> int:
    mode = ROUND_DOWN if program.rounding == Rounding.FLOOR else ROUND_HALF_UP
    return int(value.quantize(Decimal("1"), rounding=mode))


def _is_birthday(customer: Customer, day: dt.date) -> bool:
    b = customer.birthday
    if b is None:
        return False
    if b.month == 2 and b.day == 29 and not calendar.isleap(day.year):
        return (day.month, day.day) == (2, 28)
    return (b.month, b.day) == (day.month, day.day)


def order_points(order: Order, program: Program, tier: Tier | None, customer: Customer, *, lines=None) -> int:
    """Points an order earns: value (lines by category multiplier, else the total) × points per CNY ×
    tier multiplier × birthday multiplier, rounded as the programme says. ``lines``: the order's
    lines when the caller fetched them already (the batch path)."""
    multipliers = {k: Decimal(v) for k, v in (program.category_multipliers or {}).items()}
    if not multipliers:
        lines = []
    elif lines is None:
        lines = list(order.lines.select_related("product"))
    if lines:
        line_sum = sum((ln.line_total for ln in lines), Decimal("0"))
        weighted = sum((ln.line_total * multipliers.get(ln.product.category if ln.product else "", Decimal("1"))
                        for ln in lines), Decimal("0"))
        # Lines may not add up to the total (shipping, discounts): scale to the paid total.
        value = weighted * order.total_amount / line_sum if line_sum else order.total_amount
    else:
        value = order.total_amount
    value *= program.points_per_cny
    if tier is not None:
        value *= tier.multiplier
    if _is_birthday(customer, timezone.localtime(order.placed_at).date()):
        value *= program.birthday_multiplier
    return max(0, _round(value, program))


def order_earn(*, order: Order) -> list[Entry]:
    """Credit a paid order (idempotent by order id): its points, pending until the return
    window closes, and the first-order bonus. Called by the order-event subscriber."""
    if order.status not in REVENUE_STATUSES:
        return []
    program = program_current(timezone.localtime(order.placed_at).date())
    if not program.enabled or Entry.objects.filter(kind=EntryKind.EARN, order_id=order.pk).exists():
        return []
    if not program.auto_enrol and not Account.objects.filter(customer_id=order.customer_id).exists():
        return []
    account = _account_for(order.customer_id)
    first = not Entry.objects.filter(account=account, kind=EntryKind.EARN, reference="").exists()
    points = order_points(order, program, account.tier, order.customer)
    rows = []
    release_at = order.placed_at + dt.timedelta(days=program.escrow_days)
    for reference, n in (("", points), (FIRST_ORDER, program.first_order_bonus if first else 0)):
        if n <= 0:
            continue
        escrow = program.escrow_days > 0
        entry = _write(account, EntryKind.EARN, points=0 if escrow else n, pending=n if escrow else 0,
                       at=order.placed_at, order_id=order.pk, reference=reference,
                       available_at=release_at if escrow else None,
                       expires_at=None if escrow else _expiry(program, order.placed_at))
        rows.append(entry)
        events.emit(events.PointsEarned(customer_id=order.customer_id, entry_id=entry.pk, points=n, kind="earn",
                                        order_id=order.pk))
    _referral_qualify(account, order)
    if rows:
        tier_review(account_id=account.pk)
    return rows


def order_reverse(*, order: Order) -> list[Entry]:
    """Claw back what a cancelled or refunded order earned (and the referral rewards it paid),
    even points already spent: the balance may go negative. Idempotent by order id."""
    rows = []
    earns = Entry.objects.filter(order_id=order.pk, kind__in=(EntryKind.EARN, EntryKind.REFERRAL)).select_related(
        "account")
    for earn in earns:
        if Entry.objects.filter(kind=EntryKind.REVERSE, source=earn).exists():
            continue
        release = Entry.objects.filter(kind=EntryKind.RELEASE, source=earn).first()
        if release is not None:
            amount_available, amount_pending, lot = release.points, 0, release
        else:
            amount_available, amount_pending, lot = earn.points, earn.pending, earn
        # The rule for a refund after expiry: of what the order made available (P), the part that
        # expired from its own lot (E, its expiry row) is gone once already and is not clawed back
        # again; the rest (P − E, never less than 0) is clawed back even if it was spent — it came
        # out of the lot to pay a redemption, a debit or an earlier debt — so the balance may go
        # negative. Pending points are taken back in full (they never expire). The order's rows
        # then net to E and its expiry row to −E: the order leaves nothing behind, and
        # available + pending == Σ earned − Σ reversed − Σ expired − Σ redeemed ± adjustments.
        expired = -(Entry.objects.filter(kind=EntryKind.EXPIRE, source=lot).aggregate(s=Sum("points"))["s"] or 0)
        amount_available -= min(expired, amount_available)
        amount = amount_available + amount_pending
        entry = _write(earn.account, EntryKind.REVERSE, points=-amount_available, pending=-amount_pending,
                       source=earn, order_id=order.pk, reference=f"{earn.kind}:{earn.reference}",
                       reason=str(order.status))
        rows.append(entry)
        events.emit(events.PointsDebited(customer_id=earn.account.customer_id, entry_id=entry.pk, points=amount,
                                         kind="reverse", order_id=order.pk))
    Referral.objects.filter(order_id=order.pk).exclude(status=ReferralStatus.CLAWED_BACK).update(
        status=ReferralStatus.CLAWED_BACK, note=_("The first order was %(s)s.") % {"s": order.get_status_display()})
    for account_id in {r.account_id for r in rows}:
        tier_review(account_id=account_id)
    return rows


def order_changed(*, order_id: int) -> None:
    """The subscriber's entry point for one order event: earn or reverse by its current status."""
    order = Order.objects.filter(pk=order_id).select_related("customer").first()
    if order is None:
        return
    if order.status in REVENUE_STATUSES:
        order_earn(order=order)
    elif order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        order_reverse(order=order)


def orders_changed(*, order_ids: list[int]) -> None:
    """The subscriber's entry point for a batch of order events (an import emits thousands):
    the same ledger as ``order_changed`` once per order in this order, in a bounded number of
    queries — one read each of the orders, their earn rows, the accounts and their first-order
    history, one insert of the earn rows, then one balance update and one tier review per account.

    A member whose level could move inside the batch (their qualifying points cross a
    threshold, a manual level, a cancelled or refunded order among theirs) is credited one order
    at a time, as the single path does, so a mid-batch upgrade multiplies the later orders."""
    order_ids = list(dict.fromkeys(order_ids))
    orders = Order.objects.filter(pk__in=order_ids).select_related("customer").in_bulk()
    seq = [orders[pk] for pk in order_ids if pk in orders]
    earned = set(Entry.objects.filter(kind=EntryKind.EARN, order_id__in=[o.pk for o in seq])
                 .values_list("order_id", flat=True))
    programs: dict[dt.date, Program] = {}

    def program_of(order: Order) -> Program:
        day = timezone.localtime(order.placed_at).date()
        if day not in programs:
            programs[day] = program_current(day)
        return programs[day]

    by_customer: dict[int, list[Order]] = {}
    slow: set[int] = set()
    for order in seq:
        if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
            slow.add(order.customer_id)
        elif order.status not in REVENUE_STATUSES or order.pk in earned or not program_of(order).enabled:
            continue
        by_customer.setdefault(order.customer_id, []).append(order)
    if not by_customer and not slow:
        return  # a re-delivery, or nothing that earns
    accounts = {a.customer_id: a for a in Account.objects.filter(customer_id__in=list(by_customer))
                .select_related("tier", "override_tier")}
    for cid in list(by_customer):
        if cid in accounts:
            continue
        enrols = {program_of(o).auto_enrol for o in by_customer[cid]}
        if enrols == {False}:
            by_customer.pop(cid)  # not a member and no programme enrols them
        elif len(enrols) > 1:
            slow.add(cid)  # enrolled by a later order only: as the single path does
    fast = [cid for cid in by_customer if cid not in slow]
    _enrol_many([cid for cid in fast if cid not in accounts], accounts)
    now = timezone.now()
    tiers = list(Tier.objects.order_by("rank"))
    window_days = program_current(timezone.localtime(now).date()).tier_window_days
    qualifying = _qualifying_many([accounts[cid].pk for cid in fast], now=now, window_days=window_days)
    had_first = set(Entry.objects.filter(account_id__in=[accounts[cid].pk for cid in fast], kind=EntryKind.EARN,
                                         reference="").values_list("account_id", flat=True))
    multipliers = any(program_of(o).category_multipliers for cid in fast for o in by_customer[cid])
    lines = {}
    if multipliers:
        from valuecrm.orders.models import OrderLine

        for ln in OrderLine.objects.filter(order_id__in=[o.pk for cid in fast for o in by_customer[cid]]) \
                .select_related("product").order_by("pk"):
            lines.setdefault(ln.order_id, []).append(ln)
    plans: dict[int, list[tuple]] = {}
    for cid in fast:
        account = accounts[cid]
        q = qualifying.get(account.pk, 0)
        first = account.pk not in had_first
        plan = []
        for order in by_customer[cid]:
            program = program_of(order)
            points = order_points(order, program, account.tier, order.customer, lines=lines.get(order.pk, []))
            for reference, n in (("", points), (FIRST_ORDER, program.first_order_bonus if first else 0)):
                if n > 0:
                    plan.append((order, program, reference, n))
                    if now - dt.timedelta(days=window_days) < order.placed_at <= now:
                        q += n
            first = False
        stable = account.override_tier_id is None and account.tier == _tier_for(
            qualifying.get(account.pk, 0), tiers) == _tier_for(q, tiers)
        if stable or len(by_customer[cid]) == 1:
            plans[cid] = plan
        else:
            slow.add(cid)
    _earn_planned(plans, accounts, by_customer)
    for order in seq:  # the rest, one order at a time in event order
        if order.customer_id in slow:
            order_changed(order_id=order.pk)


def _enrol_many(customer_ids: list[int], accounts: dict[int, Account]) -> None:
    if not customer_ids:
        return
    now = timezone.now()
    first_tier = Tier.objects.order_by("rank").first()
    try:
        with transaction.atomic():
            made = Account.objects.bulk_create([
                Account(customer_id=cid, referral_code=_new_code(), enrolled_at=now, tier=first_tier)
                for cid in customer_ids])
    except IntegrityError:  # a code collision or a concurrent enrolment: one at a time
        for cid in customer_ids:
            accounts[cid] = _account_for(cid)
        return
    made = Account.objects.filter(customer_id__in=customer_ids).select_related("tier", "override_tier")
    accounts.update({a.customer_id: a for a in made})
    events.emit_many([events.MemberEnrolled(customer_id=cid) for cid in customer_ids])


def _qualifying_many(account_ids: list[int], *, now: dt.datetime, window_days: int) -> dict[int, int]:
    rows = (Entry.objects.filter(account_id__in=account_ids, at__gt=now - dt.timedelta(days=window_days),
                                 at__lte=now, kind__in=(EntryKind.EARN, EntryKind.REFERRAL, EntryKind.REVERSE))
            .values("account_id").annotate(p=Sum(F("points") + F("pending"))).order_by())
    return {r["account_id"]: max(0, r["p"] or 0) for r in rows}


def _earn_planned(plans: dict[int, list[tuple]], accounts: dict[int, Account], by_customer) -> None:
    entries = []
    for cid, plan in plans.items():
        account = accounts[cid]
        for order, program, reference, n in plan:
            escrow = program.escrow_days > 0
            entries.append(Entry(account=account, kind=EntryKind.EARN, points=0 if escrow else n,
                                 pending=n if escrow else 0, at=order.placed_at, order_id=order.pk,
                                 reference=reference,
                                 available_at=order.placed_at + dt.timedelta(days=program.escrow_days)
                                 if escrow else None,
                                 expires_at=None if escrow else _expiry(program, order.placed_at)))
    Entry.objects.bulk_create(entries)
    events.emit_many([events.PointsEarned(customer_id=e.account.customer_id, entry_id=e.pk,
                                          points=e.points + e.pending, kind="earn", order_id=e.order_id)
                      for e in entries])
    totals: dict[int, tuple[int, int]] = {}
    for e in entries:
        p, q = totals.get(e.account_id, (0, 0))
        totals[e.account_id] = (p + e.points, q + e.pending)
    for account_id, (p, q) in totals.items():
        Account.objects.filter(pk=account_id).update(balance=F("balance") + p, pending=F("pending") + q,
                                                     lifetime_earned=F("lifetime_earned") + p + q)
    referees = set(Referral.objects.filter(referee__in=[accounts[cid] for cid in plans],
                                           status=ReferralStatus.REGISTERED).values_list("referee_id", flat=True))
    for cid in plans:
        if accounts[cid].pk in referees:
            _referral_qualify(accounts[cid], by_customer[cid][0])
    for account_id in totals:
        tier_review(account_id=account_id)


# ---------------------------------------------------------------- nightly: escrow and expiry

def escrow_release(*, now: dt.datetime | None = None) -> int:
    """Make pending points available once the return window has closed; pays referral rewards
    whose first order just cleared. Idempotent: one release row per earn row."""
    now = now or timezone.now()
    due = (Entry.objects.filter(kind__in=(EntryKind.EARN, EntryKind.REFERRAL), available_at__lte=now, pending__gt=0)
           .exclude(pk__in=Entry.objects.filter(kind__in=(EntryKind.RELEASE, EntryKind.REVERSE),
                                                source__isnull=False).values("source_id"))
           .select_related("account").order_by("available_at", "id"))
    count = 0
    for earn in due.iterator(chunk_size=2000):
        with transaction.atomic():
            program = program_current(timezone.localtime(earn.at).date())
            try:
                with transaction.atomic():
                    entry = _write(earn.account, EntryKind.RELEASE, points=earn.pending, pending=-earn.pending,
                                   at=max(earn.available_at, earn.at), source=earn, order_id=earn.order_id,
                                   reference=f"release:{earn.pk}", expires_at=_expiry(program, earn.at))
            except IntegrityError:
                continue
            events.emit(events.PointsEarned(customer_id=earn.account.customer_id, entry_id=entry.pk,
                                            points=earn.pending, kind="release", order_id=earn.order_id))
            count += 1
    _referrals_reward(now=now)
    return count


CREDIT_KINDS = (EntryKind.EARN, EntryKind.RELEASE, EntryKind.ADJUST, EntryKind.REFERRAL)


def points_expire(*, now: dt.datetime | None = None) -> int:
    """Expire what is left of every lot whose date has passed (first-to-expire first, so what
    was spent came out of the oldest lots). Each lot gets exactly one expiry row — with 0 points
    when it was spent in full — so a lot is looked at once, and a re-run finds nothing: idempotent.
    Returns the points expired."""
    now = now or timezone.now()
    closed = Entry.objects.filter(kind=EntryKind.EXPIRE).values("source_id")
    account_ids = (Entry.objects.filter(kind__in=CREDIT_KINDS, points__gt=0, expires_at__lte=now)
                   .exclude(pk__in=closed).values_list("account_id", flat=True).distinct())
    total = 0
    for account_id in list(account_ids):
        total += _expire_account(account_id, now)
    return total


@transaction.atomic
def _expire_account(account_id: int, now: dt.datetime) -> int:
    account = Account.objects.select_for_update().get(pk=account_id)
    state = ledger.replay(lot_rows(account_id))
    closed = set(Entry.objects.filter(account_id=account_id, kind=EntryKind.EXPIRE).values_list("source_id",
                                                                                                flat=True))
    total = 0
    for lot in sorted(state.lots.values(), key=lambda lot: (lot.expires_at or ledger._NEVER, lot.entry_id)):
        if lot.expires_at is None or lot.expires_at > now or lot.entry_id in closed:
            continue
        n = max(lot.remaining, 0)
        entry = _write(account, EntryKind.EXPIRE, points=-n, at=now, source_id=lot.entry_id,
                       reference=f"expire:{lot.entry_id}")
        if n:
            state.debit(entry.pk, n, first_lot=lot.entry_id)
            events.emit(events.PointsExpired(customer_id=account.customer_id, entry_id=entry.pk, points=n))
        total += n
    return total


def nightly(*, now: dt.datetime | None = None) -> dict:
    """The nightly loyalty job: release escrow, expire, review tiers (each idempotent)."""
    now = now or timezone.now()
    released = escrow_release(now=now)
    expired = points_expire(now=now)
    changed = tiers_review_all(now=now)
    return {"released": released, "expired": expired, "tiers_changed": changed}


# ---------------------------------------------------------------- redeem and adjust

def _points(value, key: str, *, allow_negative=False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("Validation failed"), errors={key: [_("Enter a whole number of points.")]})
    if value == 0 or abs(value) > MAX_POINTS or (value < 0 and not allow_negative):
        msg = _("Enter a non-zero number of points.") if allow_negative else _("Enter a positive number of points.")
        raise ValidationFailed(_("Validation failed"), errors={key: [msg]})
    return value


def _text(value, key: str, limit: int, *, required=True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    errors = []
    if required and not text:
        errors.append(_("This field is required."))
    elif "\x00" in text:
        errors.append(_("Null characters are not allowed."))
    elif len(text) > limit:
        errors.append(_("Enter at most %(n)s characters.") % {"n": limit})
    if errors:
        raise ValidationFailed(_("Validation failed"), errors={key: errors})
    return text


def points_redeem(*, actor, customer_id: int, points: int, reference: str,
                  order_total: Decimal | None = None, at: dt.datetime | None = None) -> tuple[Entry, bool]:
    """Spend available points (first-to-expire first). Idempotent per (customer, reference):
    a repeat returns the stored row (created False). Two redemptions racing for the same
    points: the conditional UPDATE lets one through, the other gets Conflict (409)."""
    require(actor, Capability.CUSTOMERS_CHANGE)
    points = _points(points, "points")
    reference = _text(reference, "reference", 100)
    customer = _visible_customer(actor, customer_id)
    program = program_current()
    errors = {}
    if not program.enabled:
        raise Conflict(_("The loyalty programme is switched off."))
    if points < program.redeem_min_points:
        errors["points"] = [_("Redeem at least %(n)s points.") % {"n": program.redeem_min_points}]
    if order_total is not None and points * program.point_value_cny > order_total * program.redeem_max_share:
        errors["points"] = [_("Points may pay at most %(p)s%% of an order.") % {
            "p": int(program.redeem_max_share * 100)}]
    _fail(errors)
    with transaction.atomic():
        account = _account_for(customer.pk, emit_actor=actor)
        existing = Entry.objects.filter(account=account, kind=EntryKind.REDEEM, reference=reference).first()
        if existing is not None:
            if -existing.points != points:
                raise Conflict(_("Reference %(r)s was already used for a different redemption.") % {"r": reference})
            return existing, False
        # The race is decided here: the snapshot only goes down if enough is available.
        if not Account.objects.filter(pk=account.pk, balance__gte=points).update(balance=F("balance") - points):
            raise Conflict(_("Not enough points: %(n)s available.") % {
                "n": Account.objects.filter(pk=account.pk).values_list("balance", flat=True).first()})
        try:
            with transaction.atomic():
                entry = Entry.objects.create(account=account, kind=EntryKind.REDEEM, points=-points,
                                             reference=reference, created_by=actor, at=at or timezone.now(),
                                             # The CNY worth at the rate of the day, kept language-neutral.
                                             reason=f"¥{(points * program.point_value_cny).quantize(Decimal('0.01'))}")
        except IntegrityError:
            raise Conflict(_("Reference %(r)s is being redeemed already.") % {"r": reference}) from None
        events.emit(events.PointsRedeemed(customer_id=customer.pk, entry_id=entry.pk, points=points,
                                          reference=reference), actor=actor)
    return entry, True


@transaction.atomic
def points_adjust(*, actor, customer_id: int, points: int, reason: str) -> Entry:
    """A manual correction (capability loyalty.adjust); the reason is kept on the row. A positive
    adjustment opens a lot with the programme's expiry; a negative one may make the balance negative."""
    require(actor, Capability.LOYALTY_ADJUST)
    points = _points(points, "points", allow_negative=True)
    reason = _text(reason, "reason", 300)
    customer = _visible_customer(actor, customer_id)
    account = _account_for(customer.pk, emit_actor=actor)
    now = timezone.now()
    entry = _write(account, EntryKind.ADJUST, points=points, reason=reason, actor=actor,
                   expires_at=_expiry(program_current(), now) if points > 0 else None)
    if points > 0:
        events.emit(events.PointsEarned(customer_id=customer.pk, entry_id=entry.pk, points=points, kind="adjust"),
                    actor=actor)
    else:
        events.emit(events.PointsDebited(customer_id=customer.pk, entry_id=entry.pk, points=-points, kind="adjust"),
                    actor=actor)
    tier_review(account_id=account.pk)
    return entry


# ---------------------------------------------------------------- tiers

def _tier_for(points: int, tiers: list[Tier]) -> Tier | None:
    reached = [t for t in tiers if t.threshold <= points]
    return reached[-1] if reached else (tiers[0] if tiers else None)


@transaction.atomic
def tier_review(*, account_id: int, now: dt.datetime | None = None, actor=None) -> bool:
    """Re-qualify one member: upgrade at once, downgrade only after the grace period; a manual
    tier (until its end date) is a floor. Emits loyalty.tier_changed; True when it changed."""
    now = now or timezone.now()
    account = Account.objects.select_for_update(of=("self",)).select_related("tier", "override_tier").get(
        pk=account_id)
    program = program_current(timezone.localtime(now).date())
    tiers = list(Tier.objects.order_by("rank"))
    earned = _tier_for(qualifying_points(account_id, now=now, window_days=program.tier_window_days), tiers)
    floor = account.override_tier
    if floor is not None and account.override_until is not None and account.override_until < timezone.localtime(
            now).date():
        floor = None
    target = earned
    if floor is not None and (target is None or floor.rank > target.rank):
        target = floor
    current = account.tier
    reason = "override" if target is floor and floor is not None and floor != earned else "qualified"
    updates = {}
    if current is not None and target is not None and target.rank < current.rank:
        if account.below_tier_since is None:
            account.below_tier_since = now
            updates["below_tier_since"] = now
            target = current
        elif now - account.below_tier_since < dt.timedelta(days=program.tier_grace_days) and reason != "override":
            target = current
        else:
            reason = "grace_ended" if reason == "qualified" else reason
    elif account.below_tier_since is not None:
        updates["below_tier_since"] = None
    changed = target != current
    if changed:
        updates.update(tier=target, tier_since=now, below_tier_since=None)
    if updates:
        Account.objects.filter(pk=account.pk).update(**updates)
    if changed:
        events.emit(events.TierChanged(customer_id=account.customer_id, from_tier=current.code if current else "",
                                       to_tier=target.code if target else "", reason=reason), actor=actor)
    return changed


def tiers_review_all(*, now: dt.datetime | None = None) -> int:
    return sum(tier_review(account_id=pk, now=now) for pk in Account.objects.values_list("pk", flat=True))


@transaction.atomic
def tier_set(*, actor, customer_id: int, tier_code: str, until: dt.date | None = None) -> Account:
    """A manual level (capability loyalty.adjust): a floor until ``until`` (or for good);
    an empty code removes it."""
    require(actor, Capability.LOYALTY_ADJUST)
    customer = _visible_customer(actor, customer_id)
    tier = None
    if tier_code:
        tier = Tier.objects.filter(code=tier_code).first() if isinstance(tier_code, str) else None
        if tier is None:
            raise ValidationFailed(_("Validation failed"), errors={"tier": [_("Unknown tier.")]})
    if until is not None and until < timezone.localdate():
        raise ValidationFailed(_("Validation failed"), errors={"until": [_("Enter a date from today on.")]})
    account = _account_for(customer.pk, emit_actor=actor)
    Account.objects.filter(pk=account.pk).update(override_tier=tier, override_until=until if tier else None)
    if not tier_review(account_id=account.pk, actor=actor):
        events.emit(events.ConfigChanged(kind="loyalty_tier_override", object_id=str(account.pk),
                                         action="updated"), actor=actor)
    return Account.objects.select_related("tier", "override_tier").get(pk=account.pk)


# ---------------------------------------------------------------- referrals

def _same_person(a: Customer, b: Customer) -> bool:
    if a.pk == b.pk:
        return True
    if a.email and b.email and a.email.strip().lower() == b.email.strip().lower():
        return True
    return bool(a.phone and b.phone and a.phone.strip() == b.phone.strip())


@transaction.atomic
def referral_register(*, actor, customer_id: int, code: str) -> Referral:
    """Record who referred a customer (by the referrer's code). Guards: no self-referral (same
    customer, e-mail or phone), one referrer per referee, only before the referee's first paid order."""
    require(actor, Capability.CUSTOMERS_CHANGE)
    code = _text(code, "code", 12).upper()
    customer = _visible_customer(actor, customer_id)
    referrer = Account.objects.select_related("customer").filter(referral_code=code).first()
    if referrer is None:
        raise ValidationFailed(_("Validation failed"), errors={"code": [_("Unknown referral code.")]})
    if _same_person(referrer.customer, customer):
        raise ValidationFailed(_("Validation failed"), errors={"code": [_("A customer cannot refer themselves.")]})
    account = _account_for(customer.pk, emit_actor=actor)
    if Referral.objects.filter(referee=account).exists():
        raise Conflict(_("This customer was already referred."))
    if Entry.objects.filter(account=account, kind=EntryKind.EARN).exists():
        raise Conflict(_("Only a customer without a paid order can be referred."))
    referral = Referral.objects.create(referrer=referrer, referee=account)
    Account.objects.filter(pk=account.pk).update(referred_by=referrer)
    events.emit(events.ReferralRegistered(customer_id=customer.pk, referral_id=referral.pk,
                                          referrer_customer_id=referrer.customer_id), actor=actor)
    return referral


def _referral_qualify(account: Account, order: Order) -> None:
    Referral.objects.filter(referee=account, status=ReferralStatus.REGISTERED).update(
        status=ReferralStatus.QUALIFIED, order_id=order.pk, order_total=order.total_amount)


def _referrals_reward(*, now: dt.datetime) -> int:
    """Reward referrals whose first order is past its return window (its earn row released),
    within the referrer's monthly cap."""
    released_orders = Entry.objects.filter(kind=EntryKind.RELEASE, reference__startswith="release:",
                                           order_id__isnull=False).values("order_id")
    count = 0
    for referral in (Referral.objects.filter(status=ReferralStatus.QUALIFIED, order_id__in=released_orders)
                     .select_related("referrer", "referee").order_by("id")):
        with transaction.atomic():
            program = program_current(timezone.localtime(now).date())
            month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            rewarded = Referral.objects.filter(referrer=referral.referrer, status=ReferralStatus.REWARDED,
                                               rewarded_at__gte=month_start).count()
            if rewarded >= program.referral_monthly_cap:
                continue  # stays qualified: next month has room
            for account, role, n in ((referral.referrer, "referrer", program.referral_referrer_points),
                                     (referral.referee, "referee", program.referral_referee_points)):
                if n <= 0:
                    continue
                entry = _write(account, EntryKind.REFERRAL, points=n, at=now, order_id=referral.order_id,
                               reference=f"referral:{role}", expires_at=_expiry(program, now))
                events.emit(events.PointsEarned(customer_id=account.customer_id, entry_id=entry.pk, points=n,
                                                kind="referral", order_id=referral.order_id))
            Referral.objects.filter(pk=referral.pk).update(status=ReferralStatus.REWARDED, rewarded_at=now)
            events.emit(events.ReferralRewarded(customer_id=referral.referee.customer_id, referral_id=referral.pk,
                                                referrer_customer_id=referral.referrer.customer_id,
                                                order_id=referral.order_id))
            count += 1
    return count


# ---------------------------------------------------------------- VIP care

@transaction.atomic
def vip_care_remind(*, actor, customer_id: int, now: dt.datetime | None = None,
                    due_in_days: int = 2) -> CareReminder | None:
    """Give a VIP whose care is due a care task for their care owner (the customer's owner),
    at most once per care cadence: the reminder row is written with the task, and a VIP with a
    reminder (or an interaction) within the cadence is not due. None when not due."""
    from django.conf import settings
    from django.utils import translation

    from valuecrm.customers.services import task_create
    from valuecrm.loyalty.selectors import care_due_q

    require(actor, Capability.CUSTOMERS_CHANGE)
    now = now or timezone.now()
    # The customer row is the lock: two firings for one VIP cannot both find it due.
    customer = Customer.objects.select_for_update(of=("self",)).select_related("owner").filter(
        pk=customer_id).first()
    if customer is None or not can_see_customer(actor, customer):
        raise NotFound(_("Customer not found."))
    if customer.owner is None or not Customer.objects.filter(care_due_q(now=now), pk=customer.pk).exists():
        return None  # not due (or nobody to care: a VIP without an owner)
    cadence = program_current(timezone.localtime(now).date()).vip_care_days
    last = customer.interactions.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    owner = customer.owner
    with translation.override((owner.language if owner else "") or settings.LANGUAGE_CODE):
        title = _("VIP care: get in touch with %(customer)s") % {"customer": customer.name}
        since = (_("last touch %(date)s") % {"date": timezone.localtime(last).date().isoformat()} if last
                 else _("no touch logged yet"))
        description = _("A VIP gets a touch every %(n)s days; %(since)s.") % {"n": cadence, "since": since}
    task = task_create(actor=actor, title=title[:200], customer=customer, description=description,
                       due_at=now + dt.timedelta(days=due_in_days), assignee=owner)
    return CareReminder.objects.create(customer=customer, task=task, created_at=now)
