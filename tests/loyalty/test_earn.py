import datetime as dt

import pytest
from django.utils import timezone

from valuecrm.loyalty import selectors, services
from valuecrm.loyalty.models import Account, Entry, EntryKind

pytestmark = pytest.mark.django_db


def _sums(account):
    return selectors.ledger_sums(account.pk)


def test_paid_order_earns_pending_points_then_releases_after_the_return_window(program, customer, place_order):
    c = customer()
    order = place_order(c, "358.60", placed_at=timezone.now() - dt.timedelta(days=2))
    account = Account.objects.get(customer=c)
    assert (account.balance, account.pending, account.lifetime_earned) == (0, 358, 358)
    assert _sums(account) == (0, 358)

    assert services.escrow_release(now=timezone.now()) == 0  # window still open
    assert services.escrow_release(now=order.placed_at + dt.timedelta(days=7)) == 1
    assert services.escrow_release(now=order.placed_at + dt.timedelta(days=8)) == 0  # idempotent
    account.refresh_from_db()
    assert (account.balance, account.pending) == (358, 0)
    assert _sums(account) == (358, 0)
    release = Entry.objects.get(kind=EntryKind.RELEASE)
    assert release.expires_at == order.placed_at + dt.timedelta(days=365)


def test_the_same_order_event_twice_earns_once(program, customer, place_order, set_status):
    c = customer()
    order = place_order(c, "100", status="pending")
    assert not Account.objects.filter(customer=c).exists()
    set_status(order, "paid")
    set_status(order, "fulfilled")
    services.order_changed(order_id=order.pk)
    assert list(Entry.objects.values_list("kind", "pending")) == [("earn", 100)]


def test_refund_after_spending_claws_back_and_the_balance_goes_negative(program, customer, place_order, set_status,
                                                                        admin_user):
    c = customer()
    order = place_order(c, "500", placed_at=timezone.now() - dt.timedelta(days=10))
    services.escrow_release()
    services.points_redeem(actor=admin_user, customer_id=c.pk, points=400, reference="V-1")
    set_status(order, "refunded")
    account = Account.objects.get(customer=c)
    assert account.balance == -400
    assert _sums(account) == (-400, 0)
    reverse = Entry.objects.get(kind=EntryKind.REVERSE)
    assert (reverse.points, reverse.order_id, reverse.reason) == (-500, order.pk, "refunded")
    # A refunded order is final; replaying the reversal writes nothing more.
    services.order_reverse(order=order)
    assert Entry.objects.filter(kind=EntryKind.REVERSE).count() == 1


def test_cancel_while_pending_removes_the_pending_points(program, customer, place_order, set_status):
    c = customer()
    order = place_order(c, "80")
    set_status(order, "cancelled")
    account = Account.objects.get(customer=c)
    assert (account.balance, account.pending) == (0, 0)
    assert services.escrow_release(now=timezone.now() + dt.timedelta(days=30)) == 0


def test_multipliers_bonus_and_rounding(admin_user, customer, place_order):
    services.program_update(actor=admin_user, data={
        "effective_from": dt.date(2020, 1, 1), "points_per_cny": "1.5", "escrow_days": 0, "first_order_bonus": 50,
        "birthday_multiplier": "2", "rounding": "nearest"})
    today = timezone.localdate()
    c = customer(birthday=today.replace(year=1990).isoformat() if not (today.month == 2 and today.day == 29)
                 else "1992-02-29")
    place_order(c, "33.30", placed_at=timezone.now())
    # 33.30 × 1.5 × 1.00 (standard tier) × 2 (birthday) = 99.9 → 100, plus the first-order bonus 50
    assert sorted(Entry.objects.values_list("reference", "points")) == [("", 100), ("first_order", 50)]
    place_order(c, "10", placed_at=timezone.now())
    assert Entry.objects.filter(reference="first_order").count() == 1


def test_disabled_programme_earns_nothing(admin_user, customer, place_order):
    services.program_update(actor=admin_user, data={"effective_from": dt.date(2020, 1, 1), "enabled": False})
    place_order(customer(), "100")
    assert Entry.objects.count() == 0


def test_rules_are_versioned_by_the_day_they_apply_from(admin_user, customer, place_order):
    services.program_update(actor=admin_user, data={"effective_from": dt.date(2020, 1, 1), "points_per_cny": "1",
                                                    "escrow_days": 0, "first_order_bonus": 0})
    services.program_update(actor=admin_user, data={"effective_from": timezone.localdate(), "points_per_cny": "3"})
    c = customer()
    place_order(c, "10", placed_at=timezone.now() - dt.timedelta(days=3))
    place_order(c, "10", placed_at=timezone.now())
    assert sorted(Entry.objects.values_list("points", flat=True)) == [10, 30]
