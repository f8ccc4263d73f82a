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

PostgreSQL also keeps a term table (``customers_search_term``: one row per (term,
customer), B-tree on (term, customer_id DESC)), written with the tsvector from the same
calls. GIN answers "which customers hold these terms" but not "the newest 50 of them":
a broad term (``trading``, ``上海``) made every page collect and sort 100k+ matches. The
term table reads them newest first with a LIMIT (id_reader); FTS5 already walks its
doclist in rowid order, so SQLite needs no second table.

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
POSTGRES_TERMS = "customers_search_term"
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
        create_term_table(schema_editor)
        schema_editor.execute(
            f"CREATE TRIGGER {POSTGRES_TABLE}_delete AFTER DELETE ON {customers} "
            f"FOR EACH ROW EXECUTE FUNCTION {POSTGRES_TABLE}_delete()")


def create_term_table(schema_editor, *, indexes: bool = True) -> None:
    """PostgreSQL's term table and the delete trigger's function (which clears both tables).
    ``indexes=False``: without its two B-trees, for a backfill that builds them afterwards
    (add_term_indexes) — one sort instead of maintaining them row by row."""
    # COLLATE "C": terms compare by code point, so a prefix is the range [prefix, next)
    # whatever the database's locale. No foreign key (nor on the tsvector table): Django's
    # flush TRUNCATEs the customers without CASCADE.
    schema_editor.execute(
        f"CREATE TABLE IF NOT EXISTS {POSTGRES_TERMS} "
        '(term text COLLATE "C" NOT NULL, customer_id bigint NOT NULL)')
    # A few thousand distinct terms, skewed (surnames, "trading"): with the default 100
    # most-common values ANALYZE estimated one row for ``term >= 'trading' AND term <
    # 'tradinh'`` (16k), and the planner probed the customers once per match.
    schema_editor.execute(f"ALTER TABLE {POSTGRES_TERMS} ALTER COLUMN term SET STATISTICS 1000")
    if indexes:
        add_term_indexes(schema_editor)
    schema_editor.execute(
        f"CREATE OR REPLACE FUNCTION {POSTGRES_TABLE}_delete() RETURNS trigger AS $$ "
        f"BEGIN DELETE FROM {POSTGRES_TABLE} WHERE customer_id = OLD.id; "
        f"DELETE FROM {POSTGRES_TERMS} WHERE customer_id = OLD.id; RETURN OLD; END "
        "$$ LANGUAGE plpgsql")


def add_term_indexes(schema_editor) -> None:
    # (customer_id, term): a customer's rows, for the writes' DELETE; (term, customer_id
    # DESC): one term's customers newest first, read by an index-only scan.
    schema_editor.execute(
        f"ALTER TABLE {POSTGRES_TERMS} ADD CONSTRAINT {POSTGRES_TERMS}_pkey PRIMARY KEY (customer_id, term)")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {POSTGRES_TERMS}_term ON {POSTGRES_TERMS} (term, customer_id DESC)")


def fill_term_table(connection, *, batch: int = 50_000, progress=None) -> int:
    """Copy every tsvector row's terms into the term table, ``batch`` customers per
    statement (the upgrade of a database indexed before the term table existed)."""
    total = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(customer_id), 0) FROM {POSTGRES_TABLE}")
        top = cursor.fetchone()[0]
        for start in range(0, top, batch):
            cursor.execute(
                f"INSERT INTO {POSTGRES_TERMS} (customer_id, term) "
                f"SELECT customer_id, unnest(tsvector_to_array(terms)) FROM {POSTGRES_TABLE} "
                "WHERE customer_id > %s AND customer_id <= %s", [start, start + batch])
            total += cursor.rowcount
            if progress is not None:
                progress(min(top, start + batch))
    return total


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
        schema_editor.execute(f"DROP TABLE IF EXISTS {POSTGRES_TERMS}")
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
                cursor.execute(f"DELETE FROM {POSTGRES_TERMS} WHERE customer_id IN ({marks})", chunk)
                rows = [r for r in rows if r[1]]
                if rows:
                    values = ", ".join(["(%s, array_to_tsvector(%s::text[]))"] * len(rows))
                    cursor.execute(f"INSERT INTO {POSTGRES_TABLE} (customer_id, terms) VALUES {values}",
                                   [v for row in rows for v in row])
                    _write_terms(cursor, rows)


