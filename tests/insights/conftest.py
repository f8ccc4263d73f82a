"""Helpers to build customers with an exact order history."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.conf import settings


def local_noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


@pytest.fixture
def make_customer(db):
    from valuecrm.customers.models import Customer

    def _make(name, owner=None, **kw):
        return Customer.objects.create(name=name, owner=owner, team=getattr(owner, "team", None), **kw)

    return _make


@pytest.fixture
def add_orders(db):
    from valuecrm.orders.models import Order

    counter = {"n": 0}

    def _add(customer, days, amount="100.00", cost="0", status="paid"):
        orders = []
        for day in days:
            counter["n"] += 1
            orders.append(Order(customer=customer, external_id=f"t{counter['n']}", placed_at=local_noon(day),
                                total_amount=Decimal(str(amount)), total_cost=Decimal(str(cost)), status=status))
        return Order.objects.bulk_create(orders)

    return _add


@pytest.fixture
def analyst(make_user):
    return make_user("analyst", role="analyst")
