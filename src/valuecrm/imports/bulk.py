"""Plain multi-row INSERTs (and key lookups) for large imports.

The ORM's bulk_create builds a model instance per row and, on SQLite, sends only
999 parameters per statement; a million-row import spends most of its time there.
Here each column's default and database form are worked out once, rows are
tuples, and each statement carries as many rows as the database accepts. The ids
come back in insert order: on SQLite from last_insert_rowid, since one INSERT numbers its
rows consecutively; on PostgreSQL the rows go in by COPY … FROM STDIN (psycopg's copy), with
ids taken from the table's sequence first (one nextval per row, in one query), so the
new ids are known without RETURNING. ``USE_COPY = False`` (or VALUECRM_IMPORT_COPY=0)
falls back to multi-row INSERT … RETURNING.
"""

import gc
import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model
from django.utils import timezone

from valuecrm.common.encryption import blind_index_fields

SQLITE_MAX_VARIABLES = 32766
POSTGRES_MAX_VARIABLES = 65535
# PostgreSQL: write with COPY instead of INSERT (the import bench compares both).
USE_COPY = os.environ.get("VALUECRM_IMPORT_COPY", "1") != "0"


def max_variables() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        try:
            import sqlite3

            return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except AttributeError:  # Python < 3.11
            return 999
    return POSTGRES_MAX_VARIABLES


