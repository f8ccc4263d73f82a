"""A person with data in every corner of the CRM, and a small shop to score."""

import datetime as dt
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.conf import settings

AS_OF = dt.date(2025, 6, 30)
EMAIL = "wang.fang.privacy@example.cn"
OLD_EMAIL = "fang.old.address@example.cn"
PHONE = "+8613912345678"
NAME = "王芳测试人"
WECHAT = "wangfang_wx_7781"
ADDRESS = "上海市徐汇区漕溪北路88号"


def local_noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


@pytest.fixture
def add_orders(db):
    from valuecrm.orders.models import Order, OrderLine

    counter = {"n": 0}

    def _add(customer, days, amount="100.00"):
        orders = []
        for day in days:
            counter["n"] += 1
            orders.append(Order(customer=customer, external_id=f"p{counter['n']}", placed_at=local_noon(day),
                                total_amount=Decimal(str(amount)), total_cost=Decimal("0"), status="paid"))
        orders = Order.objects.bulk_create(orders)
        OrderLine.objects.bulk_create([OrderLine(order=o, sku="SKU-1", name="Tea", quantity=1,
                                                 unit_price=Decimal(str(amount))) for o in orders])
        return orders

    return _add


@pytest.fixture
def background(db, add_orders):
    """40 buyers with varied rhythms, so a scoring run can fit its models."""
    from valuecrm.customers.models import Customer

    for i in range(40):
        c = Customer.objects.create(name=f"bg{i}")
        days = [AS_OF - dt.timedelta(days=d) for d in range(420 - 5 * i, (i * 13) % 120 - 1, -(9 + 3 * i))]
        add_orders(c, days, amount=50 + 10 * i)


@pytest.fixture
def person(db, admin_user, rep_north, add_orders, django_capture_on_commit_callbacks):
    """A customer created and edited through the services, with a timeline, orders,
    consent and copies of their data in imports, merges, duplicates and webhooks."""
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from valuecrm.customers import services as cs
    from valuecrm.customers.models import Address, Customer
    from valuecrm.duplicates.models import CustomerMerge, DuplicateCandidate
    from valuecrm.imports.models import ImportChange, ImportRowError, ImportRun
    from valuecrm.webhooks.models import WebhookDelivery, WebhookEndpoint

    # The events' after-commit work (the ledger following the consent booleans) runs as in production.
    with django_capture_on_commit_callbacks(execute=True):
        customer = cs.customer_create(actor=rep_north, data={
            "name": NAME, "email": OLD_EMAIL, "phone": PHONE, "city": "上海", "occupation": "教师",
            "birthday": dt.date(1990, 5, 1), "consent_email": True,
        })
    with django_capture_on_commit_callbacks(execute=True):
        customer = cs.customer_update(actor=rep_north, customer=customer,
                                      data={"email": EMAIL, "consent_sms": True})
    cs.contact_point_add(actor=rep_north, customer=customer, kind="wechat", value=WECHAT)
    Address.objects.create(customer=customer, line1=ADDRESS, city="上海")
    cs.note_create(actor=rep_north, customer=customer, body=f"Prefers calls on {PHONE[3:]} after 6pm")
    cs.interaction_create(actor=rep_north, customer=customer, kind="email", subject=f"Re: order for {NAME}",
                          body=f"Sent to {EMAIL}")
    cs.task_create(actor=rep_north, title=f"Call {NAME} back", customer=customer)
    add_orders(customer, [AS_OF - dt.timedelta(days=d) for d in (300, 200, 120, 40)], amount="320.00")

    # A second record of the same person, merged away into this one (its history stays).
    twin = Customer.objects.create(name=NAME, email="wf.twin.record@example.cn", phone="+8613900001111")
    twin_history_id = twin.pk
    CustomerMerge.objects.create(survivor_pk=customer.pk, merged_pk=twin.pk, survivor_name=NAME,
                                 merged_name=NAME, snapshot={"merged": {"name": NAME, "email": "wf.twin.record@example.cn"}})
    twin.delete()
    other = Customer.objects.create(name="Someone Else", email="someone.else@example.cn")
    DuplicateCandidate.objects.create(customer_a=customer, customer_b=other, score=80, matched_on=["name"],
                                      evidence={"reasons": [{"code": "same_phone", "detail": PHONE}]})
    run = ImportRun.objects.create(kind="customers", status="succeeded", file_path="/nonexistent/x.csv",
                                   original_name="x.csv", review=[{"name": NAME, "email": EMAIL}])
    ImportRowError.objects.create(run=run, row_number=7, reason="bad birthday", values=[NAME, EMAIL, PHONE])
    ImportChange.objects.create(run=run, model="customer", object_id=customer.pk,
                                before={"name": NAME, "email": OLD_EMAIL, "phone": PHONE})
    endpoint = WebhookEndpoint.objects.create(name="shop", url="https://hooks.example.invalid/x", event_types=[])
    WebhookDelivery.objects.create(endpoint=endpoint, event="customer.updated", event_id="e1",
                                   body=json.dumps({"data": {"name": NAME, "email": EMAIL}}, ensure_ascii=False))
    LogEntry.objects.create(user=admin_user, content_type=ContentType.objects.get_for_model(Customer),
                            object_id=str(customer.pk), object_repr=NAME, action_flag=ADDITION)
    customer.twin_id = twin_history_id
    customer.other = other
    return customer
