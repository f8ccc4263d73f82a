"""Plain multi-row INSERT … RETURNING id for large imports.

The ORM's bulk_create builds a model instance per row and, on SQLite, sends only
999 parameters per statement; a million-row import spends most of its time there.
Here each column's default and database form are worked out once, rows are
tuples, and each statement carries as many rows as the database accepts. The ids
come back in insert order (SQLite ≥ 3.35 and PostgreSQL both return them so, and
Django's bulk_create relies on the same).
"""

import json
from datetime import UTC
from itertools import chain, repeat

from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

SQLITE_MAX_VARIABLES = 32766
POSTGRES_MAX_VARIABLES = 65535


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
        self.connection = connection
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.fields: list[Field] = fields
        self.given = [f for f in fields if f.attname in columns or f.name in columns]
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
            self.constant[f.attname] = f.get_db_prep_save(value, connection)
        # Which given columns need conversion (CharFields go as they are).
        self.converters = [self._converter(f) for f in self.given]
        quote = connection.ops.quote_name
        self.columns = [f.column for f in fields]
        self.order = fields
        self.table = quote(model._meta.db_table)
        self.column_sql = ", ".join(quote(c) for c in self.columns)
        self.rows_per_statement = max(1, min(2000, max_variables() // len(self.columns)))
        self.pk_column = quote(model._meta.pk.column)

    @staticmethod
    def _converter(f: Field):
        kind = f.get_internal_type()
        if kind in ("CharField", "TextField", "BigIntegerField", "ForeignKey", "IntegerField",
                    "BooleanField", "PositiveIntegerField", "SlugField"):
            return None
        if connection.vendor == "sqlite":
            # The same text the SQLite backend would store, without its per-value dispatch.
            if kind == "DateField":
                return lambda v: v.isoformat()
            if kind == "JSONField" and f.encoder is None:
                return lambda v: "{}" if type(v) is dict and not v else json.dumps(v)
            if kind == "DecimalField":
                return str
            if kind == "DateTimeField":
                # Django stores aware datetimes on SQLite as naive UTC text, "YYYY-MM-DD HH:MM:SS".
                return lambda v: str(v.astimezone(UTC).replace(tzinfo=None)) \
                    if getattr(v, "tzinfo", None) else f.get_db_prep_save(v, connection)
        return lambda v, f=f: f.get_db_prep_save(v, connection)

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
        built = []
        for f in self.order:
            if f not in self.given:
                built.append(repeat(self.constant[f.attname], count))
                continue
            convert = self.converters[self.given.index(f)]
            default = None if f.null else self.constant_default(f)
            if default is not None and convert is not None:
                default = convert(default)
            given = columns.get(f.attname, columns.get(f.name))
            if not isinstance(given, list):
                value = default if given is None else (convert(given) if convert else given)
                built.append(repeat(value, count))
            elif convert is None:
                built.append([default if v is None else v for v in given])
            else:
                built.append([default if v is None else convert(v) for v in given])
        tuples = list(zip(*built, strict=True))
        ids: list[int] = []
        width = len(self.columns)
        sqlite = connection.vendor == "sqlite"
        mark = "?" if sqlite else "%s"
        placeholder = "(" + ", ".join([mark] * width) + ")"
        connection.ensure_connection()
        # On SQLite the driver's own cursor: Django's wrapper rewrites %s → ? with a regex
        # over the whole statement, which for 30,000 placeholders costs more than the insert.
        cursor = connection.connection.cursor() if sqlite else connection.cursor()
        try:
            full_sql = None
            for start in range(0, len(tuples), self.rows_per_statement):
                chunk = tuples[start:start + self.rows_per_statement]
                if len(chunk) == self.rows_per_statement and full_sql:
                    sql = full_sql
                else:
                    sql = (f"INSERT INTO {self.table} ({self.column_sql}) VALUES "
                           + ", ".join([placeholder] * len(chunk)) + f" RETURNING {self.pk_column}")
                    if len(chunk) == self.rows_per_statement:
                        full_sql = sql
                cursor.execute(sql, list(chain.from_iterable(chunk)))
                ids.extend(r[0] for r in cursor.fetchall())
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


def lookup(table_model: type[Model], key_column: str, values: list, *, extra: str = "",
           extra_params: tuple = (), select: str = "id", chunk: int = 0) -> list[tuple]:
    """Rows (key, *select columns) of `table_model` whose `key_column` is in `values`,
    one query per chunk (as many keys as the database takes, up to 5,000), through the
    driver's cursor (no ORM compilation per batch)."""
    chunk = chunk or max(1, min(5000, max_variables() - len(extra_params)))
    quote = connection.ops.quote_name
    table = quote(table_model._meta.db_table)
    sqlite = connection.vendor == "sqlite"
    mark = "?" if sqlite else "%s"
    connection.ensure_connection()
    cursor = connection.connection.cursor() if sqlite else connection.cursor()
    found: list[tuple] = []
    try:
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            where = f"{quote(key_column)} IN ({', '.join([mark] * len(part))})"
            if extra:
                where += " AND " + extra.replace("%s", mark)
            cursor.execute(f"SELECT {quote(key_column)}, {select} FROM {table} WHERE {where}",
                           [*part, *extra_params])
            found.extend(cursor.fetchall())
    finally:
        cursor.close()
    return found
