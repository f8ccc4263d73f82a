"""Large-load machinery of the import engine: deferred order indexes (SQLite),
background INSERTs, ids from last_insert_rowid, row estimates, and the columnar
orders path's errors and duplicates."""

import datetime as dt
import json
import random
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest
from django.db import connection
from django.utils import timezone

from valuecrm.customers.models import Customer
from valuecrm.imports import bulk, runner
from valuecrm.imports.models import ImportStatus
from valuecrm.imports.readers import estimate_rows, sniff
from valuecrm.orders.models import Order, Product

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite",
                                 reason="indexes are only set aside on SQLite")

HEADER = ["order_id", "customer_id", "date", "amount"]
NOT_VISIBLE = "The customer {} is not visible to you."


# ---------------------------------------------------------------- helpers

def make_customers(owner, *external_ids):
    return {e: Customer.objects.create(name=e, source="import", external_id=e, owner=owner)
            for e in external_ids}


def order_rows(count, customers=("C1", "C2", "C3")):
    """`count` valid order rows; row k (file line k + 1) is order O-k on day k."""
    return [[f"O-{k}", customers[k % len(customers)], f"2024-03-{k:02d} 10:{k:02d}", f"{k}.50"]
            for k in range(1, count + 1)]


def placed(k):
    return timezone.make_aware(dt.datetime(2024, 3, k, 10, k))


def errors_of(run):
    return [(e.row_number, e.column, e.reason) for e in run.row_errors.all()]


def orders_index_sql() -> set[str]:
    """The CREATE INDEX statements of the orders table, as the database keeps them."""
    table = Order._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s"
                           " AND sql IS NOT NULL", [table])
        else:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return {sql for (sql,) in cursor.fetchall()}


def orders_index_names() -> set[str]:
    table = Order._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s",
                           [table])
        else:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


DEFERRABLE = {index.name for index in Order._meta.indexes}  # (customer, placed_at), (placed_at)


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(runner, "BATCH", 3)


@pytest.fixture
def low_threshold(monkeypatch):
    monkeypatch.setattr(bulk, "BULK_LOAD_MIN_ROWS", 1)


@pytest.fixture
def index_spy(monkeypatch):
    """Records what DeferredIndexes.drop returned, and the orders indexes that exist
    just before restore (i.e. after every INSERT of the run)."""
    seen = SimpleNamespace(dropped=[], before_restore=[])
    drop, restore = bulk.DeferredIndexes.drop, bulk.DeferredIndexes.restore

    def spy_drop(self):
        names = drop(self)
        seen.dropped.append(set(names))
        return names

    def spy_restore(self):
        seen.before_restore.append(orders_index_names())
        restore(self)

    monkeypatch.setattr(bulk.DeferredIndexes, "drop", spy_drop)
    monkeypatch.setattr(bulk.DeferredIndexes, "restore", spy_restore)
    return seen


@pytest.fixture
def wrap_writes(monkeypatch):
    """wrap_writes(f): every INSERT job TableWriter prepares runs as f(job, n), n = 1, 2, …"""
    def _wrap(around):
        prepare = bulk.TableWriter.prepare_columns
        calls = []

        def wrapped(self, count, columns):
            job = prepare(self, count, columns)
            calls.append(count)
            n = len(calls)
            return lambda: around(job, n)

        monkeypatch.setattr(bulk.TableWriter, "prepare_columns", wrapped)
        return calls
    return _wrap


# ---------------------------------------------------------------- a) deferred indexes

