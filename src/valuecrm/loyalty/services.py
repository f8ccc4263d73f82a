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
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.common.events.rows import insert_rows_returning_ids
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


def _multipliers(program: Program) -> dict:
    return {k: Decimal(v) for k, v in (program.category_multipliers or {}).items()}


def _earn_points(total: Decimal, lines, multipliers: dict, program: Program, tier: Tier | None,
                 birthday: bool) -> int:
    """The arithmetic of order_points, on plain values (the batch path has no Order objects)."""
    if multipliers and lines:
        line_sum = sum((ln.line_total for ln in lines), Decimal("0"))
        weighted = sum((ln.line_total * multipliers.get(ln.product.category if ln.product else "", Decimal("1"))
                        for ln in lines), Decimal("0"))
        # Lines may not add up to the total (shipping, discounts): scale to the paid total.
        value = weighted * total / line_sum if line_sum else total
    else:
        value = total
    value *= program.points_per_cny
    if tier is not None:
        value *= tier.multiplier
    if birthday:
        value *= program.birthday_multiplier
    return max(0, _round(value, program))


def order_points(order: Order, program: Program, tier: Tier | None, customer: Customer, *, lines=None) -> int:
    """Points an order earns: value (lines by category multiplier, else the total) × points per CNY ×
    tier multiplier × birthday multiplier, rounded as the programme says. ``lines``: the order's
    lines when the caller fetched them already."""
    multipliers = _multipliers(program)
    if multipliers and lines is None:
        lines = list(order.lines.select_related("product"))
    return _earn_points(order.total_amount, lines, multipliers, program, tier,
                        _is_birthday(customer, timezone.localtime(order.placed_at).date()))


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
    """The subscriber's entry point for a batch of order events: the same ledger, balances
    and tiers as ``order_changed`` once per order in this order, set-based (see _earn_batch)."""
    order_ids = list(dict.fromkeys(order_ids))
    if order_ids:
        _earn_batch(Order.objects.filter(pk__in=order_ids), order_ids=order_ids)


IMPORT_CHUNK = 5000


def orders_imported(*, run_id: int | None = None) -> int:
    """Earn on the orders an import created (the import raises one import.finished event, not
    an event per order): every order past the watermark, in id order, IMPORT_CHUNK at a time;
    the watermark moves with each chunk in the same transaction, so a replay credits nothing
    twice. Ledger rows carry no per-row event; each chunk emits one loyalty.points_earned_in_bulk.
    Returns the number of orders looked at."""
    from valuecrm.loyalty.models import EarnWatermark

    seen = 0
    while True:
        with transaction.atomic():
            mark, _made = EarnWatermark.objects.select_for_update().get_or_create(key=EarnWatermark.IMPORTS)
            ids = list(Order.objects.filter(pk__gt=mark.last_order_id).order_by("pk")
                       .values_list("pk", flat=True)[:IMPORT_CHUNK])
            if not ids:
                return seen
            _earn_batch(Order.objects.filter(pk__gte=ids[0], pk__lte=ids[-1]), order_ids=None, run_id=run_id)
            EarnWatermark.objects.filter(pk=mark.pk).update(last_order_id=ids[-1])
            seen += len(ids)


def _program_lookup():
    """day → the programme in force (program_current), from one read of the versions."""
    versions = sorted(Program.objects.all(), key=lambda p: (p.effective_from, p.pk))
    fallback = Program(effective_from=dt.date(2000, 1, 1))
    memo: dict[dt.date, Program] = {}

    def of(day: dt.date) -> Program:
        program = memo.get(day)
        if program is None:
            program = fallback
            for version in versions:
                if version.effective_from > day:
                    break
                program = version
            memo[day] = program
        return program

    return of, [fallback, *versions]


@dataclass
class _Member:
    account_id: int
    state: _TierState
    qualifying: int  # Σ of the window's rows, unclamped (qualifying_points clamps at 0)
    first: bool
    referee: bool
    updates: dict


