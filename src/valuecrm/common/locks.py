"""Job locks that hold across processes and machines: one scoring run, one import at a time.

Several workers (and the CLI) may pick up jobs at once in the production profile.
A lock must be released when its holder dies (kill -9, OOM, a lost machine), or a
crashed run would block every later one:

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``); the server
  drops it when the holder's connection ends.
* SQLite (one machine by construction): an exclusive ``flock`` on a file next to the
  database; the kernel drops it when the holder's process ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection


class LockHeld(Exception):
    """Another process holds the lock."""


def _key(name: str) -> int:
    # A stable signed 64-bit key per lock name (advisory locks take a bigint).
    return int.from_bytes(hashlib.sha256(f"valuecrm:{name}".encode()).digest()[:8], "big", signed=True)


def lock_dir() -> Path:
    path = Path(getattr(settings, "VALUECRM_LOCK_DIR", None) or Path(settings.DATA_DIR) / "locks")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def job_lock(name: str) -> Iterator[None]:
    """Hold the lock ``name`` for the block, or raise :class:`LockHeld` at once."""
    if connection.vendor == "postgresql":
        key = _key(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise LockHeld(name)
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    fd = os.open(lock_dir() / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(name) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_is_held(name: str) -> bool:
    """Whether some process holds ``name`` right now (for status pages and tests)."""
    try:
        with job_lock(name):
            return False
    except LockHeld:
        return True