@sqlite_only
def test_large_load_drops_order_indexes_and_rebuilds_them_identically(
        write_csv, run_import, admin_user, low_threshold, small_batches, index_spy):
    """With the thresholds low, the two order indexes on customer/placed_at are dropped
    for the whole load (still absent after the last INSERT), the unique and other
    indexes stay, and afterwards the table has exactly the same index SQL as before;
    every order lands with the right customer, date and amount."""
    customers = make_customers(admin_user, "C1", "C2", "C3")
    before, names = orders_index_sql(), orders_index_names()
    run = run_import(write_csv("o.csv", [HEADER, *order_rows(10)]), kind="orders")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 10), run.detail
    assert index_spy.dropped == [DEFERRABLE]
    assert index_spy.before_restore == [names - DEFERRABLE]  # the unique one among them
    assert orders_index_sql() == before
    stored = {o.external_id: o for o in Order.objects.all()}
    for k, (external_id, customer, _date, amount) in enumerate(order_rows(10), start=1):
        order = stored[external_id]
        assert order.customer_id == customers[customer].pk
        assert order.placed_at == placed(k)
        assert order.total_amount == Decimal(amount)


@sqlite_only
@pytest.mark.parametrize(("existing", "dropped"), [(50, False), (20, True)])
def test_indexes_are_set_aside_only_for_a_large_share_of_the_table(
        write_csv, run_import, admin_user, low_threshold, index_spy, existing, dropped):
    """A 10-row load is worth deferring indexes for over 20 existing orders (≥ 25 %)
    but not over 50 (max(rowid) × BULK_LOAD_MIN_SHARE > 10)."""
    customer = make_customers(admin_user, "C1")["C1"]
    Order.objects.bulk_create([Order(customer=customer, external_id=f"old-{n}", source="shop")
                               for n in range(existing)])
    run = run_import(write_csv("o.csv", [HEADER, *order_rows(10, ["C1"])]), kind="orders")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 10), run.detail
    assert bool(index_spy.dropped) is dropped


def test_small_load_keeps_indexes(write_csv, run_import, admin_user, index_spy):
    """Below BULK_LOAD_MIN_ROWS (the default 100,000) no index is touched, on any database."""
    make_customers(admin_user, "C1", "C2", "C3")
    run = run_import(write_csv("o.csv", [HEADER, *order_rows(5)]), kind="orders")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 5)
    assert index_spy.dropped == []
    assert DEFERRABLE <= index_spy.before_restore[0]


@pytest.mark.skipif(connection.vendor == "sqlite", reason="PostgreSQL only")
def test_postgres_never_defers_indexes(write_csv, run_import, admin_user, low_threshold,
                                       index_spy):
    """On PostgreSQL a DROP INDEX would lock readers out, so even a 'large' load keeps them."""
    make_customers(admin_user, "C1", "C2", "C3")
    before = orders_index_sql()
    run = run_import(write_csv("o.csv", [HEADER, *order_rows(5)]), kind="orders")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 5)
    assert index_spy.dropped == []
    assert orders_index_sql() == before


# ---------------------------------------------------------------- b) failed loads roll back

@pytest.mark.parametrize("bad", [["O-8", "C9", "2024-03-08", "8"],      # unknown customer
                                 ["O-8", "C1", "2024-03-08", "abc"]])   # bad amount
def test_failed_all_or_nothing_load_writes_no_orders_and_keeps_indexes(
        write_csv, run_import, admin_user, low_threshold, small_batches, index_spy, bad):
    """One bad row in the third batch (after two batches were INSERTed) fails the whole
    run: no order stays, and the dropped indexes are back exactly as before."""
    make_customers(admin_user, "C1", "C2", "C3")
    rows = order_rows(10)
    rows[6] = bad  # file line 8
    before = orders_index_sql()
    run = run_import(write_csv("o.csv", [HEADER, *rows]), kind="orders")
    assert (run.status, run.failed_count) == (ImportStatus.FAILED, 1)
    assert [e[0] for e in errors_of(run)] == [8]
    assert Order.objects.count() == 0
    assert len(index_spy.dropped) == (1 if connection.vendor == "sqlite" else 0)
    assert orders_index_sql() == before