def _earn_batch(orders, *, order_ids: list[int] | None, run_id: int | None = None) -> None:
    """Credit a batch of orders as ``order_changed`` would one at a time, in a fixed number of
    queries whatever its size: one read each of the orders (with the customers' birthday index),
    their earn rows, the programme versions, the tiers, the members (locked), their window sums,
    their first-order flags and the referees; one insert of new members, one of the ledger rows;
    one UPDATE of all the balances; one UPDATE per (new tier, grace state) that changed. The tier
    reviews the single path runs after each credited order are replayed in memory
    (_tier_decide), so an upgrade half-way through a member's orders multiplies the later ones.

    ``order_ids`` (event order; None: id order) come from order events, whose credits each emit
    loyalty.points_earned; an import's batch (order_ids None) emits one points_earned_in_bulk.
    A member with a credited order now cancelled or refunded goes the single path (the reversal
    and what follows it, in event order)."""
    program_of, programs = _program_lookup()
    birthdays = any(p.birthday_multiplier != 1 for p in programs)
    fields = ("pk", "customer_id", "status", "placed_at", "total_amount",
              *(("customer__birthday_bidx",) if birthdays else ()))
    rows = list(orders.values_list(*fields))
    if order_ids is None:
        rows.sort()
        lo, hi = (rows[0][0], rows[-1][0]) if rows else (0, -1)
        earned_q = {"order_id__gte": lo, "order_id__lte": hi}
    else:
        position = {pk: i for i, pk in enumerate(order_ids)}
        rows.sort(key=lambda r: position[r[0]])
        earned_q = {"order_id__in": [r[0] for r in rows]}
    if not rows:
        return
    earned = set(Entry.objects.filter(kind=EntryKind.EARN, **earned_q).values_list("order_id", flat=True))
    local = timezone.get_current_timezone()
    revenue, reversing = set(REVENUE_STATUSES), {OrderStatus.CANCELLED, OrderStatus.REFUNDED}
    slow: set[int] = set()
    todo = []  # (order row, its local day, its programme)
    for row in rows:
        pk, cid, status = row[0], row[1], row[2]
        if status in reversing:
            if pk in earned:
                slow.add(cid)  # something to claw back
            continue
        if status not in revenue or pk in earned:
            continue
        day = row[3].astimezone(local).date()
        program = program_of(day)
        if program.enabled:
            todo.append((row, day, program))
    customers = list(dict.fromkeys(row[1] for row, _d, _p in todo))
    if not customers and not slow:
        return  # a re-delivery, or nothing that earns
    tiers = list(Tier.objects.order_by("rank"))
    tier_of = {t.pk: t for t in tiers}
    accounts = {cid: rest for cid, *rest in Account.objects.select_for_update(of=("self",)).filter(
        customer_id__in=customers).values_list("customer_id", "pk", "tier_id", "below_tier_since",
                                               "override_tier_id", "override_until")}
    enrols: dict[int, set] = {}
    for row, _day, program in todo:
        if row[1] not in accounts:
            enrols.setdefault(row[1], set()).add(program.auto_enrol)
    for cid, kinds in enrols.items():
        if len(kinds) > 1:
            slow.add(cid)  # enrolled by a later order only: as the single path does
    new = [cid for cid, kinds in enrols.items() if kinds == {True} and cid not in slow]
    todo = [t for t in todo if t[0][1] not in slow and (t[0][1] in accounts or t[0][1] in new)]
    now = timezone.now()
    today = program_of(timezone.localtime(now).date())
    window = now - dt.timedelta(days=today.tier_window_days)
    made = _enrol_many(new, tiers[0] if tiers else None, now)
    accounts.update({cid: (pk, tiers[0].pk if tiers else None, None, None, None) for cid, pk in made.items()})
    ids = [accounts[cid][0] for cid in dict.fromkeys(row[1] for row, _d, _p in todo)]
    sums = dict(Entry.objects.filter(account_id__in=ids, at__gt=window, at__lte=now, kind__in=(
        EntryKind.EARN, EntryKind.REFERRAL, EntryKind.REVERSE)).values("account_id").annotate(
        p=Sum(F("points") + F("pending"))).order_by().values_list("account_id", "p")) if ids else {}
    had_first = set(Entry.objects.filter(account_id__in=ids, kind=EntryKind.EARN, reference="")
                    .order_by().values_list("account_id", flat=True).distinct()) if ids else set()
    referees = set(Referral.objects.filter(referee_id__in=ids, status=ReferralStatus.REGISTERED)
                   .values_list("referee_id", flat=True)) if ids else set()
    lines: dict[int, list] = {}
    if any(p.category_multipliers for _r, _d, p in todo):
        from valuecrm.orders.models import OrderLine

        for ln in OrderLine.objects.filter(order_id__in=[r[0] for r, _d, _p in todo]).select_related(
                "product").order_by("pk"):
            lines.setdefault(ln.order_id, []).append(ln)
    bidx_field = Customer._meta.get_field("birthday_bidx")
    birthday_marks: dict[dt.date, set] = {}

    def is_birthday(bidx: str, day: dt.date) -> bool:
        marks = birthday_marks.get(day)
        if marks is None:
            marks = {bidx_field.compute(day)}
            if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
                marks.add(bidx_field.compute(dt.date(2000, 2, 29)))
            birthday_marks[day] = marks
        return bool(bidx) and bidx in marks

    members: dict[int, _Member] = {}
    entries, tier_events, qualify = [], [], []
    multipliers = {}
    for row, day, program in todo:
        pk, cid, _status, placed_at, total = row[:5]
        member = members.get(cid)
        if member is None:
            account_id, tier_id, below, override_id, until = accounts[cid]
            member = members[cid] = _Member(
                account_id, _TierState(tier_of.get(tier_id), below, tier_of.get(override_id), until),
                sums.get(account_id) or 0, account_id not in had_first, account_id in referees, {})
        if program.pk not in multipliers:
            multipliers[program.pk] = _multipliers(program)
        points = _earn_points(total, lines.get(pk), multipliers[program.pk], program, member.state.tier,
                              birthdays and program.birthday_multiplier != 1 and is_birthday(row[5], day))
        escrow = program.escrow_days > 0
        wrote = False
        for reference, n in (("", points), (FIRST_ORDER, program.first_order_bonus if member.first else 0)):
            if n <= 0:
                continue
            entries.append((member.account_id, cid, EntryKind.EARN, 0 if escrow else n, n if escrow else 0,
                            placed_at, pk, reference,
                            placed_at + dt.timedelta(days=program.escrow_days) if escrow else None,
                            None if escrow else _expiry(program, placed_at)))
            if window < placed_at <= now:
                member.qualifying += n
            wrote = True
        if points > 0:
            member.first = False
        if member.referee:
            qualify.append((member.account_id, pk, total))
            member.referee = False
        if wrote:
            updates, reason, before = _tier_decide(member.state, max(0, member.qualifying), tiers, today, now)
            member.updates.update(updates)
            if member.state.tier != before:
                tier_events.append(_tier_changed_event(cid, before, member.state.tier, reason))
    entry_ids = insert_rows_returning_ids(
        Entry, ("account_id", "kind", "points", "pending", "at", "order_id", "reference", "available_at",
                "expires_at"), ((e[0], *e[2:]) for e in entries)) if entries else []
    totals: dict[int, list[int]] = {}
    for e in entries:
        t = totals.setdefault(e[0], [0, 0])
        t[0] += e[3]
        t[1] += e[4]
    _add_to_balances(totals)
    by_change: dict[tuple, list[int]] = {}
    for member in members.values():
        if member.updates:
            by_change.setdefault(tuple(sorted(member.updates.items(), key=lambda kv: kv[0])), []).append(
                member.account_id)
    for change, account_ids in by_change.items():
        Account.objects.filter(pk__in=account_ids).update(**dict(change))
    for account_id, order_id, total in qualify:
        Referral.objects.filter(referee_id=account_id, status=ReferralStatus.REGISTERED).update(
            status=ReferralStatus.QUALIFIED, order_id=order_id, order_total=total)
    if order_ids is None:
        news = [events.PointsEarnedInBulk(
            run_id=run_id, orders=len({e[6] for e in entries}), entries=len(entries),
            points=sum(e[3] + e[4] for e in entries), members_enrolled=len(made),
            first_entry_id=entry_ids[0] if entry_ids else None,
            last_entry_id=entry_ids[-1] if entry_ids else None)] if entries or made else []
    else:
        news = [*(events.MemberEnrolled(customer_id=cid) for cid in made),
                *(events.PointsEarned(customer_id=e[1], entry_id=entry_id, points=e[3] + e[4], kind="earn",
                                      order_id=e[6]) for e, entry_id in zip(entries, entry_ids, strict=True))]
    events.emit_many(news + tier_events)  # one outbox insert
    for row in rows:  # the rest, one order at a time in event order
        if row[1] in slow:
            order_changed(order_id=row[0])


