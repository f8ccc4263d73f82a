"""Heartbeats and the sweep, in-process: when a run counts as dead, what the sweep does
to each kind of run, and the undo that runs in the worker with progress."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from valuecrm.common import heartbeat
from valuecrm.customers.models import ContactPoint, Customer
from valuecrm.imports import services
from valuecrm.imports.models import ImportRun, ImportStatus
from valuecrm.insights.models import RunStatus, ScoreRun
from valuecrm.insights.services import ensure_not_running, score_runs_recover

HOST = heartbeat.worker_name().rpartition(":")[0]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def gone_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_is_alive_while_its_process_beats(db):
    now = timezone.now()
    heartbeat.beat("import", 1)
    assert not heartbeat.is_dead("import", 1, worker=heartbeat.worker_name(), heartbeat_at=None)
    # Another host: only the age of the beat can tell.
    assert not heartbeat.is_dead("import", 2, worker="elsewhere:1", heartbeat_at=now)
    assert heartbeat.is_dead("import", 2, worker="elsewhere:1",
                             heartbeat_at=now - dt.timedelta(seconds=61))
    assert heartbeat.is_dead("import", 1, worker="elsewhere:1", heartbeat_at=None,
                             now=now + dt.timedelta(seconds=61))
    assert heartbeat.is_dead("import", 3, worker="", heartbeat_at=None)  # never beat at all


def test_a_vanished_or_zombie_process_is_dead_at_once(gone_pid):
    fresh = timezone.now()
    assert heartbeat.is_dead("score", 1, worker=f"{HOST}:{gone_pid}", heartbeat_at=fresh)
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not heartbeat.is_dead("score", 1, worker=f"{HOST}:{zombie.pid}", heartbeat_at=fresh)
        os.kill(zombie.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not heartbeat.is_dead(
                "score", 1, worker=f"{HOST}:{zombie.pid}", heartbeat_at=fresh):
            time.sleep(0.02)
        assert heartbeat.is_dead("score", 1, worker=f"{HOST}:{zombie.pid}", heartbeat_at=fresh)
    finally:
        zombie.wait()


def test_beating_keeps_the_file_fresh_and_removes_it_at_the_end():
    path = heartbeat.heartbeat_path("import", 9)
    with heartbeat.beating("import", 9, every=0.05):
        first = path.stat().st_mtime_ns
        deadline = time.monotonic() + 5
        while path.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_mtime_ns > first  # beats without the run's code doing anything
    assert not path.exists()


def _run(admin_user, status, worker, **fields):
    return ImportRun.objects.create(kind="customers", status=status, created_by=admin_user,
                                    file_path="/nonexistent", original_name="c.csv",
                                    worker=worker, heartbeat_at=timezone.now(), **fields)


def test_the_sweep_fails_imports_and_undos_whose_worker_died(admin_user, gone_pid):
    dead = f"{HOST}:{gone_pid}"
    running = _run(admin_user, ImportStatus.RUNNING, dead)
    undoing = _run(admin_user, ImportStatus.UNDOING, dead)
    checking = _run(admin_user, ImportStatus.ANALYSING, dead)
    alive = _run(admin_user, ImportStatus.RUNNING, heartbeat.worker_name())
    waiting = _run(admin_user, ImportStatus.ANALYSING, "")  # no worker has taken it yet

    assert services.import_runs_recover() == 3
    states = {r.pk: (r.status, r.detail_code) for r in ImportRun.objects.all()}
    assert states[running.pk] == (ImportStatus.FAILED, "worker_stopped")
    assert states[undoing.pk] == (ImportStatus.SUCCEEDED, "undo_worker_stopped")
    assert states[checking.pk][0] == ImportStatus.DRAFT
    assert states[alive.pk][0] == ImportStatus.RUNNING
    assert states[waiting.pk][0] == ImportStatus.ANALYSING
    running.refresh_from_db()
    assert "nothing was written" in running.detail_text
    assert services.import_runs_recover() == 0  # idempotent


def test_a_dead_scoring_run_never_blocks_the_next(db, gone_pid):
    dead = ScoreRun.objects.create(as_of=dt.date(2025, 1, 1), status=RunStatus.RUNNING,
                                   worker=f"{HOST}:{gone_pid}", heartbeat_at=timezone.now())
    live = ScoreRun.objects.create(as_of=dt.date(2025, 1, 2), status=RunStatus.RUNNING,
                                   worker=heartbeat.worker_name(), heartbeat_at=timezone.now())
    assert score_runs_recover() == [dead.pk]
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "worker stopped" in dead.error
    ScoreRun.objects.filter(pk=live.pk).update(status=RunStatus.FAILED)
    ensure_not_running()  # no 409: nothing alive is running


def test_the_run_status_poll_shows_a_dead_run_as_failed(client, admin_user, gone_pid):
    dead = ScoreRun.objects.create(as_of=dt.date(2025, 1, 1), status=RunStatus.RUNNING,
                                   worker=f"{HOST}:{gone_pid}", heartbeat_at=timezone.now())
    client.force_login(admin_user)
    html = client.get("/value/status/").content.decode()
    assert 'data-run-status="failed"' in html and "hx-trigger" not in html
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED


def _import_customers(admin_user, tmp_path, n):
    path = tmp_path / "c.csv"
    path.write_text("name,email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(n)))
    with open(path, "rb") as handle:
        run = services.import_upload(actor=admin_user, kind="customers", name="c.csv",
                                     chunks=[handle.read()])
    run = services.import_configure(actor=admin_user, run=run)
    return services.import_run_now(actor=admin_user, run=run)


def test_undo_runs_in_the_worker_and_reports_progress(admin_user, tmp_path, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    run = _import_customers(admin_user, tmp_path, 120)
    assert Customer.objects.count() == 120
    monkeypatch.setattr(services, "UNDO_BATCH", 50)
    seen = []
    real_write = services.progress_write
    monkeypatch.setattr(services, "progress_write",
                        lambda run_id, **values: (seen.append(values), real_write(run_id, **values)))
    monkeypatch.setattr(services, "UNDO_REPORT_EVERY", 0)
    created = Customer.objects.count() + ContactPoint.objects.count()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        started = services.import_undo_start(actor=admin_user, run=run)
    assert started.status == ImportStatus.UNDOING  # the request returns at once
    assert Customer.objects.count() == 120
    for callback in queued:
        callback()  # the worker (Huey runs the task inline in tests)
    run.refresh_from_db()
    assert run.status == ImportStatus.UNDONE and Customer.objects.count() == 0
    assert {v["undo_total"] for v in seen} == {created} and created == 240
    done = [v["undo_done"] for v in seen]
    assert done[0] == 0 and done[-1] == created and done == sorted(done) and len(done) >= 6


def test_an_undo_that_cannot_be_done_returns_the_run_with_the_reason(
        admin_user, tmp_path, django_capture_on_commit_callbacks):
    run = _import_customers(admin_user, tmp_path, 3)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        services.import_undo_start(actor=admin_user, run=run)
    admin_user.delete()  # whoever asked is gone before the worker gets to it
    for callback in queued:
        callback()
    run.refresh_from_db()
    assert run.status == ImportStatus.SUCCEEDED and "no longer exists" in run.detail
    assert Customer.objects.count() == 3


def test_the_undo_page_polls_while_the_worker_undoes(client, admin_user, tmp_path,
                                                     django_capture_on_commit_callbacks):
    run = _import_customers(admin_user, tmp_path, 3)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/imports/{run.pk}/undo/")
    services.progress_write(run.pk, undo_done=1, undo_total=3)
    html = client.get(f"/imports/{run.pk}/progress/").content.decode()
    assert "hx-trigger" in html and "Undoing: 1 of 3 records" in html
