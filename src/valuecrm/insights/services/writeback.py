"""Fast bulk inserts for score snapshots (executemany on the Django connection).

At 100k customers per run, building model instances for bulk_create costs more
than the database work; plain parameter tuples through executemany do not.
"""

from __future__ import annotations

from django.db import connection

BATCH = 5000


def insert_rows(model, columns: list[str], rows: list[tuple]) -> None:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start:start + BATCH])