def _write_terms(cursor, rows: list[tuple[int, list[str]]]) -> None:
    """The term table's rows of customers whose old rows are gone (PostgreSQL)."""
    cursor.execute(f"INSERT INTO {POSTGRES_TERMS} (customer_id, term) "
                   "SELECT * FROM unnest(%s::bigint[], %s::text[])",
                   [[pk for pk, terms in rows for _term in terms], [t for _pk, terms in rows for t in terms]])


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
        cursor.execute(f"DELETE FROM {POSTGRES_TERMS} WHERE customer_id = ANY(%s)", [[pk for pk, _t in chunk]])
        _write_terms(cursor, chunk)


def rebuild(model=None, *, using=None, batch: int = 5000, progress=None) -> int:
    """Index every customer again (the migration's backfill)."""
    if model is None:
        from valuecrm.customers.models import Customer as model
    conn = connection if using is None else using
    with conn.cursor() as cursor:
        for table in [SQLITE_TABLE] if conn.vendor == "sqlite" else [POSTGRES_TABLE, POSTGRES_TERMS]:
            cursor.execute(f"DELETE FROM {table}")
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
    below `below` (None: from the top); ``ordered=False``: any `limit` of them, unsorted.
    None when the index cannot narrow `text` (see matching_ids_sql). A caller reading on
    page after page keeps one id_reader instead (its plan is made once)."""
    if ordered:
        reader = id_reader(text)
        return None if reader is None else reader(below, limit)
    found = matching_ids_sql(text)
    if found is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"{found[0]} LIMIT {int(limit)}", found[1])
        return [row[0] for row in cursor.fetchall()]


def id_reader(text: str):
    """``read(below, limit)``: the index read in id order with a LIMIT — up to `limit` ids of
    customers whose name may contain `text`, highest first, below `below` (None: from the
    top) — without collecting every match. None when the index cannot narrow `text`.

    SQLite: FTS5 walks its doclist from the end. PostgreSQL: the term table (see the module
    docstring) through one term the query needs (the one with the fewest rows), which
    the B-tree on (term, customer_id DESC) returns newest first; a prefix term is the
    merge of the few terms it covers; a query of several terms tests the rest of them
    on each candidate's tsvector row (by its primary key)."""
    terms = query_terms(text)
    if not terms or not available():
        return None
    if connection.vendor == "sqlite":
        return _sqlite_reader(terms)
    return _PostgresReader(terms)


def _sqlite_reader(terms):
    match = _sqlite_match(terms)

    def read(below, limit):
        sql = f"SELECT rowid FROM {SQLITE_TABLE} WHERE {SQLITE_TABLE} MATCH %s"
        params = [match]
        if below is not None:
            sql, params = f"{sql} AND rowid < %s", [*params, int(below)]
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} ORDER BY rowid DESC LIMIT {int(limit)}", params)
            return [row[0] for row in cursor.fetchall()]
    return read


