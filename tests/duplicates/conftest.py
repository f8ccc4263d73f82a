"""Customers with a row in every related table, for merge and export tests."""

import datetime as dt
from decimal import Decimal

import pytest


@pytest.fixture
def make_customer(admin_user):
    from valuecrm.customers.services import customer_create

    def _make(actor=None, **data):
        data.setdefault("name", "Customer")
        return customer_create(actor=actor or admin_user, data=data)

    return _make


@pytest.fixture
def score_run(db):
    from valuecrm.insights.models import RunStatus, ScoreRun

    return ScoreRun.objects.create(status=RunStatus.SUCCEEDED, as_of=dt.date(2024, 6, 30))


@pytest.fixture
def fill_customer(admin_user, score_run):
    """Give `customer` one row in every table that points at customers."""
    from valuecrm.customers.models import Address, CustomerKind
    from valuecrm.customers.services import (
        contact_point_add,
        customer_create,
        customer_update,
        interaction_create,
        note_create,
        task_create,
    )
    from valuecrm.insights.models import CustomerScore, CustomerValue, StageChange, ValueAlert
    from valuecrm.orders.services import order_create

    def _fill(customer, *, tag, wechat, order_id, with_value=True):
        customer_update(actor=admin_user, customer=customer, data={"tags": [tag, "shared"]})
        contact_point_add(actor=admin_user, customer=customer, kind="wechat", value=wechat)
        Address.objects.create(customer=customer, line1=f"{tag} road 1", city="Shanghai")
        interaction_create(actor=admin_user, customer=customer, kind="call", subject=f"call {tag}")
        task_create(actor=admin_user, title=f"follow up {tag}", customer=customer)
        note_create(actor=admin_user, customer=customer, body=f"note {tag}")
        order_create(actor=admin_user, data={
            "customer_id": customer.pk, "source": "shop", "external_id": order_id,
            "lines": [{"sku": "A-1", "name": "Tea", "quantity": 2, "unit_price": "10.00"}],
        })
        if customer.kind == CustomerKind.ORGANIZATION:
            customer_create(actor=admin_user, data={"name": f"Contact of {tag}", "company_id": customer.pk})
        CustomerScore.objects.create(run=score_run, customer=customer, as_of=score_run.as_of,
                                     clv=Decimal("12.50"))
        if with_value:
            CustomerValue.objects.create(customer=customer, run=score_run, as_of=score_run.as_of,
                                         clv=Decimal("12.50"))
        StageChange.objects.create(customer=customer, to_stage="new", changed_on=score_run.as_of,
                                   run=score_run)
        ValueAlert.objects.create(customer=customer, kind="slowing", episode_key=f"slowing:{tag}",
                                  reason="slower", created_on=score_run.as_of, run=score_run)
        return customer

    return _fill
