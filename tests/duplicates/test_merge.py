import pytest
from django.apps import apps

from valuecrm.common.encryption import decrypt
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.models import ContactPoint, Customer
from valuecrm.duplicates.merge import (
    customer_merge,
    customer_merge_undo,
    customer_relations,
    row_snapshot,
)
from valuecrm.duplicates.models import CustomerMerge


def _clear(row: dict) -> dict:
    """A row snapshot with its encrypted values in clear (tokens differ on every write)."""
    return {**row, "fields": {k: decrypt(v) if isinstance(v, str) else v for k, v in row["fields"].items()}}


def _state(*ids):
    """Every row of every table pointing at these customers, plus the customers themselves."""
    state = {"customers": [_clear(row_snapshot(c)) for c in Customer.objects.filter(pk__in=ids).order_by("pk")]}
    for model, field in customer_relations():
        rows = model._base_manager.filter(**{f"{field.attname}__in": ids}).order_by("pk")
        state[f"{model._meta.label}.{field.attname}"] = [_clear(row_snapshot(r)) for r in rows]
    return state


def _counts(customer_id):
    return {f"{model._meta.label}.{field.attname}":
            model._base_manager.filter(**{field.attname: customer_id}).count()
            for model, field in customer_relations()}


@pytest.fixture
def pair(make_customer, fill_customer):
    survivor = make_customer(name="Acme Trading", kind="organization", email="sales@acme.example",
                             phone="13800138000", city="Shanghai", custom_fields={})
    merged = make_customer(name="ACME Trading Co", kind="organization", email="info@acme.example",
                           phone="13800138000", city="", region="Pudong", external_id="ERP-7",
                           source="erp")
    fill_customer(survivor, tag="acme", wechat="acme_wx", order_id="o-1")
    fill_customer(merged, tag="acme2", wechat="acme_cn", order_id="o-2")
    return Customer.objects.get(pk=survivor.pk), Customer.objects.get(pk=merged.pk)


def test_merge_moves_every_related_row_and_applies_choices(pair, admin_user):
    survivor, merged = pair
    before_s, before_m = _counts(survivor.pk), _counts(merged.pk)
    assert before_m["sales.Order.customer_id"] == 1
    assert before_m["customers.Customer.company_id"] == 1
    totals_before = {k: before_s[k] + before_m[k] for k in before_s}

    merge = customer_merge(actor=admin_user, survivor=survivor, merged=merged,
                           field_choices={"email": "merged", "name": "survivor"})

    assert not Customer.objects.filter(pk=merged.pk).exists()
    after = _counts(survivor.pk)
    assert _counts(merged.pk) == dict.fromkeys(after, 0)
    # Rows that would duplicate one the survivor has (same phone point, same tag, the
    # same run's score, the one current value row) are set aside; everything else moves.
    set_aside = {"customers.ContactPoint.customer_id": 1, "customers.Customer_tags.customer_id": 1,
                 "insights.CustomerScore.customer_id": 1, "insights.CustomerValue.customer_id": 1}
    assert after == {k: totals_before[k] - set_aside.get(k, 0) for k in totals_before}
    assert after["sales.Order.customer_id"] == 2
    assert after["customers.Interaction.customer_id"] == 2
    assert after["customers.Task.customer_id"] == 2
    assert after["customers.Note.customer_id"] == 2
    assert after["customers.Address.customer_id"] == 2
    assert after["customers.Customer.company_id"] == 2
    assert after["insights.StageChange.customer_id"] == 2
    assert after["insights.ValueAlert.customer_id"] == 2
    assert sorted(merge.snapshot["removed"][i]["model"] for i in range(4)) == [
        "customers.ContactPoint", "customers.Customer_tags", "insights.CustomerScore",
        "insights.CustomerValue"]

    survivor = Customer.objects.get(pk=survivor.pk)
    assert survivor.name == "Acme Trading"
    assert survivor.email == "info@acme.example"          # chosen from the merged record
    assert survivor.city == "Shanghai"                    # survivor's, merged was blank
    assert survivor.region == "Pudong"                    # survivor blank → merged's by default
    assert survivor.external_id == "ERP-7" and survivor.source == "erp"
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["acme", "acme2", "shared"]
    primaries = ContactPoint.objects.filter(customer=survivor, is_primary=True)
    assert sorted(primaries.values_list("kind", "value")) == [
        ("email", "info@acme.example"), ("phone", "+8613800138000")]
    assert ContactPoint.objects.filter(customer=survivor, kind="email").count() == 2

    assert merge.survivor_pk == survivor.pk and merge.merged_pk == merged.pk
    assert merge.performed_by == admin_user
    assert merge.field_choices["email"] == "merged"
    assert merge.field_choices["region"] == "merged"
    assert merge.field_choices["name"] == "survivor"