class TableWriter:
    """INSERTs rows of one model given as {field name: python value} dicts.

    Columns not given take the field's default; `prepare` converts each value to
    its database form (dates, decimals, JSON) the way the ORM would.
    """

    def __init__(self, model: type[Model], columns: list[str]):
        self.model = model
        # The wrapper object itself, not Django's per-thread `connection` proxy: rows may be
        # converted and written on the BackgroundWrites thread, inside this thread's
        # transaction.
        self.db = connections[DEFAULT_DB_ALIAS]
        self.sqlite = self.db.vendor == "sqlite"
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.fields: list[Field] = fields
        self.given = [f for f in fields if f.attname in columns or f.name in columns]
        # Blind indexes of encrypted columns (common/encryption.py) are written with them.
        self.indexes = [f for f in blind_index_fields(model)
                        if f not in self.given and any(g.name == f.source for g in self.given)]
        self.given += self.indexes
        now = timezone.now()
        self.constant: dict[str, object] = {}
        for f in fields:
            if f in self.given:
                continue
            if f.name in ("created_at", "updated_at"):
                value = now
            elif f.has_default():
                value = f.get_default()
            elif f.null:
                value = None
            else:
                value = "" if f.get_internal_type() in ("CharField", "TextField") else None
            self.constant[f.attname] = f.get_db_prep_save(value, self.db)
        # Which given columns need conversion (CharFields go as they are).
        self.converters = [self._converter(f) for f in self.given]
        quote = self.db.ops.quote_name
        self.columns = [f.column for f in fields]
        self.order = fields
        self.table = quote(model._meta.db_table)
        self.column_sql = ", ".join(quote(c) for c in self.columns)
        self.rows_per_statement = max(1, min(2000, max_variables() // len(self.columns)))
        self.pk_column = quote(model._meta.pk.column)

    def _converter(self, f: Field):
        db = self.db
        if getattr(f, "encrypted", False):
            return lambda v, f=f: f.get_db_prep_save(v, db)
        kind = f.get_internal_type()
        if kind in ("CharField", "TextField", "BigIntegerField", "ForeignKey", "IntegerField",
                    "BooleanField", "PositiveIntegerField", "SlugField"):
            return None
        if self.sqlite:
            # The same text the SQLite backend would store, without its per-value dispatch.
            if kind == "DateField":
                return lambda v: v.isoformat()
            if kind == "JSONField" and f.encoder is None:
                return lambda v: "{}" if type(v) is dict and not v else json.dumps(v)
            if kind == "DecimalField":
                return str
            if kind == "DateTimeField":
                # Django stores aware datetimes on SQLite as naive UTC text, "YYYY-MM-DD
                # HH:MM:SS[.ffffff]": the UTC isoformat less its "+00:00" (twice as fast
                # as astimezone + replace + str, which matters at a million rows).
                return lambda v: v.astimezone(UTC).isoformat(" ")[:-6] \
                    if getattr(v, "tzinfo", None) else f.get_db_prep_save(v, db)
        return lambda v, f=f: f.get_db_prep_save(v, db)

    def insert(self, rows: list[dict]) -> list[int]:
        """Insert `rows` (attname or name → python value); returns their new ids in order."""
        columns = {}
        for f in self.given:
            attname, name = f.attname, f.name
            columns[attname] = ([row.get(name) for row in rows] if attname == name else
                                [row[attname] if attname in row else row.get(name) for row in rows])
        return self.insert_columns(len(rows), columns)

    def insert_columns(self, count: int, columns: dict[str, object]) -> list[int]:
        """Insert `count` rows given column by column: attname → a list of python values
        (None takes the column's default) or one value for every row."""
        return self.prepare_columns(count, columns)()

    def prepare_columns(self, count: int, columns: dict[str, object]) -> Callable[[], list[int]]:
        """`insert_columns` in two halves: the values are converted now, and the returned
        function runs the INSERTs and returns the new ids. It may run on another thread
        (see BackgroundWrites): the cursor is opened here, on the connection's own."""
        statements = self.statements(count, columns)
        cursor = self.cursor()
        return lambda: self.run(cursor, statements)

    def cursor(self):
        """A cursor for `run`, opened on the calling thread (the transaction's)."""
        self.db.ensure_connection()
        if not self.sqlite and USE_COPY:
            self.sequence()  # looked up here, on the transaction's thread
        # On SQLite the driver's own cursor: Django's wrapper rewrites %s → ? with a regex
        # over the whole statement, which for 30,000 placeholders costs more than the insert.
        return self.db.connection.cursor() if self.sqlite else self.db.cursor()

    def statements(self, count: int, columns: dict[str, object]) -> list[tuple[int, list]]:
        """The INSERTs' parameters for `count` rows given column by column (attname → a
        list of python values, None taking the column's default, or one value for all):
        (rows, parameters row after row) per statement. Pure: any thread may call it."""
        if self.indexes:
            columns = dict(columns)
            for f in self.indexes:
                source = columns.get(f.source)
                columns[f.attname] = ([f.compute(v) for v in source] if isinstance(source, list)
                                      else f.compute(source))
        built = []  # one list of database values per column, in self.order
        for f in self.order:
            if f not in self.given:
                built.append([self.constant[f.attname]] * count)
                continue
            convert = self.converters[self.given.index(f)]
            default = None if f.null else self.constant_default(f)
            if default is not None and convert is not None:
                default = convert(default)
            given = columns.get(f.attname, columns.get(f.name))
            if not isinstance(given, list):
                value = default if given is None else (convert(given) if convert else given)
                built.append([value] * count)
            elif convert is None:
                built.append([default if v is None else v for v in given])
            else:
                built.append([default if v is None else convert(v) for v in given])
        width = len(self.columns)
        per_statement = self.rows_per_statement
        # Each statement's parameters row after row, laid out by one slice assignment per
        # column (no tuple per row); a column of the wrong length raises ValueError here.
        statements: list[tuple[int, list]] = []
        for start in range(0, count, per_statement):
            rows = min(per_statement, count - start)
            flat = [None] * (rows * width)
            for position, values in enumerate(built):
                flat[position::width] = values[start:start + rows]
            statements.append((rows, flat))
        return statements

    def run(self, cursor, statements: list[tuple[int, list]]) -> list[int]:
        """Execute `statements` on `cursor` (then closed); the new ids in insert order."""
        if not self.sqlite and USE_COPY and self.sequence() is not None:
            return self.copy(cursor, statements)
        mark = "?" if self.sqlite else "%s"
        placeholder = "(" + ", ".join([mark] * len(self.columns)) + ")"
        ids: list[int] = []
        try:
            full_sql = None
            for rows, params in statements:
                if rows == self.rows_per_statement and full_sql:
                    sql = full_sql
                else:
                    sql = (f"INSERT INTO {self.table} ({self.column_sql}) VALUES "
                           + ", ".join([placeholder] * rows))
                    if not self.sqlite:
                        sql += f" RETURNING {self.pk_column}"
                    if rows == self.rows_per_statement:
                        full_sql = sql
                cursor.execute(sql, params)
                if self.sqlite:
                    # One statement holding the write lock numbers its rows one after
                    # another, ending at last_insert_rowid. RETURNING would hand the ids
                    # back a row at a time, each step giving up and retaking the GIL,
                    # which stalls a background write behind the cleaning thread.
                    last = cursor.lastrowid
                    ids.extend(range(last - rows + 1, last + 1))
                else:
                    ids.extend(r[0] for r in cursor.fetchall())
        finally:
            cursor.close()
        return ids

    _sequence: str | None | bool = False

    def sequence(self) -> str | None:
        """The primary key's sequence (serial or identity column), or None."""
        if self._sequence is False:
            with self.db.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)",
                               [self.model._meta.db_table, self.model._meta.pk.column])
                self._sequence = cursor.fetchone()[0]
        return self._sequence

    def copy(self, cursor, statements: list[tuple[int, list]]) -> list[int]:
        """PostgreSQL: reserve one id per row from the sequence, then COPY the rows with
        their ids. Errors come out as Django's (IntegrityError, DataError …), as from an
        INSERT, and fail the import's transaction the same way."""
        total = sum(rows for rows, _params in statements)
        width = len(self.columns)
        try:
            if not total:
                return []
            with self.db.wrap_database_errors:
                cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [self.sequence(), total])
                ids = [r[0] for r in cursor.fetchall()]
                sql = f"COPY {self.table} ({self.pk_column}, {self.column_sql}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    write, at = copy.write_row, 0
                    for rows, params in statements:
                        for row in range(rows):
                            write([ids[at], *params[row * width:(row + 1) * width]])
                            at += 1
        finally:
            cursor.close()
        return ids

    @staticmethod
    def constant_default(f: Field):
        if f.has_default():
            return f.get_default()
        return "" if f.get_internal_type() in ("CharField", "TextField") else None