def test_write_error_mid_load_rolls_back_rows_and_index_ddl(
        write_csv, run_import, admin_user, low_threshold, small_batches, index_spy, wrap_writes):
    """A background INSERT that raises (after its rows went in) fails the run on the
    importer's thread; finish/restore never run, so only the transaction's rollback can
    bring the dropped indexes back — and it does, with no order left behind."""
    make_customers(admin_user, "C1", "C2", "C3")

    def second_write_fails(job, n):
        ids = job()
        if n == 2:
            raise RuntimeError("disk full")
        return ids

    calls = wrap_writes(second_write_fails)
    before = orders_index_sql()
    run = run_import(write_csv("o.csv", [HEADER, *order_rows(10)]), kind="orders")
    assert run.status == ImportStatus.FAILED
    assert "unexpected error" in run.detail
    assert len(calls) == 2  # the failure surfaced before a third batch was written
    assert index_spy.before_restore == []
    assert len(index_spy.dropped) == (1 if connection.vendor == "sqlite" else 0)
    assert Order.objects.count() == 0
    assert orders_index_sql() == before


# ---------------------------------------------------------------- c) duplicates across batches

def test_duplicate_order_ids_in_later_batches_are_skipped(
        write_csv, run_import, admin_user, small_batches, wrap_writes):
    """A repeated order id is found even in the very next batch while that batch's
    INSERT is still running in the background (slowed down here), and is reported as
    an in-file duplicate of the row that created it; an order already in the database
    stays 'unchanged'."""
    customer = make_customers(admin_user, "C1", "C2", "C3")["C1"]
    Order.objects.create(customer=customer, source="import", external_id="OLD-1",
                         total_amount=1)
    def slowly(job, _n):
        time.sleep(0.2)
        return job()

    wrap_writes(slowly)
    rows = order_rows(6)
    rows.insert(3, list(rows[2]))                # line 5 repeats line 4 (next batch)
    rows.insert(7, list(rows[0]))                # line 9 repeats line 2 (two batches on)
    rows.append(["OLD-1", "C1", "2024-03-20", "1"])  # line 10: already stored
    run = run_import(write_csv("o.csv", [HEADER, *rows]), kind="orders")
    assert run.status == ImportStatus.SUCCEEDED, run.detail
    assert (run.created_count, run.skipped_count, run.unchanged_count) == (6, 2, 1)
    in_file = [(d["row"], d["earlier_row"], d["name"]) for d in run.review
               if d["kind"] == "in_file"]
    assert in_file == [(5, 4, "O-3"), (9, 2, "O-1")]
    assert Order.objects.count() == 7


# ---------------------------------------------------------------- d) BackgroundWrites

def test_background_job_error_is_raised_at_settle_on_the_callers_thread():
    """The job's exception comes back at settle(), on_done is skipped, and the writer
    is idle afterwards (a second settle does nothing)."""
    writes, done = bulk.BackgroundWrites(), []

    def fail():
        raise ValueError("bad row")

    writes.submit(fail, done.append)
    with pytest.raises(ValueError, match="bad row"):
        writes.settle()
    assert done == []
    writes.settle()
    writes.close()


def test_background_close_after_failing_job_does_not_raise():
    """close() waits for a failing job (it is still running when close is called)
    without raising, and stops the helper thread."""
    writes, release, finished = bulk.BackgroundWrites(), threading.Event(), threading.Event()
    helper = []

    def fail_later():
        helper.append(threading.current_thread())
        release.wait(5)
        finished.set()
        raise ValueError("boom")

    writes.submit(fail_later)
    release.set()
    writes.close()
    assert finished.is_set()
    assert helper and not helper[0].is_alive()


def test_background_jobs_run_in_order_off_the_callers_thread_and_report_results():
    """Jobs run one after another in submit order on a helper thread, while the caller
    goes on (the job waits for the caller here), and on_done gets each job's result
    on the caller's thread."""
    writes, log, results = bulk.BackgroundWrites(), [], []
    caller = threading.get_ident()
    go = threading.Event()

    def job(n):
        def run():
            if n == 0:
                assert go.wait(5), "submit blocked until the job ended"
            time.sleep(0.01 * (3 - n))  # later jobs are quicker: order comes from submit
            log.append((n, threading.get_ident() != caller))
            return n * 10
        return run

    def on_done(result):
        results.append((result, threading.get_ident() == caller))

    writes.submit(job(0), on_done)
    go.set()
    for n in (1, 2):
        writes.submit(job(n), on_done)
    writes.settle()
    writes.close()
    assert log == [(0, True), (1, True), (2, True)]
    assert results == [(0, True), (10, True), (20, True)]


