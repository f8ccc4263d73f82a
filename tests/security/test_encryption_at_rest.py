"""Personal data encrypted at rest (issue 11 item 2; common/encryption.py).

After an import the raw database — the SQLite file image, or every PostgreSQL table's
rows read back as text with a raw SELECT — holds none of the file's phones, e-mails or
address lines, and each customer is still found by phone (whole number, prefix, last
digits), by e-mail, on an import upsert and by duplicate detection.
"""

import csv
import io
import json

import pytest
from django.db import connection

from valuecrm.common import encryption
from valuecrm.common.encryption import EncryptedLookupError, decrypt
from valuecrm.customers import services
from valuecrm.customers.models import Address, ContactPoint, Customer, CustomerSearchToken
from valuecrm.customers.selectors import (
    customer_queryset,
    customers_with_email,
    customers_with_phone,
)
from valuecrm.imports import dedupe

ROWS = 12


def _people():
    # Mobile numbers that share no 7-digit prefix with each other, and distinct tails.
    return [{
        "name": f"测试客户{i:02d}",
        "email": f"person.{i:02d}@secret-mail.example",
        "phone": f"+86139{i:02d}{(i * 7919) % 1000000:06d}",
        "national": f"139{i:02d}{(i * 7919) % 1000000:06d}",
    } for i in range(ROWS)]


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return tmp_path


@pytest.fixture
def run_import(admin_user, data_dir):
    from huey.contrib.djhuey import HUEY

    from valuecrm.imports import services as imports

    def _run(rows, **options):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        run = imports.import_upload(actor=admin_user, kind="customers", name="people.csv",
                                    chunks=[buffer.getvalue().encode()])
        run = imports.import_configure(actor=admin_user, run=run, mapping=None, options=options)
        return imports.import_run_now(actor=admin_user, run=run)

    before = HUEY.immediate
    HUEY.immediate = True
    yield _run
    HUEY.immediate = before


