"""Property tests: any sequence of orders, refunds, redemptions, adjustments, escrow
releases and expiry runs keeps the ledger's promises."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from valuecrm.common.errors import Conflict, ValidationFailed
from valuecrm.loyalty import ledger, selectors, services
from valuecrm.loyalty.models import Account, Entry, EntryKind
from valuecrm.orders.models import Order

pytestmark = pytest.mark.django_db

START = dt.datetime(2025, 1, 1, 4, tzinfo=dt.UTC)

steps = st.lists(st.one_of(
    st.tuples(st.just("order"), st.integers(1, 900)),
    st.tuples(st.just("refund"), st.integers(0, 20)),
    st.tuples(st.just("redeem"), st.integers(1, 600)),
    st.tuples(st.just("adjust"), st.integers(-300, 300).filter(bool)),
    st.tuples(st.just("wait"), st.integers(1, 200)),
    st.tuples(st.just("nightly"), st.just(0)),
), min_size=1, max_size=25)


class _Rollback(Exception):
    pass


def _check_snapshot(account):
    account.refresh_from_db()
    assert (account.balance, account.pending) == selectors.ledger_sums(account.pk)
    state = ledger.replay(selectors.lot_rows(account.pk))
    assert state.available == account.balance
    assert all(lot.remaining >= 0 for lot in state.lots.values())
    return state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(steps=steps)
# Shrunk from a random run: a released lot expires in full, then its order is refunded. The
# order's own rows keep what expired (earn + release − reversal == expired), the expiry row
# takes it away, and nothing is clawed back twice.
@example(steps=[("order", 1), ("wait", 200), ("wait", 165), ("nightly", 0), ("refund", 0)])
# Partly spent, then expired, then refunded: only the spent part is clawed back (balance < 0).
@example(steps=[("order", 100), ("wait", 10), ("nightly", 0), ("redeem", 60), ("wait", 200), ("wait", 200),
                ("nightly", 0), ("refund", 0)])
def test_ledger_invariants(steps, admin_user, program):
    from valuecrm.customers.models import Customer

    try:
        with transaction.atomic():
            _run(steps, admin_user, Customer.objects.create(name="P", owner=admin_user))
            raise _Rollback
    except _Rollback:
        pass


def _run(steps, admin, customer):
    clock = START
    orders: list[Order] = []
    account = services._account_for(customer.pk)
    for i, (op, arg) in enumerate(steps):
        if op == "order":
            order = Order.objects.create(customer=customer, external_id=f"P{i}", status="paid", placed_at=clock,
                                         total_amount=Decimal(arg))
            services.order_earn(order=order)
            orders.append(order)
        elif op == "refund" and orders:
            order = orders[arg % len(orders)]
            if order.status == "refunded":
                continue
            before = selectors.ledger_sums(account.pk)
            lot_ids = list(Entry.objects.filter(order_id=order.pk, kind__in=("earn", "release")).values_list(
                "pk", flat=True))
            expired = -sum(Entry.objects.filter(kind=EntryKind.EXPIRE, source_id__in=lot_ids).values_list(
                "points", flat=True))
            earned = sum(e.points + e.pending for e in Entry.objects.filter(order_id=order.pk, kind="earn"))
            Order.objects.filter(pk=order.pk).update(status="refunded")
            order.status = "refunded"
            services.order_reverse(order=order)
            after = selectors.ledger_sums(account.pk)
            # Back to what it would have been without the order, less what was spent (and what expired).
            assert sum(before) - sum(after) == earned - expired
            rows = Entry.objects.filter(order_id=order.pk)
            assert sum(e.points + e.pending for e in rows) == expired
        elif op == "redeem":
            balance = Account.objects.get(pk=account.pk).balance
            state_before = ledger.replay(selectors.lot_rows(account.pk))
            try:
                entry, _created = services.points_redeem(actor=admin, customer_id=customer.pk, points=arg,
                                                         reference=f"R{i}")
            except Conflict:
                assert balance < arg  # refused only when not enough is available
                continue
            except ValidationFailed:
                continue
            assert balance >= arg  # never spends what is not available
            state = ledger.replay(selectors.lot_rows(account.pk))
            taken = state.taken[entry.pk]
            # FIFO: every lot that expires before the last lot touched is now empty
            order_key = {lot.entry_id: (lot.expires_at or ledger._NEVER, lot.entry_id)
                         for lot in state_before.lots.values()}
            last = max(order_key[lot_id] for lot_id in taken)
            assert all(lot.remaining == 0 for lot in state.lots.values() if order_key.get(lot.entry_id, last) < last)
        elif op == "adjust":
            services.points_adjust(actor=admin, customer_id=customer.pk, points=arg, reason="test")
        elif op == "wait":
            clock += dt.timedelta(days=arg)
        elif op == "nightly":
            services.escrow_release(now=clock)
            services.points_expire(now=clock)
            rows_before = Entry.objects.count()
            assert services.points_expire(now=clock) == 0  # idempotent
            assert services.escrow_release(now=clock) == 0
            assert Entry.objects.count() == rows_before
            state = _check_snapshot(account)
            assert all(lot.remaining == 0 for lot in state.lots.values()
                       if lot.expires_at is not None and lot.expires_at <= clock)
        _check_snapshot(account)


def test_replay_pays_debt_before_opening_a_lot():
    state = ledger.replay([(1, "earn", 100, None, None), (2, "redeem", -100, None, None),
                           (3, "reverse", -100, None, 1), (4, "adjust", 150, None, None)])
    assert (state.debt, state.lots[4].remaining, state.available) == (0, 50, 50)


def test_replay_takes_first_to_expire_first():
    soon, later = dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1)
    state = ledger.replay([(1, "earn", 100, later, None), (2, "earn", 100, soon, None), (3, "adjust", 50, None, None),
                           (4, "redeem", -120, None, None)])
    assert state.taken[4] == {2: 100, 1: 20}
    assert (state.lots[1].remaining, state.lots[2].remaining, state.lots[3].remaining) == (80, 0, 50)