# ---------------------------------------------------------------- e) TableWriter ids

@pytest.mark.django_db
@pytest.mark.parametrize("per_statement", [7, 2000])
def test_insert_columns_returns_the_new_ids_in_insert_order(per_statement):
    """The ids returned are those of the rows as inserted — over several statements and
    after deletes that leave gaps and make max(id) differ from the row count."""
    old = Product.objects.bulk_create([Product(sku=f"old-{n}", name="x") for n in range(20)])
    Product.objects.filter(pk__in=[p.pk for p in old[::3]] + [old[-1].pk, old[-2].pk]).delete()
    writer = bulk.TableWriter(Product, ["sku", "name", "price"])
    writer.rows_per_statement = per_statement
    skus = [f"new-{n:02d}" for n in random.Random(5).sample(range(100), 30)]
    ids = writer.insert_columns(len(skus), {"sku": skus, "name": "n", "price": Decimal("2.5")})
    by_sku = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
    assert ids == [by_sku[sku] for sku in skus]
    assert Product.objects.filter(pk__in=ids, price=Decimal("2.5")).count() == 30
    more = writer.insert_columns(3, {"sku": ["z1", "z2", "z3"], "name": "n"})
    assert more == [Product.objects.get(sku=s).pk for s in ("z1", "z2", "z3")]


# ---------------------------------------------------------------- f) estimate_rows

