"""The import's JSON copies of personal values on PostgreSQL, read raw (`make test-postgres`).

ImportRun.review, ImportRowError.values, ImportChange.before and the outbox's event payloads
are jsonb columns the import fills through its own bulk paths (COPY on PostgreSQL). After an
import with a failed row, an update and a duplicate to review, plus an emitted event, each
column is read back as text with a cursor — what a database dump holds — and none of the
file's phones or e-mails is in it. Selected by the ``postgres`` marker in the PostgreSQL
stage; there a server that cannot be reached is an error, not a skip.
"""

import os

import pytest
from django.db import connection

from valuecrm.common.events import emit
from valuecrm.common.events.catalogue import CustomerUpdated
from valuecrm.customers import services as customers
from valuecrm.imports.models import ImportChange, ImportRowError

URL = os.environ.get("DATABASE_URL", "")
pytestmark = [pytest.mark.postgres, pytest.mark.django_db,
              pytest.mark.skipif(not URL.startswith("postgres"), reason="PostgreSQL only (DATABASE_URL)")]

COLUMNS = (("imports_importrun", "review"), ("imports_importrowerror", "values"),
           ("imports_importchange", "before"), ("common_outboxevent", "payload"))


def _raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}"::text FROM "{table}" ORDER BY 1')
        return [row[0] for row in cursor.fetchall()]


def test_json_copies_hold_no_phone_or_e_mail_of_the_file(admin_user, write_csv, run_import):
    assert connection.vendor == "postgresql"  # not SQLite behind a postgres DATABASE_URL
    old = customers.customer_create(actor=admin_user, data={
        "name": "老客户", "email": "old.one@pg-secret.example", "phone": "13600136000"})
    customers.customer_create(actor=admin_user, data={
        "name": "双胞胎", "email": "twin@pg-secret.example", "phone": "13700137000"})
    rows = [["name", "email", "phone"],
            ["老客户", "old.one@pg-secret.example", "13800138000"],       # update: a new phone
            ["坏行", "not-an-email@", "13900139000"],                      # fails: bad e-mail
            ["双胞胎", "twin.other@pg-secret.example", "13700137000"],     # a duplicate to review
            ["新客户", "new.one@pg-secret.example", "13500135000"]]
    run = run_import(write_csv("people.csv", rows), key="email", mode="partial")
    assert (run.created_count, run.updated_count, run.failed_count) == (1, 1, 1)  # the duplicate waits in the review
    emit(CustomerUpdated(customer_id=old.pk, changed_fields=("phone",)), actor=admin_user)
    # The ORM reads them back in clear, so the copies are really there.
    run.refresh_from_db()
    assert [r["phone"] for r in run.review] == ["+8613700137000"]
    assert ImportRowError.objects.get(run=run).values == ["坏行", "not-an-email@", "13900139000"]
    assert ImportChange.objects.get(run=run, object_id=old.pk).before["phone"] == "+8613600136000"

    needles = ["pg-secret", "not-an-email"] + [
        form for national in ("13600136000", "13800138000", "13900139000", "13700137000", "13500135000")
        for form in (national, f"+86{national}")]
    for table, column in COLUMNS:
        texts = _raw(table, column)
        assert texts, table
        for text in texts:
            assert not [n for n in needles if n in text], (table, column, text)
    for table, column in COLUMNS[:3]:
        assert all("ev1:" in text for text in _raw(table, column)), table