def _add_to_balances(totals: dict[int, list[int]]) -> None:
    """balance += available, pending += pending, lifetime_earned += both, for many accounts in one
    UPDATE … FROM (VALUES …) per 2,000 accounts (SQLite ≥ 3.33 and PostgreSQL)."""
    if not totals:
        return
    from django.db import connection

    table = connection.ops.quote_name(Account._meta.db_table)
    cast = "" if connection.vendor == "sqlite" else "::integer"
    items = list(totals.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 2000):
            chunk = items[start:start + 2000]
            values = ", ".join([f"(%s{cast}, %s{cast}, %s{cast})"] * len(chunk))
            cursor.execute(
                f"WITH v(account_id, p, q) AS (VALUES {values}) "
                f"UPDATE {table} SET balance = {table}.balance + v.p, pending = {table}.pending + v.q, "
                f"lifetime_earned = {table}.lifetime_earned + v.p + v.q FROM v WHERE {table}.id = v.account_id",
                [x for account_id, (p, q) in chunk for x in (account_id, p, q)])


_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 letters: a random byte % 32 is uniform


def _enrol_many(customer_ids: list[int], first_tier: Tier | None, now: dt.datetime) -> dict[int, int]:
    """Enrol many customers with one insert; {customer id: account id}."""
    if not customer_ids:
        return {}
    codes = secrets.token_bytes(8 * len(customer_ids))
    rows = [(cid, "".join(_CODE_ALPHABET[b % 32] for b in codes[8 * i:8 * i + 8]), now,
             first_tier.pk if first_tier else None) for i, cid in enumerate(customer_ids)]
    try:
        with transaction.atomic():
            ids = insert_rows_returning_ids(Account, ("customer_id", "referral_code", "enrolled_at", "tier_id"), rows)
    except IntegrityError:  # a code collision or a concurrent enrolment: one at a time
        return {cid: _account_for(cid).pk for cid in customer_ids}
    return dict(zip(customer_ids, ids, strict=True))


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


