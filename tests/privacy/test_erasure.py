"""Erasure: no trace of the person in any table, orders kept and still scored, a proof, permissions."""

import datetime as dt
import json

import pytest
from django.db import connection

from valuecrm.common.encryption import blind_index
from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.insights.models import CustomerValue
from valuecrm.insights.services import score_now
from valuecrm.orders.models import Order, OrderLine
from valuecrm.privacy.erasure import customer_erase
from valuecrm.privacy.models import Erasure
from valuecrm.privacy.selectors import can_contact, consent_cache_mismatches

from .conftest import ADDRESS, AS_OF, EMAIL, NAME, OLD_EMAIL, PHONE, WECHAT

NEEDLES = [EMAIL, OLD_EMAIL, PHONE, PHONE[3:], NAME, WECHAT, ADDRESS, "wf.twin.record@example.cn",
           "+8613900001111"]


def rows_holding(needles) -> dict[str, int]:
    """Every table, every column, as the database stores it: where does any needle occur?"""
    found: dict[str, int] = {}
    forms = set()
    for needle in needles:
        forms |= {needle, json.dumps(needle)[1:-1]}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")
            for row in cursor.fetchall():
                text = " ".join(str(v) for v in row if v is not None)
                if any(form in text for form in forms):
                    found[table] = found.get(table, 0) + 1
    return found


def rows_holding_in_clear(needles) -> dict[str, int]:
    """The encrypted copies (JSON columns, webhook bodies) as a reader sees them: the raw
    bytes hold only tokens for the personal values, so read them through the ORM."""
    from django.apps import apps

    from valuecrm.common.encryption import EncryptedJSONField, EncryptedLongTextField

    found: dict[str, int] = {}
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields
                  if isinstance(f, EncryptedJSONField | EncryptedLongTextField)]
        for values in model._base_manager.values_list(*fields) if fields else ():
            text = json.dumps(values, ensure_ascii=False, default=str)
            if any(needle in text for needle in needles):
                found[model._meta.db_table] = found.get(model._meta.db_table, 0) + 1
    return found


def test_before_erasure_the_person_is_everywhere(person):
    found = {**rows_holding(NEEDLES), **rows_holding_in_clear(NEEDLES)}
    # customers_contactpoint and customers_address hold only ciphertext and keyed hashes of
    # the identifiers (encryption at rest).
    for table in ("customers_customer", "customers_historicalcustomer", "customers_note", "customers_interaction", "customers_task",
                  "imports_importrowerror", "imports_importchange", "imports_importrun",
                  "integrations_webhookdelivery", "integrations_customermerge",
                  "integrations_duplicatecandidate", "django_admin_log"):
        assert table in found, table


def test_erasure_leaves_no_personal_data_in_any_table(person, admin_user):
    proof = customer_erase(actor=admin_user, customer=person)
    assert rows_holding(NEEDLES) == {}
    assert rows_holding_in_clear(NEEDLES) == {}
    # the other customer of the duplicate pair keeps their own record
    assert Customer.objects.get(pk=person.other.pk).email == "someone.else@example.cn"
    assert proof.tables["customers_historicalcustomer"] >= 3  # create, update, the merged twin
    assert proof.tables["integrations_duplicatecandidate"] == 1
    assert proof.tables["integrations_webhookdelivery"] == 1
    assert proof.tables["django_admin_log"] == 1


def test_erased_record_keeps_orders_as_anonymous_facts(person, admin_user):
    customer_erase(actor=admin_user, customer=person)
    row = Customer.objects.get(pk=person.pk)
    assert row.name == f"[erased] #{person.pk}"
    assert (row.email, row.phone, row.city, row.occupation, row.birthday) == ("", "", "", "", None)
    assert not row.contact_points.exists() and not row.addresses.exists()
    assert Order.objects.filter(customer=person).count() == 4
    assert OrderLine.objects.filter(order__customer=person).count() == 4


def test_erased_person_is_still_scored(person, admin_user, background):
    customer_erase(actor=admin_user, customer=person)
    score_now(as_of=AS_OF)
    value = CustomerValue.objects.get(customer=person)
    assert value.n_orders == 4
    assert value.historical_revenue == 1280