def _prefix_end(prefix: str) -> str | None:
    """The least string above every string starting with `prefix` (code point order)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if ord(prefix[-1]) < 0x10FFFF else None


# A prefix covering more distinct terms than this is read as one range and sorted (the
# merge would open an index scan per term); such a short prefix matches most customers.
PREFIX_MERGE_TERMS = 64
# Rows of one term counted at most when choosing the term that drives the read.
DRIVER_COUNT_CAP = 5000
# A query of several broad terms matching at most this many customers together is read
# from the GIN index's intersection (sorted) instead of testing each row of its driver.
GIN_NARROW = 5000


class _PostgresReader:
    def __init__(self, terms: list[tuple[str, bool]]):
        self.tsquery = _postgres_query(terms) if len(terms) > 1 else None
        with connection.cursor() as cursor:
            sources = [self._source(cursor, term, prefix) for term, prefix in terms]
            sizes = [self._size(cursor, source) for source in sources]
            self.driver = sources[sizes.index(min(sizes))]
            self.gin = False
            if self.tsquery is not None and min(sizes) > DRIVER_COUNT_CAP:
                # Every term is broad, but together they may be narrow (李小 & 小龙): then
                # the GIN index's intersection, sorted, beats testing each driver row.
                cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {POSTGRES_TABLE} "
                               f"WHERE terms @@ %s::tsquery LIMIT {GIN_NARROW + 1}) s", [self.tsquery])
                self.gin = cursor.fetchone()[0] <= GIN_NARROW

    @staticmethod
    def _source(cursor, term: str, prefix: bool):
        """("term", [terms]) — rows of these exact terms — or ("range", (low, high))."""
        if not prefix:
            return ("term", [term])
        high = _prefix_end(term)
        if high is None:
            return ("range", (term, None))
        # The distinct terms in [term, high), by a loose index scan (one B-tree descent each).
        cursor.execute(
            f"WITH RECURSIVE d(term) AS ("
            f"(SELECT term FROM {POSTGRES_TERMS} WHERE term >= %s AND term < %s ORDER BY term LIMIT 1) "
            f"UNION ALL SELECT (SELECT t.term FROM {POSTGRES_TERMS} t WHERE t.term > d.term AND t.term < %s "
            f"ORDER BY t.term LIMIT 1) FROM d WHERE d.term IS NOT NULL) "
            f"SELECT term FROM d WHERE term IS NOT NULL LIMIT {PREFIX_MERGE_TERMS + 1}", [term, high, high])
        covered = [row[0] for row in cursor.fetchall()]
        return ("term", covered) if len(covered) <= PREFIX_MERGE_TERMS else ("range", (term, high))

    @staticmethod
    def _condition(source) -> tuple[str, list]:
        kind, value = source
        if kind == "term":
            return "term = ANY(%s)", [value]
        low, high = value
        return ("term >= %s AND term < %s", [low, high]) if high is not None else ("term >= %s", [low])

    def _size(self, cursor, source) -> int:
        if source == ("term", []):
            return 0
        where, params = self._condition(source)
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {POSTGRES_TERMS} WHERE {where} "
                       f"LIMIT {DRIVER_COUNT_CAP + 1}) s", params)
        return cursor.fetchone()[0]

    def __call__(self, below: int | None, limit: int) -> list[int]:
        limit = int(limit)
        bound, bound_params = ("customer_id < %s", [int(below)]) if below is not None else ("TRUE", [])
        if self.gin:
            sql = (f"SELECT customer_id FROM {POSTGRES_TABLE} WHERE terms @@ %s::tsquery AND {bound} "
                   f"ORDER BY customer_id DESC LIMIT {limit}")
            params = [self.tsquery, *bound_params]
        else:
            kind, value = self.driver
            if kind == "term" and not value:
                return []
            rest, rest_params = "", []
            if self.tsquery is not None:
                # The query's other terms, on the candidate's tsvector row.
                rest = (f" AND EXISTS (SELECT 1 FROM {POSTGRES_TABLE} s WHERE s.customer_id = u.customer_id "
                        "AND s.terms @@ %s::tsquery)")
                rest_params = [self.tsquery]
            if kind == "term":
                # One index scan per term, newest first, filtered and stopped by its LIMIT;
                # the newest `limit` of the union are among those.
                parts = " UNION ALL ".join(
                    f"(SELECT u.customer_id FROM {POSTGRES_TERMS} u WHERE u.term = %s AND {bound}{rest} "
                    f"ORDER BY u.customer_id DESC LIMIT {limit})" for _term in value)
                sql = f"SELECT DISTINCT customer_id FROM ({parts}) m ORDER BY customer_id DESC LIMIT {limit}"
                params = [p for term in value for p in (term, *bound_params, *rest_params)]
            else:
                where, params = self._condition(self.driver)
                sql = (f"SELECT DISTINCT u.customer_id FROM {POSTGRES_TERMS} u WHERE {where} AND {bound}{rest} "
                       f"ORDER BY u.customer_id DESC LIMIT {limit}")
                params = [*params, *bound_params, *rest_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
