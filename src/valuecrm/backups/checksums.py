"""Row counts and content checksums of every table, the same way before a backup and
after its restore, so a restore is proven rather than assumed.

A table's checksum is the sum, modulo 2**256, of the SHA-256 of each row's canonical
text: independent of row order (no ORDER BY over a million rows, no unorderable
column types), yet any changed, missing or extra row changes it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json

MOD = 2 ** 256


def _canonical(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return "b:" + bytes(value).hex()
    if isinstance(value, dt.datetime):
        return "t:" + (value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat())
    if isinstance(value, dt.date | dt.time | dt.timedelta | decimal.Decimal):
        return f"{type(value).__name__}:{value}"
    if isinstance(value, dict | list):
        return "j:" + json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, float):
        return "f:" + repr(value)
    return value


def table_checksum(cursor, quoted_table: str) -> tuple[int, str]:
    cursor.execute(f"SELECT * FROM {quoted_table}")  # noqa: S608 - names from the catalogue
    count, total = 0, 0
    while rows := cursor.fetchmany(5000):
        for row in rows:
            text = json.dumps([_canonical(v) for v in row], default=str, ensure_ascii=False)
            total = (total + int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")) % MOD
        count += len(rows)
    return count, f"{total:064x}"


def sqlite_tables(conn) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    return [r[0] for r in rows]


def sqlite_checksums(path) -> dict[str, dict]:
    """{table: {"rows", "checksum"}} of a SQLite file (opened read-only)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = conn.cursor()
        out = {}
        for name in sqlite_tables(conn):
            rows, checksum = table_checksum(cursor, '"' + name.replace('"', '""') + '"')
            out[name] = {"rows": rows, "checksum": checksum}
        return out
    finally:
        conn.close()


def postgres_tables(cursor) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                   "ORDER BY tablename")
    return [r[0] for r in cursor.fetchall()]


def postgres_checksums(cursor) -> dict[str, dict]:
    """The same on PostgreSQL, in the cursor's transaction (one snapshot for all tables)."""
    cursor.execute("SET LOCAL TIME ZONE 'UTC'")
    out = {}
    for name in postgres_tables(cursor):
        rows, checksum = table_checksum(cursor, '"' + name.replace('"', '""') + '"')
        out[name] = {"rows": rows, "checksum": checksum}
    return out


def differences(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """Human-readable differences between two checksum tables ([] when equal)."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            problems.append(f"{name}: not in the backup")
        elif got is None:
            problems.append(f"{name}: missing after restore")
        elif want["rows"] != got["rows"]:
            problems.append(f"{name}: {got['rows']} rows, the backup has {want['rows']}")
        elif want["checksum"] != got["checksum"]:
            problems.append(f"{name}: content differs from the backup")
    return problems
