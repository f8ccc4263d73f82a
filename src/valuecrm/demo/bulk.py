"""Raw multi-row inserts for generated data.

Django's bulk_create builds a model instance per row; at a million orders that
alone takes minutes. Generated rows are already clean, so they go straight to
`executemany` with ids assigned here (the caller holds the write transaction,
so nobody else takes those ids), and PostgreSQL sequences are moved past them at
the end.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
from django.core.management.color import no_style
from django.db import connection
from django.db.models import Max

from valuecrm.common.encryption import blind_index_fields

BATCH = 5000


def next_id(model) -> int:
    return (model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1


def insert_rows(model, fields: Sequence[str], rows: Iterable[Sequence], batch: int = BATCH) -> int:
    """INSERT rows (tuples in `fields` order, values already database-ready)."""
    opts = model._meta
    fields, rows = _encrypting(model, list(fields), rows)
    columns = [opts.get_field(name).column for name in fields]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(opts.db_table), ", ".join(quote(c) for c in columns), ", ".join(["%s"] * len(columns))
    )
    count = 0
    chunk: list = []
    with connection.cursor() as cursor:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                cursor.executemany(sql, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)
            count += len(chunk)
    return count


def _encrypting(model, fields: list[str], rows: Iterable[Sequence]):
    """Encrypted columns (common/encryption.py) encrypted, and their blind indexes added."""
    opts = model._meta
    encrypted = [(i, opts.get_field(name)) for i, name in enumerate(fields)
                 if getattr(opts.get_field(name), "encrypted", False)]
    if not encrypted:
        return fields, rows
    indexes = [(fields.index(f.source), f) for f in blind_index_fields(model) if f.source in fields]

    def transformed():
        for row in rows:
            row = list(row)
            extra = [f.compute(row[i]) for i, f in indexes]
            for i, f in encrypted:
                row[i] = f.get_db_prep_save(row[i], connection)
            yield (*row, *extra)
    return [*fields, *(f.name for _i, f in indexes)], transformed()


def reset_sequences(models: Sequence) -> None:
    """Move auto-increment sequences past explicitly inserted ids (PostgreSQL; no-op on SQLite)."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def db_datetimes(epoch_seconds: np.ndarray) -> list:
    """UTC epoch seconds → the values the current backend stores for an aware DateTimeField.

    SQLite keeps naive UTC text 'YYYY-MM-DD HH:MM:SS' (what Django writes and compares
    against); other backends take aware datetimes.
    """
    seconds = np.asarray(epoch_seconds, dtype="int64")
    if connection.vendor == "sqlite":
        text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
        return np.char.replace(text, "T", " ").tolist()
    return [datetime.fromtimestamp(int(s), tz=UTC) for s in seconds]


def db_datetime(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def db_date(value):
    return connection.ops.adapt_datefield_value(value)
