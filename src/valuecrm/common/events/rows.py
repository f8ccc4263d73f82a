"""Multi-row INSERTs for the high-volume bookkeeping tables (outbox, receipts, run log).

`bulk_create` instantiates a model per row and prepares every field of every row through
the SQL compiler; for hundreds of thousands of rows that is most of a bulk action's time.
`insert_rows` sends one prepared statement with `executemany` instead: the values are
converted once per column with the field's own `get_db_prep_save` (so UUIDs, JSON and
datetimes are stored exactly as the ORM stores them), and no variable limit applies
(each execution binds one row). No signals are sent — as with `bulk_create`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction
from django.db.models import Expression, ForeignKey
from django.db.models.constants import OnConflict

# Stored as given by every backend we support: no per-value conversion needed.
_PASS_THROUGH = {
    "CharField", "TextField", "BigIntegerField", "IntegerField", "SmallIntegerField", "PositiveIntegerField",
    "PositiveSmallIntegerField", "PositiveBigIntegerField", "FloatField", "ForeignKey", "BigAutoField", "AutoField",
}
CHUNK = 5000


def insert_rows(model, fields: Sequence[str], rows: Iterable[Sequence], *, ignore_conflicts: bool = False) -> None:
    """INSERT `rows` (tuples in the order of `fields`, attribute names) into `model`'s table;
    the other columns get their field's default (one value for all rows: no callables
    that must differ per row, e.g. uuid4 — pass those; an `auto_now` field has no
    default: pass it too).
    With `ignore_conflicts`, rows that break a unique constraint are skipped (like
    `bulk_create(ignore_conflicts=True)`)."""
    db, connection, sql, _placeholder, _columns, converters, defaults = _prepared(model, fields, ignore_conflicts)
    batch: list = []
    # One transaction (a savepoint-free atomic block): in autocommit mode every row would
    # otherwise be its own transaction, and a failure would leave the rows before it.
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        for row in rows:
            batch.append(_row(row, defaults, converters))
            if len(batch) >= CHUNK:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def insert_rows_returning_ids(model, fields: Sequence[str], rows: Iterable[Sequence]) -> list[int]:
    """Like insert_rows, and the new primary keys in the order of `rows` (for the events
    that name them). Multi-row INSERTs as large as the database takes: the ids come from
    RETURNING on PostgreSQL (Django's bulk_create relies on the same order) and on SQLite
    from last_insert_rowid, since one INSERT numbers its rows one after another."""
    db, connection, _sql, placeholder, columns, converters, defaults = _prepared(model, fields, False)
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    sqlite = connection.vendor == "sqlite"
    per_statement = max(1, min(ROWS_PER_STATEMENT, _max_variables(connection) // placeholder.count("%s")))
    ids: list[int] = []
    statements: dict[int, str] = {}

    def run(cursor, batch):
        sql = statements.get(len(batch))
        if sql is None:
            sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholder] * len(batch))
            if not sqlite:
                sql += f" RETURNING {pk}"
            statements[len(batch)] = sql
        cursor.execute(sql, [value for row in batch for value in row])
        if sqlite:
            last = cursor.lastrowid
            ids.extend(range(last - len(batch) + 1, last + 1))
        else:
            ids.extend(r[0] for r in cursor.fetchall())

    batch: list = []
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        for row in rows:
            batch.append(_row(row, defaults, converters))
            if len(batch) >= per_statement:
                run(cursor, batch)
                batch = []
        if batch:
            run(cursor, batch)
    return ids


ROWS_PER_STATEMENT = 2000


def _max_variables(connection) -> int:
    """How many variables one statement may bind (rows × columns)."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 65535  # PostgreSQL's protocol limit


def _row(row, defaults, converters):
    if defaults:
        row = (*row, *defaults)
    if converters:
        row = list(row)
        for i, prep in converters:
            if row[i] is not None:
                row[i] = prep(row[i])
    return row


def _prepared(model, fields, ignore_conflicts):
    """(db, connection, single-row INSERT sql, its "(%s, …)", the column list, per-column
    converters, the defaults of the columns not given)."""
    db = router.db_for_write(model)
    connection = connections[db]
    opts = model._meta
    model_fields = [opts.get_field(name) for name in fields]
    # The columns not given get their field's default, evaluated once (the database has no
    # defaults: Django applies them in Python).
    given = {f.name for f in model_fields}
    rest = [f for f in opts.concrete_fields if f.name not in given and not f.primary_key]
    defaults = tuple(f.get_default() for f in rest)
    model_fields += rest
    qn = connection.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    columns = ", ".join(qn(f.column) for f in model_fields)
    placeholder = "({})".format(", ".join(["%s"] * len(model_fields)))
    insert = connection.ops.insert_statement(on_conflict=on_conflict)
    sql = f"{insert} {qn(opts.db_table)} ({columns}) VALUES {placeholder}"
    suffix = connection.ops.on_conflict_suffix_sql(model_fields, on_conflict, None, None)
    if suffix:
        sql = f"{sql} {suffix}"
    converters = [
        (i, _converter(f, connection)) for i, f in enumerate(model_fields) if f.get_internal_type() not in _PASS_THROUGH
    ]
    return db, connection, sql, placeholder, columns, converters, defaults


_HEX_DIGITS = frozenset("0123456789abcdef")


def _uuid_hex(value) -> str:
    """A UUID as SQLite stores it; a UUID given as its 32-digit lower-case hex (the form the
    envelopes carry) is taken as it is, without parsing."""
    if isinstance(value, str) and len(value) == 32 and _HEX_DIGITS.issuperset(value):
        return value
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(value).hex


def _converter(field, connection):
    """The field's own conversion, with two shortcuts that give the same value: UUIDs as hex
    where the backend has no UUID type, and a value repeated across rows (the same `now`,
    a default) converted once."""
    if field.get_internal_type() == "UUIDField" and not connection.features.has_native_uuid_field:
        return _uuid_hex
    prep = field.get_db_prep_save
    if (field.get_internal_type() == "JSONField" and connection.vendor == "sqlite" and field.encoder is None
            and not getattr(field, "encrypted", False)):
        # What JSONField.get_db_prep_save gives on SQLite (json.dumps of the value), without
        # the expression checks around it: run-log rows carry three JSON columns each.
        def prep(value, connection, dumps=json.dumps):
            return dumps(value)
    last: list = [None, None]

    def convert(value):
        if value is last[0]:
            return last[1]
        out = prep(value, connection)
        if not isinstance(value, dict | list):  # mutable: could change between rows
            last[0], last[1] = value, out
        return out

    return convert


class _ValuesIn(Expression):
    """`SELECT value FROM json_each(%s)` (SQLite) / `SELECT unnest(%s::type[])` (PostgreSQL):
    a list of values as one parameter."""

    def __init__(self, field, values):
        super().__init__(output_field=field)
        self.values = values

    def as_sql(self, compiler, connection):
        if connection.vendor == "sqlite":
            return "SELECT value FROM json_each(%s)", [json.dumps(self.values)]
        return f"SELECT unnest(%s::{self.output_field.db_type(connection)}[])", [self.values]


def ids_in(model, field_name: str, values: Sequence):
    """The right-hand side of `filter(<field>__in=…)` for thousands of keys sent as one
    parameter: Django prepares each value of a plain list on its own (most of the cost of
    an `event_id IN (…2,000 UUIDs…)` look-up) and the database parses one placeholder per
    value. `values` must already be in their database form: integers, or UUIDs as hex."""
    field = model._meta.get_field(field_name)
    if isinstance(field, ForeignKey):
        field = field.target_field
    return _ValuesIn(field, list(values))
