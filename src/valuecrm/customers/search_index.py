"""The customer name search index: one row of normalised search terms per customer.

``name ILIKE '%上海%'`` cannot use a B-tree, so at a million customers every search was
a full scan (issue 11: p95 2.4 s for ``q=上海``). Instead each customer's name is cut
into terms a substring search can be answered from:

- CJK (Han, kana, Hangul: ideographs without spaces between words) — every character
  and every pair of neighbouring characters: 上海浦东 → 上 海 浦 东 上海 海浦 浦东;
- any other run of letters and digits (a "word"), lower-cased — every suffix of it:
  meimei → meimei eimei imei mei ei i, so an infix is a prefix of one of them.

A query is cut the same way into what every match must contain (a CJK run of two or
more characters: its pairs; one character: itself; a word: a prefix of a suffix), the
index returns the customers holding all of them — a superset of the substring matches —
and the caller keeps ``name__icontains`` on that small set, so the results are exactly
those of the plain substring search. Queries with no letter or digit at all (``-``)
have no terms and fall back to that scan.

Storage by database: SQLite — an FTS5 table (``customers_search_fts``, rowid = customer
id; FTS5 ships with SQLite's amalgamation); PostgreSQL — a table of ``tsvector`` with a
GIN index (``customers_search_terms``), built with ``array_to_tsvector`` so no text-search
parser touches the terms. pg_trgm was the other candidate: it cannot take a two-character
pattern (``%上海%``) from the index, which is the query issue 11 measured.

The index is kept in step by whoever writes names: Customer.save, the import engine's
bulk writer and its updates/undo, merges, erasure and the demo generator call
``refresh`` in their transaction. A row left behind by a delete is harmless (the search
joins the customers table) and is removed by the next ``refresh`` of that id.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

SQLITE_TABLE = "customers_search_fts"
POSTGRES_TABLE = "customers_search_terms"
CJK_FROM = 0x2E80  # CJK radicals onwards: Han, kana, Hangul, CJK compatibility, …
BATCH = 2000


def _is_cjk(char: str) -> bool:
    return ord(char) >= CJK_FROM and char.isalnum()


def _runs(text: str) -> list[tuple[bool, str]]:
    """(is_cjk, run) for each maximal run of CJK characters or of other letters/digits."""
    runs: list[tuple[bool, str]] = []
    current, current_cjk = [], False
    for char in text.lower():
        if not char.isalnum():
            if current:
                runs.append((current_cjk, "".join(current)))
                current = []
            continue
        cjk = _is_cjk(char)
        if current and cjk != current_cjk:
            runs.append((current_cjk, "".join(current)))
            current = []
        current.append(char)
        current_cjk = cjk
    if current:
        runs.append((current_cjk, "".join(current)))
    return runs


def terms_of(name: str) -> list[str]:
    """The stored terms of a name (see the module docstring), without repeats."""
    terms: dict[str, None] = {}
    for cjk, run in _runs(name or ""):
        if cjk:
            for i, char in enumerate(run):
                terms[char] = None
                if i + 1 < len(run):
                    terms[run[i:i + 2]] = None
        else:
            for i in range(len(run)):
                terms[run[i:]] = None
    return list(terms)


def query_terms(text: str) -> list[tuple[str, bool]]:
    """(term, is_prefix) pairs every name containing `text` holds; [] when the query has
    no letter or digit (then the index cannot narrow the search)."""
    wanted: dict[tuple[str, bool], None] = {}
    for cjk, run in _runs(text):
        if not cjk:
            wanted[(run, True)] = None
        elif len(run) == 1:
            wanted[(run, False)] = None
        else:
            for i in range(len(run) - 1):
                wanted[(run[i:i + 2], False)] = None
    return list(wanted)


def available() -> bool:
    return connection.vendor in ("sqlite", "postgresql")


# ---------------------------------------------------------------- schema

def create(schema_editor) -> None:
    """Create the index table for the migration's database (nothing on other vendors),
    with a trigger that drops a customer's row when the customer is deleted — however
    the delete is issued (ORM cascade, an import undo, a flush)."""
    vendor = schema_editor.connection.vendor
    customers = "customers_customer"
    if vendor == "sqlite":
        # remove_diacritics 0: the terms are already what the search compares; a
        # prefix index for one to three characters keeps short prefix queries cheap.
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {SQLITE_TABLE} USING fts5("
            "terms, tokenize = 'unicode61 remove_diacritics 0', prefix = '1 2 3')")
        schema_editor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {SQLITE_TABLE}_delete AFTER DELETE ON {customers} "
            f"BEGIN DELETE FROM {SQLITE_TABLE} WHERE rowid = old.id; END")
    elif vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TABLE IF NOT EXISTS {POSTGRES_TABLE} "
            "(customer_id bigint PRIMARY KEY, terms tsvector NOT NULL)")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {POSTGRES_TABLE}_gin ON {POSTGRES_TABLE} USING gin (terms)")
        # No foreign key: Django's flush TRUNCATEs the customers without CASCADE.
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {POSTGRES_TABLE}_delete() RETURNS trigger AS $$ "
            f"BEGIN DELETE FROM {POSTGRES_TABLE} WHERE customer_id = OLD.id; RETURN OLD; END "
            "$$ LANGUAGE plpgsql")
        schema_editor.execute(
            f"CREATE TRIGGER {POSTGRES_TABLE}_delete AFTER DELETE ON {customers} "
            f"FOR EACH ROW EXECUTE FUNCTION {POSTGRES_TABLE}_delete()")


def ensure_delete_trigger(using: str = "default", **_signal_kwargs) -> None:
    """Re-create the SQLite delete trigger if it is gone (a post_migrate receiver).

    SQLite "alters" a table by copying it into a new one and renaming it, and the copy has
    no triggers: customers 0007 (a column with a database default) dropped this one, and
    deleted customers then kept their index rows. Any later migration that rebuilds the
    customers table would do the same, so the trigger is checked after every migrate."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return  # PostgreSQL's ALTER TABLE keeps its triggers
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [SQLITE_TABLE])
        if cursor.fetchone() is None:
            return  # before customers 0006
        cursor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {SQLITE_TABLE}_delete AFTER DELETE ON customers_customer "
            f"BEGIN DELETE FROM {SQLITE_TABLE} WHERE rowid = old.id; END")