def test_undo_restores_both_customers_and_every_row_exactly(pair, admin_user):
    survivor, merged = pair
    before = _state(survivor.pk, merged.pk)

    merge = customer_merge(actor=admin_user, survivor=survivor, merged=merged,
                           field_choices={"email": "merged", "external_id": "merged", "source": "merged"})
    assert _state(survivor.pk, merged.pk) != before
    restored_s, restored_m = customer_merge_undo(actor=admin_user, merge=merge)

    assert _state(survivor.pk, merged.pk) == before
    assert restored_m.pk == merged.pk
    assert sorted(restored_m.tags.values_list("name", flat=True)) == ["acme2", "shared"]
    assert sorted(restored_s.tags.values_list("name", flat=True)) == ["acme", "shared"]
    merge.refresh_from_db()
    assert merge.undone_by == admin_user and merge.undone_at is not None
    with pytest.raises(Conflict):
        customer_merge_undo(actor=admin_user, merge=merge)


def test_undo_is_last_in_first_out_per_survivor(make_customer, admin_user):
    a = make_customer(name="A", phone="13500135000")
    b = make_customer(name="B", phone="13500135000")
    c = make_customer(name="C", phone="13500135000")
    first = customer_merge(actor=admin_user, survivor=a, merged=b)
    second = customer_merge(actor=admin_user, survivor=Customer.objects.get(pk=a.pk), merged=c)
    with pytest.raises(Conflict):
        customer_merge_undo(actor=admin_user, merge=first)
    customer_merge_undo(actor=admin_user, merge=second)
    customer_merge_undo(actor=admin_user, merge=first)
    assert Customer.objects.filter(pk__in=[a.pk, b.pk, c.pk]).count() == 3


def test_merge_refusals(make_customer, admin_user, rep_north, manager_north, rep_south):
    own_1 = make_customer(actor=rep_north, name="Own 1")
    own_2 = make_customer(actor=rep_north, name="Own 2")
    south = make_customer(actor=rep_south, name="South")
    with pytest.raises(PermissionDenied):
        customer_merge(actor=rep_north, survivor=own_1, merged=own_2)
    with pytest.raises(NotFound):
        customer_merge(actor=manager_north, survivor=own_1, merged=south)
    with pytest.raises(ValidationFailed) as err:
        customer_merge(actor=admin_user, survivor=own_1, merged=own_1)
    assert list(err.value.errors) == ["merged_id"]
    with pytest.raises(ValidationFailed) as err:
        customer_merge(actor=admin_user, survivor=own_1, merged=own_2,
                       field_choices={"password": "merged", "name": "theirs"})
    assert err.value.errors == {"field_choices.password": ["Unknown field."],
                                "field_choices.name": ["Choose “survivor” or “merged”."]}
    assert Customer.objects.filter(pk__in=[own_1.pk, own_2.pk, south.pk]).count() == 3
    assert CustomerMerge.objects.count() == 0
    # a manager may merge within the team
    merge = customer_merge(actor=manager_north, survivor=own_1, merged=own_2)
    assert merge.survivor_pk == own_1.pk


def test_relations_cover_every_table_pointing_at_customers():
    labels = {f"{m._meta.label}.{f.attname}" for m, f in customer_relations()}
    assert {"sales.Order.customer_id", "customers.ContactPoint.customer_id",
            "customers.Address.customer_id", "customers.Interaction.customer_id",
            "customers.Task.customer_id", "customers.Note.customer_id",
            "customers.Customer.company_id", "customers.Customer_tags.customer_id",
            "insights.CustomerScore.customer_id", "insights.CustomerValue.customer_id",
            "insights.StageChange.customer_id", "insights.ValueAlert.customer_id"} <= labels
    assert not any(label.startswith(("customers.HistoricalCustomer", "duplicates.")) for label in labels)
    assert apps.get_model("duplicates", "CustomerMerge")


def test_merge_and_undo_over_the_api(pair, admin_user, rep_north, api_client_for):
    survivor, merged = pair
    client = api_client_for(admin_user)
    denied = api_client_for(rep_north).post("/api/v1/merges", {"survivor_id": survivor.pk,
                                                                "merged_id": merged.pk},
                                            content_type="application/json")
    assert denied.status_code in (403, 404)
    assert Customer.objects.filter(pk=merged.pk).exists()

    response = client.post("/api/v1/merges", {"survivor_id": survivor.pk, "merged_id": merged.pk,
                                              "field_choices": {"email": "merged"}},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["survivor_id"] == survivor.pk and body["merged_id"] == merged.pk
    assert body["field_choices"]["email"] == "merged"

    bad = client.post("/api/v1/merges", {"survivor_id": survivor.pk, "merged_id": merged.pk},
                      content_type="application/json")
    assert bad.status_code == 404
    assert bad.json()["errors"] == {"merged_id": ["Unknown customer."]}

    undo = client.post(f"/api/v1/merges/{body['id']}/undo")
    assert undo.status_code == 200, undo.content
    assert undo.json()["merged"]["id"] == merged.pk
    assert undo.json()["merged"]["email"] == "info@acme.example"
    assert undo.json()["survivor"]["email"] == "sales@acme.example"
    again = client.post(f"/api/v1/merges/{body['id']}/undo")
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
