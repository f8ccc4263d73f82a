"""The retention rules (services.imports_clean_up, run daily by a Huey periodic task):
abandoned drafts go with their files; finished runs lose their file after N days but keep
their record, counts, failed rows and undo."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from valuecrm.customers.models import Customer
from valuecrm.imports import services
from valuecrm.imports.models import ImportRowError, ImportRun, ImportStatus
from valuecrm.imports.progress import progress_path, progress_write
from valuecrm.imports.selectors import error_csv_lines, import_file_kept

ROWS = [["name", "phone"], ["王五", "13800138000"], ["赵六", "12345"], ["钱七", "13900139000"]]


@pytest.fixture
def draft(admin_user, write_csv):
    """A configured draft, as the wizard leaves it after the mapping step."""

    def _draft(name="draft.csv", actor=None):
        actor = actor or admin_user
        path = write_csv(name, ROWS)
        with open(path, "rb") as handle:
            run = services.import_upload(actor=actor, kind="customers", name=path.name,
                                         chunks=[handle.read()])
        return services.import_configure(actor=actor, run=run, options={"mode": "partial"})

    return _draft


def age(run, **when):
    """Move a run's timestamps into the past (update() leaves auto_now alone)."""
    ImportRun.objects.filter(pk=run.pk).update(**when)
    run.refresh_from_db()
    return run


def days_ago(n, hours=0):
    return timezone.now() - timedelta(days=n, hours=hours)