def drop(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_delete")
        schema_editor.execute(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")
    elif vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {POSTGRES_TABLE}_delete ON customers_customer")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {POSTGRES_TABLE}_delete()")
        schema_editor.execute(f"DROP TABLE IF EXISTS {POSTGRES_TABLE}")


# ---------------------------------------------------------------- writes

def refresh(ids: Sequence[int], names: Sequence[str], *, using=None) -> None:
    """Replace the index rows of customers `ids` (whose names are `names`), in the
    caller's transaction: one DELETE and one INSERT per BATCH customers."""
    conn = connection if using is None else using
    if conn.vendor not in ("sqlite", "postgresql") or not ids:
        return
    with conn.cursor() as cursor:
        for start in range(0, len(ids), BATCH):
            chunk = [int(pk) for pk in ids[start:start + BATCH]]
            rows = [(pk, terms_of(name)) for pk, name in zip(chunk, names[start:start + BATCH], strict=True)]
            marks = ", ".join(["%s"] * len(chunk))
            if conn.vendor == "sqlite":
                cursor.execute(f"DELETE FROM {SQLITE_TABLE} WHERE rowid IN ({marks})", chunk)
                rows = [(pk, " ".join(terms)) for pk, terms in rows if terms]
                if rows:
                    cursor.executemany(f"INSERT INTO {SQLITE_TABLE} (rowid, terms) VALUES (%s, %s)", rows)
            else:
                cursor.execute(f"DELETE FROM {POSTGRES_TABLE} WHERE customer_id IN ({marks})", chunk)
                rows = [r for r in rows if r[1]]
                if rows:
                    values = ", ".join(["(%s, array_to_tsvector(%s::text[]))"] * len(rows))
                    cursor.execute(f"INSERT INTO {POSTGRES_TABLE} (customer_id, terms) VALUES {values}",
                                   [v for row in rows for v in row])


def write_new(cursor, *, sqlite: bool, ids: Sequence[int], names: Sequence[str]) -> None:
    """Index customers just inserted by a bulk writer, on its driver cursor (qmark
    placeholders on SQLite's, %s on psycopg's) so it can run on the writer's thread."""
    rows = [(int(pk), terms_of(name)) for pk, name in zip(ids, names, strict=True)]
    rows = [(pk, terms) for pk, terms in rows if terms]
    if not rows:
        return
    if sqlite:
        cursor.executemany(f"INSERT OR REPLACE INTO {SQLITE_TABLE} (rowid, terms) VALUES (?, ?)",
                           [(pk, " ".join(terms)) for pk, terms in rows])
        return
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        values = ", ".join(["(%s, array_to_tsvector(%s::text[]))"] * len(chunk))
        cursor.execute(f"INSERT INTO {POSTGRES_TABLE} (customer_id, terms) VALUES {values} "
                       "ON CONFLICT (customer_id) DO UPDATE SET terms = EXCLUDED.terms",
                       [v for row in chunk for v in row])


def rebuild(model=None, *, using=None, batch: int = 5000, progress=None) -> int:
    """Index every customer again (the migration's backfill)."""
    if model is None:
        from valuecrm.customers.models import Customer as model
    conn = connection if using is None else using
    with conn.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SQLITE_TABLE if conn.vendor == 'sqlite' else POSTGRES_TABLE}")
    after, count = 0, 0
    while True:
        rows = list(model._base_manager.filter(pk__gt=after).order_by("pk").values_list("pk", "name")[:batch])
        if not rows:
            return count
        refresh([r[0] for r in rows], [r[1] for r in rows], using=conn)
        after = rows[-1][0]
        count += len(rows)
        if progress is not None:
            progress(count)


