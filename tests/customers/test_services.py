"""Customer write services: permissions, validation before writing, history, contact points."""

from decimal import Decimal

import pytest

from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    Interaction,
    Note,
    Tag,
    Task,
)
from valuecrm.customers.services import (
    contact_point_add,
    contact_point_delete,
    customer_create,
    customer_delete,
    customer_update,
    customers_bulk_assign,
    customers_bulk_tag,
    interaction_create,
    note_create,
    task_complete,
    task_create,
    task_update,
)
from valuecrm.orders.services import order_create


@pytest.fixture
def north_customer(rep_north):
    return customer_create(actor=rep_north, data={"name": "Wang Fang", "phone": "13800138000"})


def test_create_normalises_contact_data_and_defaults_owner_and_team(rep_north, team_north):
    customer = customer_create(actor=rep_north, data={
        "name": "  Li Lei ", "email": " Li.Lei＠Example.COM ", "phone": "１３８ ００１３ ８０００",
        "tags": ["VIP", "vip", "Shanghai"], "acquisition_cost": "12.50",
    })

    customer.refresh_from_db()
    assert customer.name == "Li Lei"
    assert customer.email == "li.lei@example.com"
    assert customer.phone == "+8613800138000"
    assert customer.owner == rep_north
    assert customer.team == team_north
    assert customer.created_by == rep_north
    assert customer.acquisition_cost == Decimal("12.50")
    assert sorted(customer.tags.values_list("name", flat=True)) == ["Shanghai", "VIP"]
    points = set(customer.contact_points.values_list("kind", "value", "is_primary"))
    assert points == {("email", "li.lei@example.com", True), ("phone", "+8613800138000", True)}


def test_create_rejects_bad_input_per_field_and_writes_nothing(rep_north):
    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=rep_north, data={
            "name": "", "phone": "12345", "email": "not-an-email", "gender": "robot",
            "birthday": "1990-02-31", "tags": ["x" * 51],
        })

    assert set(exc.value.errors) == {"name", "phone", "email", "gender", "birthday", "tags"}
    assert exc.value.errors["phone"] == ["Enter a valid phone number."]
    assert Customer.objects.count() == 0
    assert Tag.objects.count() == 0
    assert ContactPoint.objects.count() == 0


def test_unknown_field_is_an_error(rep_north):
    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=rep_north, data={"name": "A", "password": "x"})
    assert exc.value.errors == {"password": ["Unknown field."]}


def test_rep_cannot_assign_another_owner(rep_north, manager_north):
    with pytest.raises(PermissionDenied):
        customer_create(actor=rep_north, data={"name": "A", "owner_id": manager_north.pk})
    assert Customer.objects.count() == 0


def test_manager_assigns_team_member_but_not_other_team(manager_north, rep_north, rep_south):
    customer = customer_create(actor=manager_north, data={"name": "A", "owner_id": rep_north.pk})
    assert customer.owner == rep_north

    with pytest.raises(PermissionDenied):
        customer_create(actor=manager_north, data={"name": "B", "owner_id": rep_south.pk})
    assert Customer.objects.count() == 1


def test_read_only_role_cannot_create(make_user, team_north):
    viewer = make_user("viewer", role="read_only", team=team_north)
    with pytest.raises(PermissionDenied):
        customer_create(actor=viewer, data={"name": "A"})


def test_company_must_be_a_visible_organisation(rep_north, rep_south):
    south_org = customer_create(actor=rep_south, data={"name": "South Co", "kind": "organization"})
    person = customer_create(actor=rep_north, data={"name": "Someone"})

    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=rep_north, data={"name": "A", "company_id": south_org.pk})
    assert exc.value.errors == {"company_id": ["Unknown company."]}
    with pytest.raises(ValidationFailed):
        customer_create(actor=rep_north, data={"name": "A", "company_id": person.pk})

    north_org = customer_create(actor=rep_north, data={"name": "North Co", "kind": "organization"})
    contact = customer_create(actor=rep_north, data={"name": "B", "company_id": north_org.pk})
    assert contact.company == north_org