@dataclass
class _TierState:
    """What a tier review reads and writes of an account, so the batch earn can replay the
    reviews the one-order path runs (one per credited order) in memory."""

    tier: Tier | None
    below_tier_since: dt.datetime | None
    override_tier: Tier | None
    override_until: dt.date | None


def _tier_decide(state: _TierState, qualifying: int, tiers: list[Tier], program: Program,
                 now: dt.datetime) -> tuple[dict, str, Tier | None]:
    """One review, pure: upgrade at once, downgrade only after the grace period; a manual tier
    (until its end date) is a floor. Returns (the account fields to update, the reason, the
    previous tier); ``state`` is updated in place."""
    earned = _tier_for(qualifying, tiers)
    floor = state.override_tier
    if floor is not None and state.override_until is not None and state.override_until < timezone.localtime(
            now).date():
        floor = None
    target = earned
    if floor is not None and (target is None or floor.rank > target.rank):
        target = floor
    current = state.tier
    reason = "override" if target is floor and floor is not None and floor != earned else "qualified"
    updates = {}
    if current is not None and target is not None and target.rank < current.rank:
        if state.below_tier_since is None:
            state.below_tier_since = now
            updates["below_tier_since"] = now
            target = current
        elif now - state.below_tier_since < dt.timedelta(days=program.tier_grace_days) and reason != "override":
            target = current
        else:
            reason = "grace_ended" if reason == "qualified" else reason
    elif state.below_tier_since is not None:
        updates["below_tier_since"] = None
        state.below_tier_since = None
    if target != current:
        updates.update(tier=target, tier_since=now, below_tier_since=None)
        state.tier, state.below_tier_since = target, None
    return updates, reason, current


def _tier_changed_event(customer_id: int, before: Tier | None, after: Tier | None, reason: str):
    return events.TierChanged(customer_id=customer_id, from_tier=before.code if before else "",
                              to_tier=after.code if after else "", reason=reason)


@transaction.atomic
def tier_review(*, account_id: int, now: dt.datetime | None = None, actor=None) -> bool:
    """Re-qualify one member (see _tier_decide). Emits loyalty.tier_changed; True when it changed."""
    now = now or timezone.now()
    account = Account.objects.select_for_update(of=("self",)).select_related("tier", "override_tier").get(
        pk=account_id)
    program = program_current(timezone.localtime(now).date())
    tiers = list(Tier.objects.order_by("rank"))
    state = _TierState(account.tier, account.below_tier_since, account.override_tier, account.override_until)
    updates, reason, before = _tier_decide(
        state, qualifying_points(account_id, now=now, window_days=program.tier_window_days), tiers, program, now)
    if updates:
        Account.objects.filter(pk=account.pk).update(**updates)
    changed = state.tier != before
    if changed:
        events.emit(_tier_changed_event(account.customer_id, before, state.tier, reason), actor=actor)
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
