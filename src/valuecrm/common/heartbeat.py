"""Heartbeats of long runs (imports, scoring runs): is the process doing this run alive?

A worker killed with SIGKILL (OOM killer, `kill -9`, a container stop) cannot mark its
run failed, so the run would stay "running" for ever and block the next one. While a
run works, a daemon thread touches a small file in the data dir every few seconds;
the sweep (`is_dead`) calls a run dead when that file has not been touched for
STALE_AFTER, or at once when the process that owns it is gone from this host.

Why a file and not a column: an import writes inside one transaction, so a column
updated by the import would stay invisible until the end, and on SQLite a second
connection cannot write while the import holds the only write lock. Touching a file
costs nothing, never takes a database lock and never blocks a reader. The run's
`heartbeat_at` column is set when the run starts (and where the run already writes
its progress), and `worker` names the process as "host:pid".
"""

from __future__ import annotations

import json
import os
import socket
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

# A run not heard of for this long has lost its worker.
STALE_AFTER = timedelta(seconds=int(os.environ.get("VALUECRM_HEARTBEAT_STALE_SECONDS", "60")))
# How often the beating thread touches the file (well inside STALE_AFTER).
BEAT_EVERY_SECONDS = float(os.environ.get("VALUECRM_HEARTBEAT_SECONDS", "5"))


def worker_name() -> str:
    """This process as "host:pid" (stored on the run it works on)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_path(kind: str, run_id: int) -> Path:
    return Path(settings.DATA_DIR) / "heartbeats" / f"{kind}-{int(run_id)}.json"


def beat(kind: str, run_id: int) -> None:
    """Say "still working on this run" (atomic replace: a reader never sees half a file)."""
    path = heartbeat_path(kind, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"worker": worker_name()}))
    os.replace(tmp, path)


def last_beat(kind: str, run_id: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(heartbeat_path(kind, run_id).stat().st_mtime, tz=UTC)
    except OSError:
        return None


def clear(kind: str, run_id: int) -> None:
    heartbeat_path(kind, run_id).unlink(missing_ok=True)


@contextmanager
def beating(kind: str, run_id: int, every: float | None = None):
    """Keep the run's heartbeat fresh while the block runs, from a daemon thread (so a
    long step that never returns to our code — a model fit, one big INSERT — still
    beats). The file is removed when the block ends, whichever way."""
    every = BEAT_EVERY_SECONDS if every is None else every
    stop = threading.Event()
    beat(kind, run_id)

    def loop():
        while not stop.wait(every):
            try:
                beat(kind, run_id)
            except OSError:  # a full disk must not kill the run; the sweep will judge
                pass

    thread = threading.Thread(target=loop, name=f"heartbeat-{kind}-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 1)
        clear(kind, run_id)


def _process_gone(worker: str) -> bool:
    """True when `worker` ("host:pid") ran on this host and that pid no longer exists (or
    is a zombie). Unknown or other hosts: False (only the heartbeat's age can tell)."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    pid_number = int(pid)
    if pid_number == os.getpid():
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child its parent has not reaped yet is a zombie: dead for our purpose
        state = Path(f"/proc/{pid_number}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def is_dead(kind: str, run_id: int, *, worker: str, heartbeat_at: datetime | None,
            now: datetime | None = None, stale_after: timedelta | None = None) -> bool:
    """Whether the process working on this run is gone: its pid has vanished from this
    host, or neither the file nor the run's `heartbeat_at` moved for `stale_after`."""
    if _process_gone(worker):
        return True
    now = now or datetime.now(tz=UTC)
    stale_after = STALE_AFTER if stale_after is None else stale_after
    beats = [t for t in (last_beat(kind, run_id), heartbeat_at) if t is not None]
    if not beats:
        return True
    return now - max(beats) > stale_after
