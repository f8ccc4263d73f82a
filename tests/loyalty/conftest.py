"""Loyalty fixtures: a programme, customers, and orders placed through the sales service
with their after-commit events delivered (so the earn subscriber runs as in production)."""

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest

_numbers = count(1)


@pytest.fixture
def program(db, admin_user):
    from valuecrm.loyalty.services import program_update

    return program_update(actor=admin_user, data={
        "effective_from": dt.date(2020, 1, 1), "points_per_cny": "1", "escrow_days": 7, "expiry_days": 365,
        "first_order_bonus": 0, "redeem_min_points": 1, "birthday_multiplier": "1"})


@pytest.fixture
def customer(db, admin_user):
    from valuecrm.customers.services import customer_create

    def _make(name="李娜", **data):
        return customer_create(actor=admin_user, data={"name": name, **data})

    return _make


@pytest.fixture
def place_order(admin_user, django_capture_on_commit_callbacks):
    from valuecrm.orders.services import order_create

    def _place(customer, amount, *, status="paid", placed_at=None):
        placed_at = placed_at or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        with django_capture_on_commit_callbacks(execute=True):
            order, _created = order_create(actor=admin_user, data={
                "customer_id": customer.pk, "external_id": f"T-{next(_numbers)}", "status": status,
                "placed_at": placed_at.isoformat(), "total_amount": str(Decimal(amount))})
        return order

    return _place


@pytest.fixture
def set_status(admin_user, django_capture_on_commit_callbacks):
    from valuecrm.orders.services import order_update_status

    def _set(order, status):
        with django_capture_on_commit_callbacks(execute=True):
            return order_update_status(actor=admin_user, order=order, status=status)

    return _set