# ---------------------------------------------------------------- reads

def _sqlite_match(terms: list[tuple[str, bool]]) -> str:
    # Terms are letters and digits only (see _runs), so quoting needs no escapes.
    return " AND ".join(f'"{term}"*' if prefix else f'"{term}"' for term, prefix in terms)


def _postgres_query(terms: list[tuple[str, bool]]) -> str:
    return " & ".join(f"'{term}':*" if prefix else f"'{term}'" for term, prefix in terms)


def matching_ids_sql(text: str) -> tuple[str, list] | None:
    """A ``SELECT <customer id>`` over the index for customers whose name may contain
    `text`, or None when the index cannot narrow it (no terms, another database)."""
    terms = query_terms(text)
    if not terms or not available():
        return None
    if connection.vendor == "sqlite":
        return f"SELECT rowid FROM {SQLITE_TABLE} WHERE {SQLITE_TABLE} MATCH %s", [_sqlite_match(terms)]
    return (f"SELECT customer_id FROM {POSTGRES_TABLE} WHERE terms @@ %s::tsquery",
            [_postgres_query(terms)])


def ids_below(text: str, below: int | None, limit: int, *, ordered: bool = True) -> list[int] | None:
    """Up to `limit` ids of customers whose name may contain `text`, highest first, all
    below `below` (None: from the top) — the index read in id order with a LIMIT, which
    both databases answer without collecting every match (FTS5 walks its doclist from
    the end; PostgreSQL walks the primary key backwards and tests each row's terms, or
    reads the GIN index and sorts, whichever its planner finds cheaper); ``ordered=False``:
    any `limit` of them, unsorted. None when the index cannot narrow `text` (see
    matching_ids_sql)."""
    found = matching_ids_sql(text)
    if found is None:
        return None
    sql, params = found
    column = "rowid" if connection.vendor == "sqlite" else "customer_id"
    if below is not None:
        sql, params = f"{sql} AND {column} < %s", [*params, int(below)]
    order = f" ORDER BY {column} DESC" if ordered else ""
    with connection.cursor() as cursor:
        cursor.execute(f"{sql}{order} LIMIT {int(limit)}", params)
        return [row[0] for row in cursor.fetchall()]