def test_custom_fields_are_typed_required_and_keyed(rep_north):
    CustomFieldDefinition.objects.create(key="shoe_size", label="Shoe size", field_type="number")
    CustomFieldDefinition.objects.create(
        key="tier", label="Tier", field_type="choice", choices=["gold", "silver"], required=True
    )
    CustomFieldDefinition.objects.create(key="since", label="Since", field_type="date")
    CustomFieldDefinition.objects.create(key="vip", label="VIP", field_type="boolean")

    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=rep_north, data={
            "name": "A", "custom_fields": {"shoe_size": "big", "since": "yesterday", "x": 1},
        })
    assert exc.value.errors == {
        "custom_fields.shoe_size": ["Enter a number."],
        "custom_fields.since": ["Enter a date as YYYY-MM-DD."],
        "custom_fields.x": ["Unknown custom field."],
        "custom_fields.tier": ["This field is required."],
    }

    customer = customer_create(actor=rep_north, data={
        "name": "A", "custom_fields": {"shoe_size": "42", "tier": "gold", "since": "2024-05-01",
                                       "vip": "yes"},
    })
    assert customer.custom_fields == {"shoe_size": 42, "tier": "gold", "since": "2024-05-01",
                                      "vip": True}

    updated = customer_update(actor=rep_north, customer=customer,
                              data={"custom_fields": {"shoe_size": 42.5}})
    assert updated.custom_fields["shoe_size"] == 42.5
    assert updated.custom_fields["tier"] == "gold"


def test_update_records_who_changed_what(rep_north, north_customer):
    customer_update(actor=rep_north, customer=north_customer, data={"city": "Hangzhou"})

    latest = north_customer.history.latest()
    previous = latest.prev_record
    assert latest.history_user == rep_north
    assert latest.history_type == "~"
    delta = latest.diff_against(previous)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("city", "", "Hangzhou")]


def test_update_is_refused_for_invisible_customer_and_leaves_it_unchanged(rep_south, north_customer):
    with pytest.raises(NotFound):
        customer_update(actor=rep_south, customer=north_customer, data={"name": "Hacked"})
    north_customer.refresh_from_db()
    assert north_customer.name == "Wang Fang"


def test_invalid_update_writes_nothing(rep_north, north_customer):
    with pytest.raises(ValidationFailed) as exc:
        customer_update(actor=rep_north, customer=north_customer,
                        data={"city": "Suzhou", "phone": "not a phone", "tags": ["a"]})
    assert set(exc.value.errors) == {"phone"}
    north_customer.refresh_from_db()
    assert north_customer.city == ""
    assert north_customer.tags.count() == 0
    assert north_customer.history.count() == 1


def test_update_replaces_tags_and_moves_primary_phone(rep_north, north_customer):
    customer_update(actor=rep_north, customer=north_customer, data={"tags": ["a", "b"]})
    updated = customer_update(actor=rep_north, customer=north_customer,
                              data={"tags": ["b"], "phone": "+86 139 0013 9000"})

    assert list(updated.tags.values_list("name", flat=True)) == ["b"]
    assert updated.phone == "+8613900139000"
    assert set(updated.contact_points.values_list("value", "is_primary")) == {
        ("+8613800138000", False), ("+8613900139000", True),
    }


def test_owner_change_needs_a_manager(rep_north, manager_north, north_customer, make_user, team_north):
    colleague = make_user("colleague", team=team_north)
    with pytest.raises(PermissionDenied):
        customer_update(actor=rep_north, customer=north_customer, data={"owner_id": colleague.pk})

    updated = customer_update(actor=manager_north, customer=north_customer,
                              data={"owner_id": colleague.pk})
    assert updated.owner == colleague


def test_delete_needs_manager_and_no_orders(rep_north, manager_north, north_customer):
    with pytest.raises(PermissionDenied):
        customer_delete(actor=rep_north, customer=north_customer)

    order_create(actor=rep_north, data={"customer_id": north_customer.pk, "total_amount": "10"})
    with pytest.raises(Conflict):
        customer_delete(actor=manager_north, customer=north_customer)
    assert Customer.objects.filter(pk=north_customer.pk).exists()

    other = customer_create(actor=rep_north, data={"name": "Gone"})
    other_pk = other.pk
    customer_delete(actor=manager_north, customer=other)
    assert not Customer.objects.filter(pk=other_pk).exists()
    deleted = Customer.history.filter(id=other_pk, history_type="-").get()
    assert deleted.history_user == manager_north