def test_proof_holds_no_personal_data_and_counts_what_was_kept(person, admin_user):
    proof = customer_erase(actor=admin_user, customer=person)
    stored = json.dumps({"tables": proof.tables, "kept": proof.kept, "reason": proof.reason})
    assert not any(n in stored for n in NEEDLES)
    assert proof.actor == admin_user and proof.customer_ref == person.pk
    assert proof.kept["sales_order"] == 4 and proof.orders_kept == 4
    assert proof.rows_touched == sum(proof.tables.values()) > 10


def test_erasure_is_idempotent(person, admin_user):
    first = customer_erase(actor=admin_user, customer=person)
    second = customer_erase(actor=admin_user, customer=Customer.objects.get(pk=person.pk))
    assert second.pk == first.pk
    assert Erasure.objects.count() == 1


def test_erasure_withdraws_consent_and_blocks_contact(person, admin_user):
    assert can_contact(person, "email")
    customer_erase(actor=admin_user, customer=person)
    assert not can_contact(person, "email")
    assert not can_contact(person, "sms")
    assert consent_cache_mismatches([person.pk]) == []
    assert Customer.objects.get(pk=person.pk).consent_email is False


def test_only_admins_erase(person, rep_north, manager_north):
    for user in (rep_north, manager_north):
        with pytest.raises(PermissionDenied):
            customer_erase(actor=user, customer=person)
    assert Customer.objects.get(pk=person.pk).email == EMAIL
    assert not Erasure.objects.exists()


def test_unknown_reason_is_refused_before_anything_changes(person, admin_user):
    with pytest.raises(ValidationFailed) as exc:
        customer_erase(actor=admin_user, customer=person, reason="because")
    assert "reason" in exc.value.errors
    assert Customer.objects.get(pk=person.pk).email == EMAIL


def test_plain_delete_leaves_no_email_or_phone_in_history(db, rep_north, manager_north):
    from valuecrm.customers import services as cs

    customer = cs.customer_create(actor=rep_north, data={"name": "Short Lived", "email": "short.lived@example.cn",
                                                         "phone": "+8613811112222"})
    cs.customer_update(actor=rep_north, customer=customer, data={"city": "北京"})
    customer_id = customer.pk
    cs.customer_delete(actor=manager_north, customer=customer)
    found = rows_holding(["short.lived@example.cn", "+8613811112222"])
    assert found == {}
    assert Customer.history.filter(id=customer_id).count() == 3  # the history itself stays


def test_erasure_happens_in_one_transaction(person, admin_user, monkeypatch):
    from valuecrm.privacy import erasure

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "_kept", boom)
    with pytest.raises(RuntimeError):
        customer_erase(actor=admin_user, customer=person)
    assert Customer.objects.get(pk=person.pk).email == EMAIL
    assert Customer.history.filter(id=person.pk, email_bidx=blind_index("email", EMAIL)).exists()


def test_order_dates_and_amounts_unchanged(person, admin_user):
    before = list(Order.objects.filter(customer=person).values_list("placed_at", "total_amount", "status"))
    customer_erase(actor=admin_user, customer=person)
    after = list(Order.objects.filter(customer=person).values_list("placed_at", "total_amount", "status"))
    assert before == after
    assert dt.date(2025, 5, 21) in {p.date() for p, _a, _s in after}


def test_uploaded_import_files_holding_the_person_are_removed(person, admin_user, tmp_path,
                                                            django_capture_on_commit_callbacks):
    from valuecrm.imports.models import ImportRun

    mine = tmp_path / "people.csv"
    mine.write_bytes(f"name,email\n{NAME},{EMAIL}\n".encode("gbk"))
    other = tmp_path / "others.csv"
    other.write_text("name,email\nZhang San,zhang.san@example.cn\n", encoding="utf-8")
    run = ImportRun.objects.create(kind="customers", status="succeeded", file_path=str(mine), original_name="p.csv")
    kept = ImportRun.objects.create(kind="customers", status="succeeded", file_path=str(other), original_name="o.csv")
    with django_capture_on_commit_callbacks(execute=True):
        proof = customer_erase(actor=admin_user, customer=person)
    assert not mine.exists() and other.exists()
    run.refresh_from_db()
    kept.refresh_from_db()
    assert run.file_removed_at is not None and kept.file_removed_at is None
    assert proof.tables["import upload files"] == 1
