"""customer_history: who changed which field from what to what, for the customer,
its orders and its interactions; shown on the 360 page."""

import pytest
from django.utils import translation

from valuecrm.customers.history import customer_history
from valuecrm.customers.models import CustomFieldDefinition
from valuecrm.customers.services import customer_create, customer_update, interaction_create
from valuecrm.orders.services import order_create


@pytest.fixture(autouse=True)
def english():
    # Labels are translated; a request earlier in the same thread may have left Chinese active.
    with translation.override("en"):
        yield


@pytest.fixture
def vip_level(db):
    return CustomFieldDefinition.objects.create(
        key="vip_level", label="VIP level", label_zh="VIP 等级", field_type="number",
    )


@pytest.fixture
def customer(rep_north, vip_level):
    return customer_create(actor=rep_north, data={
        "name": "Zhang Wei", "phone": "13800138000", "gender": "male", "custom_fields": {"vip_level": 1},
    })


def _changes(entry):
    return [(c.field, c.before, c.after) for c in entry.changes]


def test_update_is_recorded_with_who_and_before_after(customer, manager_north, rep_north):
    customer_update(actor=manager_north, customer=customer, data={
        "name": "Zhang Wei (Shanghai)", "phone": "+86 139 0013 9000", "gender": "female",
        "owner_id": manager_north.pk, "consent_sms": True, "custom_fields": {"vip_level": 3},
    })

    entries = customer_history(customer=customer)

    assert [(e.who, e.subject, e.action) for e in entries] == [
        ("mgr_north", "Customer", "~"),
        ("rep_north", "Customer", "+"),
    ]
    assert _changes(entries[0]) == [
        ("name", "Zhang Wei", "Zhang Wei (Shanghai)"),
        ("phone", "+8613800138000", "+8613900139000"),
        ("gender", "Male", "Female"),
        ("owner", "rep_north", "mgr_north"),
        ("VIP level", "1", "3"),
        ("SMS consent", "No", "Yes"),
    ]
    assert entries[1].changes == []


def test_orders_and_interactions_are_included_newest_first(customer, rep_north):
    order, _ = order_create(actor=rep_north, data={
        "customer_id": customer.pk, "external_id": "SO-7", "total_amount": "99.50",
    })
    interaction_create(actor=rep_north, customer=customer, kind="meeting", subject="Kick-off")

    entries = customer_history(customer=customer)

    assert [(e.who, e.subject, e.action_label) for e in entries] == [
        ("rep_north", "Interaction: Meeting", "created"),
        ("rep_north", "Order SO-7", "created"),
        ("rep_north", "Customer", "created"),
    ]


def test_a_save_without_visible_change_is_not_listed(customer, rep_north):
    customer_update(actor=rep_north, customer=customer, data={"name": "Zhang Wei"})

    assert [e.action for e in customer_history(customer=customer)] == ["+"]


def test_labels_follow_the_active_language(customer, rep_north):
    customer_update(actor=rep_north, customer=customer, data={"custom_fields": {"vip_level": 2}})

    with translation.override("zh-hans"):
        entry = customer_history(customer=customer)[0]
        action = entry.action_label

    assert _changes(entry) == [("VIP 等级", "1", "2")]
    assert entry.subject == "客户"
    assert action == "修改了"


def test_other_customers_history_is_not_mixed_in(customer, rep_north):
    other = customer_create(actor=rep_north, data={"name": "Other"})
    customer_update(actor=rep_north, customer=other, data={"name": "Other 2"})

    assert [e.subject for e in customer_history(customer=customer)] == ["Customer"]


def test_history_tab_on_the_page_shows_before_and_after(client, customer, manager_north):
    customer_update(actor=manager_north, customer=customer, data={"city": "Hangzhou"})
    client.force_login(manager_north)

    html = client.get(f"/customers/{customer.pk}/").content.decode()

    assert (
        '<span class="fw-semibold">City:</span> <span class="vc-before">—</span> '
        '<span aria-hidden="true">→</span><span class="visually-hidden">changed to</span> '
        '<span class="vc-after">Hangzhou</span>'
    ) in html
    assert "<strong>mgr_north</strong>" in html
