"""The job lock holds across processes, and is gone when its holder dies."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from valuecrm.common.errors import Conflict
from valuecrm.common.locks import lock_dir, lock_is_held
from valuecrm.insights.models import RunStatus
from valuecrm.insights.services import score_run_create, score_run_execute

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from valuecrm.cli import django_setup
django_setup()
from valuecrm.common.locks import job_lock
with job_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(db, settings, tmp_path):
    """Start another process holding a named lock (same database / same lock dir as this test)."""
    settings.VALUECRM_LOCK_DIR = tmp_path / "locks"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"PYTHONPATH": str(ROOT / "src"), "VALUECRM_LOCK_DIR": str(lock_dir()),
                "VALUECRM_DATA_DIR": str(tmp_path / "data")})
    if connection.vendor == "postgresql":  # advisory locks are per database: the test database
        s = connection.settings_dict
        env["DATABASE_URL"] = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    started = []

    def _start(name):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, name], env=env, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield _start
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_run_waits_while_another_process_scores_then_runs_when_it_dies(holder):
    proc = holder("scoring")
    assert lock_is_held("scoring")
    run = score_run_create()
    with pytest.raises(Conflict):
        score_run_execute(run)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED  # untouched, to be executed later

    proc.kill()  # kill -9: the server (or the kernel) drops the lock with the process
    proc.wait()
    deadline = time.monotonic() + 30
    while lock_is_held("scoring") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert score_run_execute(run).status == RunStatus.SUCCEEDED


def test_locks_are_per_name(holder):
    holder("imports")
    assert lock_is_held("imports")
    assert not lock_is_held("scoring")
