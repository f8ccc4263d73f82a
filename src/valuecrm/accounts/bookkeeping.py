"""Writes a read must never wait for: "last used" times and sign-in bookkeeping.

SQLite has one writer. While an import or a scoring run holds the write lock, a request
that only *reads* must not queue behind it just to note when a token was last used or
when a user last signed in. These writes are made in their own short transaction that
gives up at once when the database is busy (the next request tries again): the SQLite
busy timeout drops to a few milliseconds, PostgreSQL gets a `lock_timeout`.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

# How stale a "last used" time may get before a request refreshes it.
TOUCH_EVERY = timedelta(minutes=5)
_GIVE_UP_MS = 50


def write_unless_busy(write: Callable[[], object]) -> bool:
    """Run `write` in a short transaction of its own; False (nothing written) when busy."""
    if connection.in_atomic_block:
        # Inside someone's transaction (a test, a bulk job): a savepoint is enough and a
        # lock is already held or not needed.
        try:
            with transaction.atomic():
                write()
            return True
        except DatabaseError:
            log.info("bookkeeping write skipped: database busy")
            return False
    vendor = connection.vendor
    try:
        if vendor == "sqlite":
            with _sqlite_busy_timeout(_GIVE_UP_MS):
                with transaction.atomic():
                    write()
        else:
            with transaction.atomic():
                if vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL lock_timeout = '{_GIVE_UP_MS}ms'")
                write()
        return True
    except DatabaseError:
        log.info("bookkeeping write skipped: database busy")
        return False


class _sqlite_busy_timeout:
    def __init__(self, ms: int):
        self.ms = ms

    def __enter__(self):
        connection.ensure_connection()
        with connection.cursor() as cursor:
            self.before = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            cursor.execute(f"PRAGMA busy_timeout = {int(self.ms)}")

    def __exit__(self, *exc):
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(self.before)}")
        return False


def is_stale(moment, now=None) -> bool:
    return moment is None or (now or timezone.now()) - moment >= TOUCH_EVERY


def user_last_login_touch(sender, user, **kwargs) -> None:
    """Replaces Django's update_last_login: at most every few minutes, never waiting."""
    now = timezone.now()
    if not is_stale(user.last_login, now):
        return
    model = type(user)
    if write_unless_busy(lambda: model.objects.filter(pk=user.pk).update(last_login=now)):
        user.last_login = now