def test_estimate_rows_of_a_large_csv_is_within_ten_percent(tmp_path):
    """50,000 rows of uneven length (about 2.5 MB, so the first-MB sample is extrapolated)."""
    rng = random.Random(11)
    lines = ["name,email,city"] + [
        f"{'x' * rng.randint(2, 30)},{n}@example.com,{'c' * rng.randint(1, 20)}"
        for n in range(50_000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 2 << 20
    estimate = estimate_rows(path, sniff(path))
    assert abs(estimate - 50_000) <= 5_000


def test_estimate_rows_of_small_files(tmp_path):
    """A tiny CSV is counted about right, a sheet by its size less the header rows,
    a JSON array not at all (it is parsed whole)."""
    small = tmp_path / "small.csv"
    small.write_text("name,city\nA,x\nB,y\nC,z\n")
    assert estimate_rows(small, sniff(small)) == 3

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Customers"])
    sheet.append(["name", "city"])
    for n in range(25):
        sheet.append([f"P{n}", "Shanghai"])
    workbook = tmp_path / "c.xlsx"
    book.save(workbook)
    info = sniff(workbook)
    assert info.header_row == 2
    assert estimate_rows(workbook, info) == 25

    array = tmp_path / "c.json"
    array.write_text(json.dumps([{"name": f"P{n}"} for n in range(10)]))
    assert estimate_rows(array, sniff(array)) is None


# ---------------------------------------------------------------- g) errors on the columnar path

def test_order_errors_name_column_and_line_and_valid_rows_land(
        write_csv, run_import, admin_user, small_batches):
    """In partial mode, across batches: an unknown customer, a row with a missing cell
    and a bad amount are each reported with their file line and column, and the
    other rows are imported."""
    make_customers(admin_user, "C1", "C2", "C3")
    rows = [HEADER,
            ["O-1", "C1", "2024-01-01", "1"],        # 2
            ["O-2", "C9", "2024-01-02", "2"],        # 3 unknown customer
            ["O-3", "C2", "2024-01-03"],             # 4 one value short
            ["O-4", "C2", "2024-01-04", "abc"],      # 5 bad amount
            ["O-5", "C3", "2024-01-05", "5"],        # 6
            ["O-6", "C8", "2024-01-06", "6"],        # 7 unknown customer
            ["O-7", "C1", "2024-01-07", "7"]]        # 8
    run = run_import(write_csv("o.csv", rows), kind="orders", mode="partial")
    assert (run.status, run.created_count, run.failed_count) == (ImportStatus.SUCCEEDED, 3, 4)
    assert errors_of(run) == [
        (3, "customer_id", "No customer with C9."),
        (4, "", "The row has 3 values but the header has 4 columns "
                "(is the file cut off or a delimiter missing?)."),
        (5, "amount", "“abc” is not an amount."),
        (7, "customer_id", "No customer with C8."),
    ]
    assert set(Order.objects.values_list("external_id", "customer__external_id")) == {
        ("O-1", "C1"), ("O-5", "C3"), ("O-7", "C1")}


def test_unknown_customer_error_names_the_column_the_row_used(
        write_csv, run_import, admin_user):
    """With both an id and an email column mapped, a row giving only an unknown email is
    reported under the email column, with the value it gave."""
    make_customers(admin_user, "C1")
    rows = [["order_id", "customer_id", "email", "date", "amount"],
            ["O-1", "C1", "", "2024-01-01", "1"],
            ["O-2", "", "nobody@x.cn", "2024-01-02", "2"]]
    run = run_import(write_csv("o.csv", rows), kind="orders", mode="partial")
    assert run.created_count == 1
    assert errors_of(run) == [(3, "email", "No customer with nobody@x.cn.")]


@pytest.mark.parametrize(("importer", "teammate_visible"), [("rep_north", False),
                                                            ("manager_north", True)])
def test_orders_for_customers_outside_the_importers_scope_are_refused(
        request, write_csv, run_import, make_user, team_north, rep_south, small_batches,
        importer, teammate_visible):
    """A rep (own scope) may only import orders for their own customers, a manager (team
    scope) also for their team's; a customer of another team is 'not visible' to both.
    Valid rows land (partial mode), across batches."""
    actor = request.getfixturevalue(importer)
    teammate = make_user("north_2", team=team_north)
    make_customers(actor, "MINE")
    make_customers(teammate, "TEAM")
    make_customers(rep_south, "SOUTH")
    rows = [HEADER, *[[f"X-{n}", ref, "2024-01-01", "1"] for n, ref in enumerate(
        ["MINE", "SOUTH", "TEAM", "MINE", "SOUTH", "TEAM"], start=2)]]
    run = run_import(write_csv("o.csv", rows), kind="orders", actor=actor, mode="partial")
    refused = [(3, "SOUTH"), (6, "SOUTH")]
    if not teammate_visible:
        refused += [(4, "TEAM"), (7, "TEAM")]
    assert errors_of(run) == sorted((line, "customer_id", NOT_VISIBLE.format(ref))
                                    for line, ref in refused)
    landed = ["MINE", "MINE"] + (["TEAM", "TEAM"] if teammate_visible else [])
    assert sorted(Order.objects.values_list("customer__external_id", flat=True)) == sorted(landed)
    assert run.created_count == len(landed)


def test_a_rejected_row_does_not_shadow_a_valid_row_with_the_same_order_id(
        write_csv, run_import, admin_user):
    """Row 2 names an unknown customer and is rejected; row 3 repeats its order id with a
    known customer and is imported (not skipped as a repeat of a row that created
    nothing), as it would be if the two rows fell in different batches."""
    make_customers(admin_user, "C1")
    rows = [HEADER, ["X-1", "C9", "2024-01-01", "1"], ["X-1", "C1", "2024-01-01", "1"]]
    run = run_import(write_csv("o.csv", rows), kind="orders", mode="partial")
    assert errors_of(run) == [(2, "customer_id", "No customer with C9.")]
    assert (run.created_count, run.skipped_count) == (1, 0)
    assert Order.objects.get(external_id="X-1").customer.external_id == "C1"
