"""Fast bulk inserts for score snapshots (executemany on the Django connection).

At 100k customers per run, building model instances for bulk_create costs more
than the database work; plain parameter tuples through executemany do not. Rows
may come from a generator: only one batch of parameter tuples exists at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from django.db import connection

BATCH = 5000


def insert_rows(model, columns: list[str], rows: Iterable[tuple]) -> None:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    rows = iter(rows)
    with connection.cursor() as cursor:
        while batch := list(islice(rows, BATCH)):
            cursor.executemany(sql, batch)