def test_drafts_untouched_for_a_day_go_with_their_files(draft, admin_user):
    old = age(draft("old.csv"), updated_at=days_ago(1, hours=1))
    progress_write(old.pk, processed=3)
    recent = age(draft("recent.csv"), created_at=days_ago(5), updated_at=days_ago(0, hours=23))
    old_file, recent_file = Path(old.file_path), Path(recent.file_path)
    assert old_file.is_file() and recent_file.is_file()

    done = services.imports_clean_up()

    assert done == {"stalled_checks": 0, "drafts": 1, "files": 0, "orphan_files": 0}
    assert list(ImportRun.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not old_file.exists() and not progress_path(old.pk).exists()
    assert recent_file.is_file()  # created long ago, but worked on within the day


def test_a_draft_checked_recently_is_touched(draft, admin_user, django_capture_on_commit_callbacks):
    run = age(draft(), updated_at=days_ago(3))
    with django_capture_on_commit_callbacks(execute=True):
        services.import_analyse_start(actor=admin_user, run=run)
    run.refresh_from_db()
    assert (run.status, run.total_rows, run.failed_count) == (ImportStatus.DRAFT, 3, 1)
    assert services.imports_clean_up()["drafts"] == 0
    assert ImportRun.objects.filter(pk=run.pk).exists()


def test_stalled_checks_return_to_draft_first(draft, admin_user, django_capture_on_commit_callbacks):
    run = draft()
    with django_capture_on_commit_callbacks():  # queued, never run: the worker died
        services.import_analyse_start(actor=admin_user, run=run)
    run = age(run, updated_at=days_ago(2))

    done = services.imports_clean_up()

    run.refresh_from_db()
    assert (done["stalled_checks"], done["drafts"]) == (1, 0)
    assert run.status == ImportStatus.DRAFT and "did not finish" in run.detail
    assert Path(run.file_path).is_file()  # it counts as touched now; the user may come back


def test_finished_runs_lose_only_their_file_after_the_retention_days(
        run_import, write_csv, settings):
    settings.VALUECRM_IMPORT_FILE_RETENTION_DAYS = 7
    old = run_import(write_csv("old.csv", ROWS), mode="partial")
    young = run_import(write_csv("young.csv", ROWS[:2]), mode="partial")
    dry = run_import(write_csv("dry.csv", ROWS), dry_run=True)
    old = age(old, finished_at=days_ago(7, hours=1), created_at=days_ago(8))
    young = age(young, finished_at=days_ago(6, hours=23), created_at=days_ago(30))
    dry = age(dry, finished_at=days_ago(10))
    assert (old.status, old.created_count, old.failed_count) == (ImportStatus.SUCCEEDED, 2, 1)
    csv_before = "".join(error_csv_lines(old))
    errors_before = list(ImportRowError.objects.filter(run=old).values_list(
        "row_number", "column", "reason", "values"))

    done = services.imports_clean_up()

    assert done == {"stalled_checks": 0, "drafts": 0, "files": 2, "orphan_files": 0}
    for run in (old, young, dry):
        run.refresh_from_db()
    assert not Path(old.file_path).exists() and not Path(dry.file_path).exists()
    assert old.file_removed_at is not None and dry.file_removed_at is not None
    assert not import_file_kept(old)
    assert Path(young.file_path).is_file() and young.file_removed_at is None
    assert import_file_kept(young)
    # The record stays whole: status, counts, row errors and the failed-rows CSV.
    assert (old.status, old.total_rows, old.created_count, old.failed_count) == (
        ImportStatus.SUCCEEDED, 3, 2, 1)
    assert list(ImportRowError.objects.filter(run=old).values_list(
        "row_number", "column", "reason", "values")) == errors_before
    assert "".join(error_csv_lines(old)) == csv_before and "赵六" in csv_before

    # Nothing more to do the next day.
    assert services.imports_clean_up()["files"] == 0


def test_undo_works_after_the_file_is_removed(run_import, write_csv, admin_user):
    run = run_import(write_csv("c.csv", ROWS), mode="partial")
    assert Customer.objects.count() == 2
    age(run, finished_at=days_ago(31))
    assert services.imports_clean_up()["files"] == 1
    run.refresh_from_db()
    assert not Path(run.file_path).exists()

    services.import_undo(actor=admin_user, run=run)

    run.refresh_from_db()
    assert run.status == ImportStatus.UNDONE and Customer.objects.count() == 0


def test_running_and_queued_imports_are_left_alone(draft, admin_user):
    queued = age(draft("q.csv"), updated_at=days_ago(3), created_at=days_ago(40))
    ImportRun.objects.filter(pk=queued.pk).update(status=ImportStatus.QUEUED)
    running = age(draft("r.csv"), updated_at=days_ago(3), created_at=days_ago(40))
    # A live worker (this process) has it: its heartbeat is fresh.
    from valuecrm.common import heartbeat

    ImportRun.objects.filter(pk=running.pk).update(status=ImportStatus.RUNNING,
                                                   worker=heartbeat.worker_name(),
                                                   heartbeat_at=timezone.now())

    assert services.imports_clean_up() == {"stalled_checks": 0, "drafts": 0, "files": 0,
                                           "orphan_files": 0}
    assert Path(queued.file_path).is_file() and Path(running.file_path).is_file()
    assert ImportRun.objects.count() == 2


def test_old_files_no_run_refers_to_are_deleted(draft):
    run = draft()
    folder = services.uploads_dir()
    stray_old, stray_new = folder / "0-old-upload.csv", folder / "1-upload-in-progress.csv"
    for path in (stray_old, stray_new):
        path.write_text("name\n")
    two_days = (timezone.now() - timedelta(days=2)).timestamp()
    os.utime(stray_old, (two_days, two_days))
    os.utime(run.file_path, (two_days, two_days))  # old, but a draft touched today owns it

    assert services.imports_clean_up()["orphan_files"] == 1
    assert not stray_old.exists() and stray_new.exists() and Path(run.file_path).exists()


def test_a_path_outside_the_uploads_folder_is_never_deleted(draft, data_dir):
    outside = data_dir / "precious.csv"
    outside.write_text("name\n")
    run = draft()
    ImportRun.objects.filter(pk=run.pk).update(file_path=str(outside),
                                               updated_at=days_ago(2))

    assert services.imports_clean_up()["drafts"] == 1
    assert outside.is_file()


def test_the_clean_up_runs_daily_in_the_worker(draft):
    from valuecrm.imports.tasks import imports_clean_up_daily

    start = datetime(2026, 3, 2, tzinfo=UTC)
    minutes = [start + timedelta(minutes=m) for m in range(24 * 60)]
    assert sum(imports_clean_up_daily.task_class().validate_datetime(m) for m in minutes) == 1

    old = age(draft(), updated_at=days_ago(2))
    assert imports_clean_up_daily.call_local() == {"stalled_checks": 0, "drafts": 1, "files": 0,
                                                  "orphan_files": 0}
    assert not ImportRun.objects.filter(pk=old.pk).exists()


def test_retention_days_come_from_the_environment(monkeypatch):
    import importlib

    import valuecrm.config.settings as config

    monkeypatch.setenv("VALUECRM_IMPORT_FILE_RETENTION_DAYS", "90")
    try:
        assert importlib.reload(config).VALUECRM_IMPORT_FILE_RETENTION_DAYS == 90
        monkeypatch.delenv("VALUECRM_IMPORT_FILE_RETENTION_DAYS")
        assert importlib.reload(config).VALUECRM_IMPORT_FILE_RETENTION_DAYS == 30
    finally:
        monkeypatch.undo()
        importlib.reload(config)
