"""PostgreSQL imports write with COPY (bulk.TableWriter.copy): the same rows as the
INSERT path, row errors still named, and a database error during COPY leaves nothing."""

import pytest
from django.db import connection

from valuecrm.customers.models import ContactPoint, Customer
from valuecrm.imports import bulk, runner
from valuecrm.imports.models import ImportStatus
from valuecrm.orders.models import Order

pytestmark = pytest.mark.skipif(connection.vendor == "sqlite", reason="COPY is PostgreSQL's")

HEADER = ["external_id", "姓名", "手机号", "邮箱", "城市", "标签"]


def customer_rows(prefix, count):
    area = {"A": "138", "B": "139"}.get(prefix, "137")
    return [[f"{prefix}{k}", f"客户{k}", f"{area}0013{k:04d}", f"{prefix}{k}＠Example.com", "上海", "VIP、新客"]
            for k in range(count)]


@pytest.fixture
def copies(monkeypatch):
    """How many rows each COPY wrote, in order."""
    seen = []
    real = bulk.TableWriter.copy

    def spy(self, cursor, statements):
        ids = real(self, cursor, statements)
        seen.append((self.model.__name__, len(ids)))
        return ids

    monkeypatch.setattr(bulk.TableWriter, "copy", spy)
    monkeypatch.setattr(runner, "BATCH", 4)
    return seen


def snapshot(prefix):
    people = Customer.objects.filter(external_id__startswith=prefix).order_by("external_id")
    return [(c.external_id[len(prefix):], c.name, c.phone, c.email, c.city,
             sorted(c.tags.values_list("name", flat=True)),
             sorted(ContactPoint.objects.filter(customer=c).values_list("kind", "value")))
            for c in people]


def test_copy_writes_what_insert_writes(write_csv, run_import, copies, monkeypatch):
    run = run_import(write_csv("a.csv", [HEADER, *customer_rows("A", 10)]), key="external_id")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 10), run.detail
    assert ("Customer", 4) in copies and sum(n for m, n in copies if m == "Customer") == 10
    assert sum(n for m, n in copies if m == "ContactPoint") == 20
    copied = len(copies)
    monkeypatch.setattr(bulk, "USE_COPY", False)
    run = run_import(write_csv("b.csv", [HEADER, *customer_rows("B", 10)]), key="external_id")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 10), run.detail
    assert len(copies) == copied  # the INSERT path
    a, b = snapshot("A"), snapshot("B")
    assert len(a) == len(b) == 10
    assert [row[:2] + row[4:6] for row in a] == [row[:2] + row[4:6] for row in b]
    assert a[3] == ("3", "客户3", "+8613800130003", "a3@example.com", "上海", ["VIP", "新客"],
                    [("email", "a3@example.com"), ("phone", "+8613800130003")])
    assert b[3] == ("3", "客户3", "+8613900130003", "b3@example.com", "上海", ["VIP", "新客"],
                    [("email", "b3@example.com"), ("phone", "+8613900130003")])


def test_row_error_after_copied_batches_is_named_and_nothing_stays(write_csv, run_import, admin_user,
                                                                   copies):
    Customer.objects.create(name="C1", source="import", external_id="C1", owner=admin_user)
    rows = [[f"O-{k}", "C1", f"2024-03-{k:02d}", f"{k}.50"] for k in range(1, 11)]
    rows[8][3] = "abc"  # file line 10, in the third batch of four
    run = run_import(write_csv("o.csv", [["order_id", "customer_id", "date", "amount"], *rows]), kind="orders")
    assert (run.status, run.failed_count) == (ImportStatus.FAILED, 1)
    assert [(e.row_number, e.column) for e in run.row_errors.all()] == [(10, "amount")]
    assert Order.objects.count() == 0


def test_database_error_during_copy_fails_the_run_and_writes_nothing(write_csv, run_import, admin_user,
                                                                     copies):
    """Ids handed out by the sequence collide with an existing customer's: the COPY raises
    (a unique violation, as an INSERT would), the run fails and no row of it stays."""
    taken = Customer.objects.create(name="taken", source="import", owner=admin_user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)",
                       [Customer._meta.db_table, taken.pk - 2])
    run = run_import(write_csv("c.csv", [HEADER, *customer_rows("X", 6)]), key="external_id")
    assert run.status == ImportStatus.FAILED
    assert "unexpected error" in run.detail
    assert list(Customer.objects.values_list("name", flat=True)) == ["taken"]
    assert ContactPoint.objects.count() == 0