def test_contact_points_add_primary_and_delete(rep_north, north_customer):
    email = contact_point_add(actor=rep_north, customer=north_customer, kind="email",
                              value="A@B.CN", label="work")
    north_customer.refresh_from_db()
    assert (email.value, email.is_primary) == ("a@b.cn", True)
    assert north_customer.email == "a@b.cn"

    with pytest.raises(Conflict):
        contact_point_add(actor=rep_north, customer=north_customer, kind="email", value="a@b.cn")
    with pytest.raises(ValidationFailed) as exc:
        contact_point_add(actor=rep_north, customer=north_customer, kind="phone", value="nope")
    assert list(exc.value.errors) == ["value"]

    contact_point_delete(actor=rep_north, contact_point=email)
    north_customer.refresh_from_db()
    assert north_customer.email == ""
    assert not ContactPoint.objects.filter(kind="email").exists()


def test_notes_and_interactions(rep_north, rep_south, north_customer):
    note = note_create(actor=rep_north, customer=north_customer, body=" Called back ")
    assert (note.body, note.author) == ("Called back", rep_north)
    with pytest.raises(ValidationFailed):
        note_create(actor=rep_north, customer=north_customer, body="  ")
    with pytest.raises(NotFound):
        note_create(actor=rep_south, customer=north_customer, body="x")
    assert Note.objects.count() == 1

    call = interaction_create(actor=rep_north, customer=north_customer, kind="call",
                              occurred_at="2024-03-01T10:00:00", subject="Intro")
    assert call.occurred_at.isoformat() == "2024-03-01T10:00:00+08:00"
    with pytest.raises(ValidationFailed) as exc:
        interaction_create(actor=rep_north, customer=north_customer, kind="telepathy")
    assert list(exc.value.errors) == ["kind"]
    assert Interaction.objects.count() == 1


def test_tasks_default_assignee_and_who_may_complete(rep_north, rep_south, manager_north,
                                                     north_customer):
    task = task_create(actor=rep_north, title="Follow up", customer=north_customer,
                       due_at="2030-01-01T09:00")
    assert task.assignee == rep_north

    with pytest.raises(PermissionDenied):
        task_complete(actor=rep_south, task=task)
    with pytest.raises(PermissionDenied):
        task_create(actor=rep_north, title="For you", assignee=rep_south)

    done = task_complete(actor=manager_north, task=task)
    assert done.done is True and done.done_at is not None

    reopened = task_update(actor=rep_north, task=done, data={"done": False, "title": "Again"})
    assert (reopened.done, reopened.done_at, reopened.title) == (False, None, "Again")
    assert Task.objects.count() == 1


def test_bulk_tag_only_touches_visible_customers(rep_north, rep_south, north_customer):
    south = customer_create(actor=rep_south, data={"name": "South"})
    changed = customers_bulk_tag(actor=rep_north, customer_ids=[north_customer.pk, south.pk],
                                 tag_names=["hot"])
    assert changed == 1
    assert south.tags.count() == 0
    assert customers_bulk_tag(actor=rep_north, customer_ids=[north_customer.pk],
                              tag_names=["hot"]) == 0


def test_bulk_assign_is_for_managers(rep_north, manager_north, north_customer, make_user, team_north):
    colleague = make_user("colleague", team=team_north)
    with pytest.raises(PermissionDenied):
        customers_bulk_assign(actor=rep_north, customer_ids=[north_customer.pk], owner=colleague)

    assert customers_bulk_assign(actor=manager_north, customer_ids=[north_customer.pk],
                                 owner=colleague) == 1
    north_customer.refresh_from_db()
    assert north_customer.owner == colleague
    assert north_customer.history.latest().history_user == manager_north