def id_ranges(ids) -> list[list[int]]:
    """[3, 4, 5, 9] → [[3, 5], [9, 9]] (ids as recorded on the run, compact for millions).

    Streams over `ids` (a run's ids arrive in increasing order) instead of sorting a
    copy, which for five million orders would cost more memory than the whole import.
    """
    ranges: list[list[int]] = []
    for pk in ids:
        if ranges and pk == ranges[-1][1] + 1:
            ranges[-1][1] = pk
        else:
            ranges.append([pk, pk])
    return merge_ranges(ranges)


def merge_ranges(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


class KeyLookup:
    """Finds rows of `table_model` by `key_column`: rows (key, *select columns), one query
    per chunk of keys (as many as the database takes, up to 5,000), through the driver's
    cursor (no ORM compilation per batch). `extra` adds a condition ("source = %s").

    `sequential` keys (order numbers, which an export writes in sequence) first try one
    range query: a batch of new orders spans a range that holds none yet, so a single
    index probe answers for all of them (see _lookup_range)."""

    def __init__(self, table_model: type[Model], key_column: str, *, extra: str = "",
                 extra_params: tuple = (), select: str = "id", sequential: bool = False,
                 chunk: int = 0):
        quote = connection.ops.quote_name
        self.table = quote(table_model._meta.db_table)
        self.key = quote(key_column)
        self.extra, self.extra_params, self.select = extra, tuple(extra_params), select
        self.sqlite = connection.vendor == "sqlite"
        self.sequential = sequential and self.sqlite
        self.chunk = chunk or max(1, min(5000, max_variables() - len(self.extra_params)))

    def prepare(self, values: list) -> Callable[[], list[tuple]]:
        """The lookup of `values`, ready to run on any thread (the cursor is opened here)."""
        connection.ensure_connection()
        cursor = connection.connection.cursor() if self.sqlite else connection.cursor()
        mark = "?" if self.sqlite else "%s"

        def run() -> list[tuple]:
            found: list[tuple] = []
            try:
                if self.sequential and len(values) > 1:
                    in_range = _lookup_range(cursor, self.table, self.key, values, self.extra,
                                             self.extra_params, self.select)
                    if in_range is not None:
                        return in_range
                for start in range(0, len(values), self.chunk):
                    part = values[start:start + self.chunk]
                    where = f"{self.key} IN ({', '.join([mark] * len(part))})"
                    if self.extra:
                        where += " AND " + self.extra.replace("%s", mark)
                    sql = f"SELECT {self.key}, {self.select} FROM {self.table} WHERE {where}"
                    if self.sqlite:
                        cursor.execute(_as_one_row(sql), [*part, *self.extra_params])
                        found.extend(json.loads(cursor.fetchone()[0]))
                    else:
                        cursor.execute(sql, [*part, *self.extra_params])
                        found.extend(cursor.fetchall())
            finally:
                cursor.close()
            return found
        return run


def lookup(table_model: type[Model], key_column: str, values: list, **options) -> list[tuple]:
    """KeyLookup, run now on this thread."""
    return KeyLookup(table_model, key_column, **options).prepare(values)()


def _as_one_row(sql: str) -> str:
    """A SELECT of (key, columns…) rows as one row holding a JSON array of arrays.

    The sqlite3 driver gives up the GIL for every row it steps through; on a helper
    thread (BackgroundWrites) each retake then waits for the busy main thread's switch
    interval, so 20,000 found rows took longer to fetch than to find. One row, one
    handover; json.loads makes the lists at C speed. Keys are text, ids integers:
    both survive JSON unchanged."""
    select, rest = sql.split(" FROM ", 1)
    columns = select.removeprefix("SELECT ")
    return f"SELECT json_group_array(json_array({columns})) FROM (SELECT {columns} FROM {rest})"


def _lookup_range(cursor, table: str, key: str, values: list, extra: str, extra_params: tuple,
                  select: str) -> list[tuple] | None:
    """KeyLookup in one range query; None (use the IN lists) when the range between the
    smallest and largest key holds more rows than keys were asked for.

    SQLite only: it compares text bytewise (BINARY), which is the order Python sorts
    str in, so every asked key lies inside the range; PostgreSQL may sort by locale.
    """
    ordered = sorted(values)
    where = f"{key} BETWEEN ? AND ?" + (" AND " + extra.replace("%s", "?") if extra else "")
    cursor.execute(_as_one_row(f"SELECT {key}, {select} FROM {table} WHERE {where} LIMIT ?"),
                   [ordered[0], ordered[-1], *extra_params, len(values) + 1])
    rows = json.loads(cursor.fetchone()[0])
    if len(rows) > len(values):
        return None
    wanted = set(values)
    return [row for row in rows if row[0] in wanted]


# ---------------------------------------------------------------- large loads

# A load this big, and at least this share of the rows already in the table, is
# written with the table's secondary indexes set aside and rebuilt at the end.
BULK_LOAD_MIN_ROWS = 100_000
BULK_LOAD_MIN_SHARE = 0.25


class DeferredIndexes:
    """Sets a table's non-unique indexes on `columns` aside during a large load (SQLite).

    Inserting rows into an index whose keys arrive in random order (an order's
    customer, its date) costs a B-tree descent and page split per row, and that cost
    grows with the table: five million orders spent 110 s in INSERTs with the indexes
    against 26 s without them plus 15 s to rebuild them by sorting (bench/import.py).
    The indexes are dropped and recreated from their own CREATE statements inside the
    import's transaction, so a rollback brings them back untouched and readers on
    other connections (WAL) keep seeing the committed table with its indexes. Unique
    indexes always stay: they are constraints, and the import's lookups use them.

    On PostgreSQL DROP INDEX would lock readers out for the whole import, so nothing
    is set aside there.
    """

    def __init__(self, model: type[Model], columns: tuple[str, ...]):
        self.table = model._meta.db_table
        self.columns = set(columns)
        self.saved: list[str] = []

    def worthwhile(self, expected_rows: int | None) -> bool:
        if connection.vendor != "sqlite" or not expected_rows or expected_rows < BULK_LOAD_MIN_ROWS:
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT max(rowid) FROM {connection.ops.quote_name(self.table)}")
            existing = cursor.fetchone()[0] or 0  # the rowid is a cheap upper bound of the count
        return expected_rows >= existing * BULK_LOAD_MIN_SHARE

    def drop(self) -> list[str]:
        """Drops the indexes; returns their names."""
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = %s AND sql IS NOT NULL", [self.table])
            indexes = cursor.fetchall()
            dropped = []
            for name, sql in indexes:
                cursor.execute(f"PRAGMA index_info({quote(name)})")
                covered = {row[2] for row in cursor.fetchall()}
                if sql.upper().startswith("CREATE UNIQUE") or not covered & self.columns:
                    continue
                cursor.execute(f"DROP INDEX {quote(name)}")
                self.saved.append(sql)
                dropped.append(name)
        return dropped

    def restore(self) -> None:
        with connection.cursor() as cursor:
            for sql in self.saved:
                cursor.execute(sql)
        self.saved = []


SWITCH_INTERVAL = 0.0002  # seconds; Python's default is 0.005


@contextmanager
def tuned_for_loading():
    """Two interpreter settings for the length of an import, both measured with
    bench/import.py (a million orders: 22.9 → 17.5 s together):

    - the cyclic garbage collector is paused; the engine collects the young
      generations every 25 batches (`collect_batch_garbage`). A batch makes a million
      short-lived objects without cycles, and the collector's automatic passes over
      them, triggered every 700 allocations, cost more than the cleaning of a column.
    - a 0.2 ms GIL switch interval instead of 5 ms: the BackgroundWrites thread gives
      the GIL up at each statement and otherwise waits up to the interval to get it
      back from the cleaning thread, idling the database between statements.
    Both are process-wide and restored at the end.
    """
    enabled, interval = gc.isenabled(), sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if enabled:
            gc.enable()


def collect_batch_garbage() -> None:
    """What the paused collector would have found since the last call: cycles among
    the objects made since, which are all in the two young generations."""
    gc.collect(1)


@contextmanager
def sorts_on_disk():
    """Lets SQLite sort on disk for a while (temp_store=FILE instead of our MEMORY).

    Rebuilding an index (DeferredIndexes) sorts the whole table; in memory the sort's
    spill files cost +250 MB of RAM per index at five million orders, on disk the sort
    stays within the page cache and measured faster too. SQLite refuses the change
    inside a transaction, so it is made around the import's (and skipped when the
    import runs inside someone else's, as in tests).
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA temp_store")
        before = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA temp_store = FILE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA temp_store = {before}")


class BackgroundWrites:
    """Runs database work (INSERTs, and the lookups that feed them) on one helper
    thread, in the order it was submitted, so the importer reads and cleans the next
    batch while the database works on this one.

    Both drivers (sqlite3, psycopg) release the GIL while the database works, which on
    two cores hides most of that time. Jobs may only use cursors opened on the caller's
    thread (TableWriter.prepare_columns, KeyLookup.prepare): Django's `connection` is
    per thread, and another thread's connection is outside the import's transaction.
    The connection is never used from two threads at once: the caller settles (waits
    for every job) before its own next query. Errors surface on the caller's thread at
    `settle`, inside the import's transaction, which then rolls back.
    """

    def __init__(self):
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Future, Callable | None]] = []

    def submit(self, job: Callable[[], object], on_done: Callable[[object], None] | None = None):
        """Queue `job`; `on_done(result)` runs on the caller's thread at `settle`."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-db")
        self._pending.append((self._executor.submit(job), on_done))

    def settle(self) -> None:
        """Wait for every queued job; raises what the first failing one raised."""
        pending, self._pending = self._pending, []
        try:
            for future, on_done in pending:
                result = future.result()
                if on_done is not None:
                    on_done(result)
        except BaseException:
            wait([future for future, _on_done in pending])
            raise

    def close(self) -> None:
        """Wait for queued jobs without raising (the import is failing anyway) and stop
        the thread; the transaction must not end while a job is running."""
        wait([future for future, _on_done in self._pending])
        self._pending = []
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
