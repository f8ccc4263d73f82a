"""Multi-row INSERTs for the high-volume bookkeeping tables (outbox, receipts, run log).

`bulk_create` instantiates a model per row and prepares every field of every row through
the SQL compiler; for hundreds of thousands of rows that is most of a bulk action's time.
`insert_rows` sends one prepared statement with `executemany` instead: the values are
converted once per column with the field's own `get_db_prep_save` (so UUIDs, JSON and
datetimes are stored exactly as the ORM stores them), and no variable limit applies
(each execution binds one row). No signals are sent — as with `bulk_create`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction
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
    that must differ per row, e.g. uuid4 — pass those).
    With `ignore_conflicts`, rows that break a unique constraint are skipped (like
    `bulk_create(ignore_conflicts=True)`)."""
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
    sql = "{} {} ({}) VALUES ({})".format(
        connection.ops.insert_statement(on_conflict=on_conflict), qn(opts.db_table),
        ", ".join(qn(f.column) for f in model_fields), ", ".join(["%s"] * len(model_fields)))
    suffix = connection.ops.on_conflict_suffix_sql(model_fields, on_conflict, None, None)
    if suffix:
        sql = f"{sql} {suffix}"
    converters = [
        (i, _converter(f, connection)) for i, f in enumerate(model_fields) if f.get_internal_type() not in _PASS_THROUGH
    ]
    batch: list = []
    # One transaction (a savepoint-free atomic block): in autocommit mode every row would
    # otherwise be its own transaction, and a failure would leave the rows before it.
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        for row in rows:
            if defaults:
                row = (*row, *defaults)
            if converters:
                row = list(row)
                for i, prep in converters:
                    if row[i] is not None:
                        row[i] = prep(row[i])
            batch.append(row)
            if len(batch) >= CHUNK:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _converter(field, connection):
    """The field's own conversion, with two shortcuts that give the same value: UUIDs as hex
    where the backend has no UUID type, and a value repeated across rows (the same `now`,
    a default) converted once."""
    if field.get_internal_type() == "UUIDField" and not connection.features.has_native_uuid_field:
        return lambda value: value.hex
    prep = field.get_db_prep_save
    last: list = [None, None]

    def convert(value):
        if value is last[0]:
            return last[1]
        out = prep(value, connection)
        if not isinstance(value, dict | list):  # mutable: could change between rows
            last[0], last[1] = value, out
        return out

    return convert