def raw_database_bytes() -> bytes:
    """What a thief of the disk (or of a database dump) reads: the SQLite file image, or
    on PostgreSQL every row of every table as text."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.serialize()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        chunks = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            chunks += [row[0].encode() for row in cursor.fetchall()]
    return b"\n".join(chunks)


def _needles(person) -> list[bytes]:
    return [person["email"].encode(), person["phone"].encode(), person["national"].encode()]


def _search(user, text) -> set[int]:
    return set(customer_queryset(user=user, search=text).values_list("pk", flat=True))


@pytest.mark.django_db
def test_imported_personal_data_is_not_in_the_raw_database_and_is_found_again(admin_user, run_import):
    people = _people()
    run = run_import([["name", "email", "phone"],
                      *[[p["name"], p["email"], p["national"]] for p in people]], key="email")
    assert (run.created_count, run.failed_count) == (ROWS, 0)
    ids = {p["email"]: Customer.objects.get(name=p["name"]).pk for p in people}
    customer = Customer.objects.get(pk=ids[people[0]["email"]])
    # A history row and an address too, through the ORM paths.
    services.customer_update(actor=admin_user, customer=customer, data={"email": "changed.00@secret-mail.example"})
    Address.objects.create(customer=customer, line1="上海市静安区秘密路88号", line2="12楼", postal_code="200041")
    assert Customer.history.filter(id=customer.pk).count() >= 1

    raw = raw_database_bytes()
    assert b"secret-mail" not in raw
    for person in people:
        for needle in _needles(person):
            assert needle not in raw, needle
    for needle in ("上海市静安区秘密路88号", "200041", "changed.00"):
        assert needle.encode() not in raw
    assert b"ev1:k1:" in raw  # the values are there, as tokens

    # Reading stays transparent; found again by every search the list offers.
    services.customer_update(actor=admin_user, customer=Customer.objects.get(pk=customer.pk),
                             data={"email": people[0]["email"]})
    for person in people:
        pk = ids[person["email"]]
        stored = Customer.objects.get(pk=pk)
        assert (stored.email, stored.phone) == (person["email"], person["phone"])
        assert _search(admin_user, person["national"]) == {pk}  # whole number
        assert _search(admin_user, person["phone"]) == {pk}  # E.164 as typed
        assert _search(admin_user, person["national"][:7]) == {pk}  # a prefix
        assert pk in _search(admin_user, person["national"][-4:])  # last digits
        assert _search(admin_user, person["email"]) == {pk}  # the e-mail
        assert _search(admin_user, person["email"].upper()) == {pk}
        assert list(customers_with_email(person["email"]).values_list("pk", flat=True)) == [pk]
        assert list(customers_with_phone(person["national"]).values_list("pk", flat=True)) == [pk]
    assert _search(admin_user, "secret-mail.example") == set(ids.values())  # the domain
    assert _search(admin_user, "person.03") == {ids[people[3]["email"]]}  # the local part
    assert _search(admin_user, "13999") == set()

    # Import upsert: the same e-mail is the same customer.
    again = run_import([["name", "email", "phone"],
                        *[[p["name"] + " new", p["email"], p["national"]] for p in people]], key="email")
    assert (again.created_count, again.updated_count, again.failed_count) == (0, ROWS, 0)
    assert Customer.objects.count() == ROWS
    assert Customer.objects.get(pk=ids[people[5]["email"]]).name == people[5]["name"] + " new"

    # Duplicate detection: a new row with a known phone (other e-mail) is a candidate.
    found = dedupe.find_candidates([{"name": people[2]["name"], "email": "other@example.com",
                                     "phone": people[2]["phone"], "city": ""}], skip_field="email")
    assert [(c.existing.id, c.reason, c.existing.phone) for c in found[0]] == [
        (ids[people[2]["email"]], "phone", people[2]["phone"])]


@pytest.mark.django_db
def test_duplicate_scan_and_references_by_phone_work_through_the_blind_index(admin_user):
    from valuecrm.duplicates.duplicates import duplicate_scan
    from valuecrm.duplicates.models import DuplicateCandidate

    a = services.customer_create(actor=admin_user, data={"name": "李雷", "email": "li.lei@example.cn"})
    b = services.customer_create(actor=admin_user, data={"name": "李雷", "phone": "13800138000"})
    services.contact_point_add(actor=admin_user, customer=b, kind="email", value="li.lei@example.cn")
    duplicate_scan()
    assert list(DuplicateCandidate.objects.values_list("customer_a", "customer_b")) == [(a.pk, b.pk)]
    assert ContactPoint.objects.filter(customer=b, kind="email").get().value == "li.lei@example.cn"


@pytest.mark.django_db
def test_filtering_an_encrypted_field_by_value_fails_loudly():
    with pytest.raises(EncryptedLookupError, match="email is encrypted"):
        list(Customer.objects.filter(email="li.lei@example.cn"))
    with pytest.raises(EncryptedLookupError, match="phone is encrypted"):
        list(Customer.objects.filter(phone__startswith="+86"))
    with pytest.raises(EncryptedLookupError, match="birthday is encrypted"):
        list(Customer.objects.filter(birthday__month=3))
    assert list(Customer.objects.filter(email="")) == []  # "has no e-mail" still works


@pytest.mark.django_db
def test_erasure_blanks_the_ciphertext_indexes_and_tokens(admin_user):
    from valuecrm.privacy.erasure import customer_erase

    customer = services.customer_create(actor=admin_user, data={
        "name": "Han Meimei", "email": "han@example.cn", "phone": "13900139000", "birthday": "1990-05-04"})
    assert CustomerSearchToken.objects.filter(customer=customer).count() == 2 + 10 + 6
    customer_erase(actor=admin_user, customer=customer)
    row = Customer.objects.filter(pk=customer.pk).values(
        "email", "phone", "birthday", "email_bidx", "phone_bidx", "birthday_bidx").get()
    assert row == {"email": "", "phone": "", "birthday": None, "email_bidx": "", "phone_bidx": "",
                   "birthday_bidx": ""}
    assert not CustomerSearchToken.objects.filter(customer=customer).exists()
    assert not Customer.history.filter(id=customer.pk).exclude(email_bidx="").exists()


@pytest.mark.django_db
def test_data_key_rotation_re_encrypts_every_row_and_retires_the_old_key(admin_user, data_dir, settings):
    from valuecrm.commands.keys import rotate_data_key, rotate_index_key

    encryption.save(encryption.ring(), settings.DATA_DIR)
    customer = services.customer_create(actor=admin_user, data={
        "name": "Wang Fang", "email": "wang.fang@example.cn", "phone": "13700137000", "birthday": "1988-02-29"})
    old_ring = encryption.ring()
    try:
        rotated = rotate_data_key(settings.DATA_DIR, echo=lambda _line: None)
        assert rotated >= 3  # the customer, its history row, its contact points
        ring = encryption.ring()
        assert ring.primary == "k2" and list(ring.data_keys) == ["k2"]
        assert encryption.KeyRing.from_json(encryption.key_file(settings.DATA_DIR).read_text()).primary == "k2"
        with connection.cursor() as cursor:
            cursor.execute("SELECT email, phone, birthday FROM customers_customer WHERE id = %s", [customer.pk])
            stored = cursor.fetchone()
        assert {encryption.key_id_of(v) for v in stored} == {"k2"}
        assert [decrypt(v) for v in stored] == ["wang.fang@example.cn", "+8613700137000", "1988-02-29"]

        rotate_index_key(settings.DATA_DIR, echo=lambda _line: None)
        assert encryption.ring().index_key != old_ring.index_key
        assert _search(admin_user, "137001") == {customer.pk}
        assert _search(admin_user, "wang.fang@example.cn") == {customer.pk}
        assert list(customers_with_phone("13700137000").values_list("pk", flat=True)) == [customer.pk]
    finally:
        encryption.set_ring(None)


@pytest.mark.django_db
def test_birthday_schedules_find_the_day_without_the_date_in_clear(admin_user):
    import datetime as dt

    from valuecrm.automation.schedules import _anniversary_q

    leap = services.customer_create(actor=admin_user, data={"name": "Leap", "birthday": "1992-02-29"})
    may = services.customer_create(actor=admin_user, data={"name": "May", "birthday": "1985-05-04"})
    ids = lambda day: set(Customer.objects.filter(_anniversary_q(day)).values_list("pk", flat=True))  # noqa: E731
    assert ids(dt.date(2026, 5, 4)) == {may.pk}
    assert ids(dt.date(2027, 2, 28)) == {leap.pk}  # no 29 February in 2027
    assert ids(dt.date(2028, 2, 28)) == set()
    assert ids(dt.date(2026, 5, 5)) == set()


# ---------------------------------------------------------------- JSON copies of personal data

def test_the_personal_keys_are_the_fields_customers_and_addresses_encrypt():
    from valuecrm.common.encryption import PERSONAL_KEYS, encrypted_fields

    assert sorted(PERSONAL_KEYS) == sorted(f.name for m in (Customer, Address) for f in encrypted_fields(m))


def test_json_field_helpers_are_idempotent_tolerant_and_exact():
    from valuecrm.common.encryption import decrypt_json_fields, encrypt_json_fields

    doc = {"email": "a@b.cn", "phone": None, "name": "王芳",
           "rows": [{"phone": "13800138000"}, {"phone": ""}, {"other": 1}],
           "points": [["phone", "13900139000"]], "cells": [13700137000, 1.5, True, None]}
    paths = ["email", "phone", "rows.*.phone", "points.*.1", "cells.*", "missing.*.x"]
    sealed = encrypt_json_fields(doc, paths)
    assert doc["email"] == "a@b.cn" and doc["rows"][0]["phone"] == "13800138000"  # not mutated
    assert [encryption.key_id_of(v) for v in (sealed["email"], sealed["rows"][0]["phone"],
                                              sealed["points"][0][1], sealed["cells"][0], sealed["cells"][1])] \
        == ["k1"] * 5
    assert (sealed["phone"], sealed["name"], sealed["rows"][1:], sealed["points"][0][0],
            sealed["cells"][2:]) == (None, "王芳", [{"phone": ""}, {"other": 1}], "phone", [True, None])
    assert encrypt_json_fields(sealed, paths) == sealed  # tokens are left as they are
    assert decrypt_json_fields(sealed, paths) == {**doc, "cells": ["13700137000", "1.5", True, None]}
    assert encrypt_json_fields(None, paths) is None and decrypt_json_fields(None, paths) is None
    # A text that only looks like a token is encrypted, and reads back as written.
    lookalike = {"email": "ev1:k1:not-a-token"}
    assert decrypt_json_fields(encrypt_json_fields(lookalike, ["email"]), ["email"]) == lookalike


def test_an_event_payload_with_a_personal_key_is_stored_encrypted():
    from valuecrm.common.encryption import PERSONAL_KEYS, decrypt_json_fields
    from valuecrm.common.events.outbox import _sealed

    plain = {"customer_id": 3, "changed_fields": ("email",)}
    assert _sealed(plain) is plain  # the usual case: ids only, untouched
    payload = {"customer_id": 3, "email": "x@y.cn", "phone": "+8613800138000"}
    sealed = _sealed(payload)
    assert encryption.key_id_of(sealed["email"]) == "k1" and sealed["customer_id"] == 3
    assert decrypt_json_fields(sealed, PERSONAL_KEYS) == payload


def _raw_json_column(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT CAST("{column}" AS TEXT) FROM "{table}" ORDER BY 1')
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_import_review_errors_changes_duplicates_merges_events_and_webhooks_hold_no_clear_copies(
        admin_user, run_import, client, monkeypatch):
    from valuecrm.duplicates.duplicates import duplicate_scan
    from valuecrm.duplicates.merge import customer_merge, customer_merge_undo
    from valuecrm.duplicates.models import CustomerMerge, DuplicateCandidate
    from valuecrm.imports import services as imports
    from valuecrm.imports.models import ImportChange, ImportRowError
    from valuecrm.webhooks import webhooks
    from valuecrm.webhooks.models import WebhookDelivery
    from valuecrm.webhooks.subscribers import _customer_data

    people = _people()
    old, dup, bad, new = people[0], people[1], people[2], people[3]
    existing = services.customer_create(actor=admin_user, data={"name": "老客户", "email": old["email"],
                                                                "phone": "13600136000"})
    twin = services.customer_create(actor=admin_user, data={"name": dup["name"], "email": dup["email"],
                                                            "phone": dup["national"]})
    endpoint = webhooks.endpoint_create(actor=admin_user, data={
        "name": "shop", "url": "https://hooks.example/in", "event_types": ["customer.updated"]})
    # The file: an update of `existing` (new phone), a row that fails (bad e-mail), a new
    # customer with the twin's phone under another e-mail (a duplicate to review), a new one.
    run = run_import([["name", "email", "phone"],
                      ["老客户", old["email"], old["national"]],
                      [bad["name"], "not-an-email", bad["national"]],
                      [dup["name"], "twin.other@secret-mail.example", dup["national"]],
                      [new["name"], new["email"], new["national"]]], key="email", mode="partial")
    assert (run.updated_count, run.failed_count) == (1, 1)
    run.refresh_from_db()
    assert [(r["phone"], r["match_email"], r["match_phone"]) for r in run.review] == [
        (dup["phone"], dup["email"], dup["phone"])]
    error = ImportRowError.objects.get(run=run)
    assert error.values == [bad["name"], "not-an-email", bad["national"]]
    change = ImportChange.objects.get(run=run)
    assert change.before == {"phone": "+8613600136000", "_added_contact_points": [["phone", old["phone"]]]}

    # Duplicates and a merge (the twin and the customer created from the duplicate row).
    other = services.customer_create(actor=admin_user, data={"name": dup["name"], "phone": dup["national"]})
    services.contact_point_add(actor=admin_user, customer=other, kind="email", value=dup["email"])
    duplicate_scan()
    pair = DuplicateCandidate.objects.get(customer_a=twin, customer_b=other)
    assert any(r["detail"] == dup["phone"] for r in pair.evidence["reasons"])
    before_merge = {c.pk: (c.email, c.phone, sorted(c.contact_points.values_list("kind", "value")))
                    for c in (Customer.objects.get(pk=twin.pk), other)}
    merge = customer_merge(actor=admin_user, survivor=twin, merged=other, field_choices={"email": "merged"})

    # An emitted event and a webhook delivery with the customer in it.
    webhooks.event_publish("customer.updated", {"customer": _customer_data(existing.pk)}, event_id="e1")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert json.loads(delivery.body)["data"]["customer"]["email"] == old["email"]

    raw = raw_database_bytes()
    assert b"secret-mail" not in raw
    for person in people[:4]:
        for needle in _needles(person):
            assert needle not in raw, needle
    assert b"13600136000" not in raw
    for table, column in (("imports_importrun", "review"), ("imports_importrowerror", "values"),
                          ("imports_importchange", "before"), ("integrations_duplicatecandidate", "evidence"),
                          ("integrations_customermerge", "snapshot"), ("integrations_webhookdelivery", "body")):
        assert all("ev1:k1:" in text for text in _raw_json_column(table, column)), table

    # Webhooks get the plain body, signed over exactly those bytes.
    sent = {}

    class Response:
        status = 200

        def read(self, _n):
            return b"ok"

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(request, timeout):
        sent.update(body=request.data, headers=dict(request.header_items()))
        return Response()

    monkeypatch.setattr(webhooks.urllib.request, "urlopen", urlopen)
    assert webhooks.delivery_attempt(delivery.pk).status == "delivered"
    assert sent["body"] == delivery.body.encode()
    stamp = int(sent["headers"]["X-valuecrm-timestamp"])
    assert sent["headers"]["X-valuecrm-signature"] == webhooks.sign(endpoint.secret, stamp, sent["body"])
    assert json.loads(sent["body"])["data"]["customer"]["phone"] == old["phone"]

    # The error file shows the row in clear to who may see it.
    client.force_login(admin_user)
    response = client.get(f"/imports/{run.pk}/errors.csv")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[1].startswith(f"3,{bad['name']},not-an-email,{bad['national']},")

    # Merge undo and import undo restore the values exactly (and encrypted again).
    customer_merge_undo(actor=admin_user, merge=CustomerMerge.objects.get(pk=merge.pk))
    after_merge = {c.pk: (c.email, c.phone, sorted(c.contact_points.values_list("kind", "value")))
                   for c in Customer.objects.filter(pk__in=before_merge)}
    assert after_merge == before_merge
    imports.import_undo(actor=admin_user, run=run)
    restored = Customer.objects.get(pk=existing.pk)
    assert (restored.email, restored.phone) == (old["email"], "+8613600136000")
    assert sorted(restored.contact_points.values_list("kind", "value")) == [
        ("email", old["email"]), ("phone", "+8613600136000")]
    assert list(customers_with_phone("13600136000").values_list("pk", flat=True)) == [existing.pk]
    assert b"13600136000" not in raw_database_bytes()


@pytest.mark.django_db
def test_data_key_rotation_re_encrypts_the_json_copies(admin_user, data_dir, settings):
    from valuecrm.commands.keys import rotate_data_key
    from valuecrm.duplicates.merge import row_snapshot
    from valuecrm.duplicates.models import CustomerMerge
    from valuecrm.imports.models import ImportChange, ImportRun

    encryption.save(encryption.ring(), settings.DATA_DIR)
    customer = services.customer_create(actor=admin_user, data={"name": "Rot", "email": "rot@example.cn"})
    run = ImportRun.objects.create(kind="customers", file_path="/x", original_name="x.csv",
                                   review=[{"row": 2, "email": "rot@example.cn", "match_phone": "+8613500135000"}])
    ImportChange.objects.create(run=run, model="customer", object_id=customer.pk, before={"phone": "+8613500135000"})
    CustomerMerge.objects.create(survivor_pk=customer.pk, merged_pk=0, survivor_name="Rot", merged_name="Rot",
                                 snapshot={"survivor": row_snapshot(customer)})
    try:
        rotate_data_key(settings.DATA_DIR, echo=lambda _line: None)
        for table, column in (("imports_importrun", "review"), ("imports_importchange", "before"),
                              ("integrations_customermerge", "snapshot")):
            text = _raw_json_column(table, column)[0]
            assert "ev1:k2:" in text and "ev1:k1:" not in text, table
        assert ImportRun.objects.get(pk=run.pk).review[0]["match_phone"] == "+8613500135000"
        assert ImportChange.objects.get(run=run).before == {"phone": "+8613500135000"}
        snap = CustomerMerge.objects.get(survivor_pk=customer.pk).snapshot
        assert decrypt(snap["survivor"]["fields"]["email"]) == "rot@example.cn"
    finally:
        encryption.set_ring(None)
