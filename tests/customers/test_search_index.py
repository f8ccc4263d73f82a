"""The customer name search index (customers/search_index.py): its terms, that a search
through it answers exactly what the plain substring scan answers, and that every path
writing a name keeps it in step."""

import csv
import io

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from valuecrm.customers import search_index, selectors, services
from valuecrm.customers.models import Customer
from valuecrm.customers.search_index import query_terms, terms_of
from valuecrm.customers.selectors import customer_count, customer_list, customer_queryset
from valuecrm.customers.visibility import visible_customers
from valuecrm.duplicates.merge import customer_merge, customer_merge_undo
from valuecrm.duplicates.models import CustomerMerge
from valuecrm.imports import services as imports
from valuecrm.privacy.erasure import customer_erase

from .helpers import make


def index_terms(pk: int) -> list[str]:
    """The terms stored for customer `pk`, sorted; [] when it has no index row."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT terms FROM {search_index.SQLITE_TABLE} WHERE rowid = %s", [pk])
            row = cursor.fetchone()
            return sorted(row[0].split()) if row else []
        cursor.execute(f"SELECT tsvector_to_array(terms) FROM {search_index.POSTGRES_TABLE} "
                       "WHERE customer_id = %s", [pk])
        row = cursor.fetchone()
        cursor.execute(f"SELECT term FROM {search_index.POSTGRES_TERMS} WHERE customer_id = %s", [pk])
        table_terms = sorted(r[0] for r in cursor.fetchall())
        # The term table holds exactly the tsvector's terms (written by the same calls).
        assert table_terms == (sorted(row[0]) if row else []), pk
        return table_terms


def found(user, query: str) -> list[str]:
    rows, _ = customer_list(user=user, search=query, sort="name", limit=500)
    return [c.name for c in rows]


# ---------------------------------------------------------------- terms

def test_terms_of_a_name_are_cjk_characters_and_pairs_and_word_suffixes():
    assert terms_of("上海浦东") == ["上", "上海", "海", "海浦", "浦", "浦东", "东"]
    assert terms_of("Li Lei") == ["li", "i", "lei", "ei"]
    assert terms_of("王Amy-2") == ["王", "amy", "my", "y", "2"]
    assert terms_of("--") == []


def test_a_query_asks_for_pairs_single_characters_and_word_prefixes():
    assert query_terms("上海") == [("上海", False)]
    assert query_terms("王小明") == [("王小", False), ("小明", False)]
    assert query_terms("王") == [("王", False)]
    assert query_terms("Li LEI") == [("li", True), ("lei", True)]
    assert query_terms("o'brien") == [("o", True), ("brien", True)]
    assert query_terms("- _") == []


# ---------------------------------------------------------------- same answers

NAMES = ["上海浦东发展公司", "王芳", "王小明", "小王", "Li Lei", "Han Meimei", "Amy O'Brien",
         "Lilian Ho", "上海 Li", "A-1 Trading", "东方明珠"]
QUERIES = sorted((
    {name[i:j].strip() for name in NAMES for i in range(len(name)) for j in range(i + 1, min(len(name), i + 4) + 1)}
    | {"上海浦东", "meimei", "MEI", "li lei", "o'b", "-", "z", "上海银行", "王 芳", "amy o"}
) - {""})


@pytest.mark.parametrize("broad_from", [5000, 0])  # 0: every search takes the broad plan
def test_search_through_the_index_answers_what_the_substring_scan_answers(admin_user, monkeypatch,
                                                                           broad_from):
    monkeypatch.setattr(selectors, "BROAD_MATCHES", broad_from)
    acme = make("东方贸易", kind="organization")
    for name in NAMES:
        make(name, company=acme if name.startswith("A") else None)

    for query in QUERIES:
        plain = Customer.objects.filter(Q(name__icontains=query) | Q(company__name__icontains=query))
        assert found(admin_user, query) == sorted(plain.values_list("name", flat=True)), query
        assert customer_count(user=admin_user, search=query).value == plain.count(), query


@pytest.mark.parametrize("few_members", [20_000, 0])  # 0: members walked in id order
def test_newest_first_search_streams_answer_what_the_substring_scan_answers(admin_user, rep_north, monkeypatch,
                                                                             few_members):
    # Chunks of 1 and pages of 2 make every stream read several times and the frontier move.
    monkeypatch.setattr(selectors, "STREAM_FIRST_CHUNK", 1)
    monkeypatch.setattr(selectors, "STREAM_MAX_CHUNK", 2)
    monkeypatch.setattr(selectors, "STREAM_FEW_MEMBERS", few_members)
    acme = make("上海 Trading", kind="organization")
    for i, name in enumerate(["Li Trading", "王芳", "小王", "Li Lei", "上海 Li", "Amy", "Lily Wang", "li.lei"]):
        make(name, rep_north if i % 2 else None, company=acme if i % 3 == 0 else None)
    for query in ("li", "上海", "王", "trading", "Li L", "上海 li", "a"):
        for user in (admin_user, rep_north):
            plain = (visible_customers(user).filter(Q(name__icontains=query) | Q(company__name__icontains=query))
                     .order_by("-id"))
            expected = list(plain.values_list("pk", flat=True))
            pages, after = [], None
            while True:
                rows, after = customer_list(user=user, search=query, limit=2, after=after)
                pages += [c.pk for c in rows]
                if after is None:
                    break
            assert pages == expected, (query, user)
            assert customer_count(user=user, search=query, cap=3).value == min(len(expected), 3), query
            assert customer_count(user=user, search=query, cap=3).capped == (len(expected) > 3), query


READER_NAMES = ["Zhang Wei", "Zhangsan Li", "Li Zhang", "Zhan Hui", "Wei Li", "Liang Wei", "Amy Lin",
                "Lily Li", "李小龙", "小龙李", "李小", "上海李小龙", "Ana Banana"]
READER_QUERIES = ["zhang", "zhan", "li", "l", "wei li", "li wei", "z", "a", "ana", "李小龙", "李小", "小",
                  "上海", "hui zhan", "q", "zz top"]


@pytest.mark.parametrize("plan", ["default", "range", "gin", "driver"])
def test_the_id_reader_pages_through_the_index_newest_first(db, plan, monkeypatch):
    """Every PostgreSQL plan of the id-ordered read (a prefix merged over its terms or read as
    one range; several terms from the GIN intersection or a driver term with the others
    tested) answers what the unordered index query answers, newest first, page by page."""
    if connection.vendor != "postgresql" and plan != "default":
        pytest.skip("SQLite has one plan (FTS5 in rowid order)")
    if plan == "range":
        monkeypatch.setattr(search_index, "PREFIX_MERGE_TERMS", 0)
    if plan in ("gin", "driver"):
        monkeypatch.setattr(search_index, "DRIVER_COUNT_CAP", 0)
        monkeypatch.setattr(search_index, "GIN_NARROW", 10**6 if plan == "gin" else 0)
    for name in READER_NAMES:
        make(name)
    for query in READER_QUERIES:
        sql, params = search_index.matching_ids_sql(query)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            expected = sorted({row[0] for row in cursor.fetchall()}, reverse=True)
        read = search_index.id_reader(query)
        pages, below = [], None
        while True:
            page = read(below, 2)
            pages += page
            if len(page) < 2:
                break
            below = page[-1]
        assert pages == expected, (plan, query)
        assert search_index.ids_below(query, None, 100) == expected, (plan, query)
    names = dict(Customer.objects.values_list("pk", "name"))
    assert [names[pk] for pk in search_index.id_reader("zhang")(None, 10)] == ["Li Zhang", "Zhangsan Li",
                                                                               "Zhang Wei"]
    assert search_index.id_reader("- _") is None


def test_the_migration_builds_the_term_table_from_the_tsvector_rows(admin_user):
    """customers 0008 on a database indexed before the term table existed (PostgreSQL)."""
    import importlib

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's FTS5 needs no term table (0008 does nothing there)")
    migration = importlib.import_module("valuecrm.customers.migrations.0008_customer_search_term_table")
    customers = [make(name) for name in ("上海浦东", "Zhang Wei", "Amy Lin")]
    with connection.schema_editor() as editor:
        editor.execute(f"DROP TABLE {search_index.POSTGRES_TERMS}")
        migration.create_and_fill(None, editor)
    for customer in customers:
        assert index_terms(customer.pk) == sorted(terms_of(customer.name))
    assert [c.name for c in customer_list(user=admin_user, search="zh")[0]] == ["Zhang Wei"]
    with connection.schema_editor() as editor:  # a second run leaves the table alone
        migration.create_and_fill(None, editor)
    services.customer_delete(actor=admin_user, customer=customers[0])
    assert index_terms(customers[0].pk) == []


def test_streams_hand_back_to_one_query_after_too_many_candidates(admin_user, monkeypatch):
    for name in ("王芳", "王芳芳", "王小芳"):
        make(name)
    monkeypatch.setattr(selectors, "STREAM_MAX_CANDIDATES", 0)
    monkeypatch.setattr(selectors, "STREAM_FIRST_CHUNK", 1)
    base = selectors.customer_queryset(user=admin_user)
    assert selectors._stream_ids(base, selectors._search_streams("王"), 10) is None
    rows, _ = customer_list(user=admin_user, search="王芳", limit=5)
    assert [c.name for c in rows] == ["王芳芳", "王芳"]


def test_a_broad_search_walks_the_list_instead_of_sorting_every_match(admin_user, monkeypatch):
    make("王芳")
    monkeypatch.setattr(selectors, "BROAD_MATCHES", 0)
    sql, params = customer_queryset(user=admin_user, search="王芳").order_by("-id")[:50].query.sql_with_params()
    if connection.vendor != "sqlite":
        assert "+" not in sql.split(" WHERE ", 1)[1]
        return
    assert '(+"customers_customer"."id" IN (SELECT "customers_customer"."id" AS "pk"' in sql
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "MULTI-INDEX OR" not in plan and "TEMP B-TREE FOR ORDER BY" not in plan, plan
    monkeypatch.setattr(selectors, "BROAD_MATCHES", 5000)
    sql, params = customer_queryset(user=admin_user, search="王芳").order_by("-id")[:50].query.sql_with_params()
    assert '("customers_customer"."id" IN (SELECT "customers_customer"."id" AS "pk"' in sql and "+" not in sql


def test_a_name_search_reads_the_index(admin_user):
    make("王芳")
    with CaptureQueriesContext(connection) as queries:
        assert found(admin_user, "王芳") == ["王芳"]
    table = search_index.SQLITE_TABLE if connection.vendor == "sqlite" else search_index.POSTGRES_TABLE
    listing = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "customers_customer"')]
    assert len(listing) == 1 and (f"SELECT rowid FROM {table}" in listing[0]
                                  or f"SELECT customer_id FROM {table}" in listing[0]), listing


def test_search_keeps_visibility(rep_north, rep_south):
    make("王芳 北", rep_north)
    make("王芳 南", rep_south)
    assert found(rep_north, "王芳") == ["王芳 北"]


# ---------------------------------------------------------------- kept in step

def test_create_rename_and_delete_keep_the_index_in_step(admin_user):
    customer = services.customer_create(actor=admin_user, data={"name": "王芳"})
    assert index_terms(customer.pk) == sorted(["王", "王芳", "芳"])
    services.customer_update(actor=admin_user, customer=customer, data={"name": "李娜"})
    assert (found(admin_user, "王芳"), found(admin_user, "李娜")) == ([], ["李娜"])
    assert index_terms(customer.pk) == sorted(["李", "李娜", "娜"])
    services.customer_delete(actor=admin_user, customer=Customer.objects.get(pk=customer.pk))
    assert index_terms(customer.pk) == []


@pytest.fixture
def import_file(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"

    def _write(name, rows):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([["姓名", "手机"], *rows])
        path = tmp_path / name
        path.write_bytes(buffer.getvalue().encode())
        return path

    return _write


def _import(actor, path):
    with open(path, "rb") as handle:
        run = imports.import_upload(actor=actor, kind="customers", name=path.name, chunks=[handle.read()])
    run = imports.import_configure(actor=actor, run=run, mapping=None, options={"key": "phone"})
    return imports.import_run_now(actor=actor, run=run)


def test_import_create_update_and_undo_keep_the_index_in_step(admin_user, import_file, huey_immediate):
    first = _import(admin_user, import_file("a.csv", [["王芳", "13800138000"], ["Amy Lee", "13900139000"]]))
    assert first.created_count == 2
    wang = Customer.objects.get(name="王芳")
    assert (found(admin_user, "王芳"), found(admin_user, "my le")) == (["王芳"], ["Amy Lee"])

    second = _import(admin_user, import_file("b.csv", [["王小芳", "13800138000"]]))
    assert second.updated_count == 1
    assert (found(admin_user, "小芳"), index_terms(wang.pk)) == (
        ["王小芳"], sorted(["王", "王小", "小", "小芳", "芳"]))

    imports.import_undo(actor=admin_user, run=second)
    assert (found(admin_user, "小芳"), found(admin_user, "王芳")) == ([], ["王芳"])
    imports.import_undo(actor=admin_user, run=first)
    assert index_terms(wang.pk) == []


def test_merge_and_its_undo_keep_the_index_in_step(admin_user):
    survivor = make("Acme")
    merged = make("ACME Co")
    customer_merge(actor=admin_user, survivor=survivor, merged=merged, field_choices={"name": "merged"})
    assert (found(admin_user, "acme co"), index_terms(merged.pk)) == (["ACME Co"], [])
    customer_merge_undo(actor=admin_user, merge=CustomerMerge.objects.get())
    assert found(admin_user, "acme") == ["ACME Co", "Acme"]
    assert index_terms(merged.pk) == sorted(["acme", "cme", "me", "e", "co", "o"])


def test_erasure_takes_the_name_out_of_the_index(admin_user):
    customer = make("王芳")
    customer_erase(actor=admin_user, customer=customer)
    erased = Customer.objects.get(pk=customer.pk).name
    assert "王芳" not in "".join(index_terms(customer.pk))
    assert index_terms(customer.pk) == sorted(terms_of(erased))
    assert found(admin_user, "王芳") == []
