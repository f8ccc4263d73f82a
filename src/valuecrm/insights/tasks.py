"""Background jobs: the nightly scoring run and on-demand runs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from valuecrm.common.datetimes import site_hour_in_huey_clock
from valuecrm.common.errors import Conflict
from valuecrm.insights.services import (
    score_now,
    score_run_execute,
    score_runs_recover,
    score_runs_resume_stale,
)

# While another worker holds the scoring lock, a queued run waits this long and tries again.
BUSY_RETRY_SECONDS = 60


@db_task()
def score_run_task(run_id: int) -> str:
    """Execute a queued run (POST /api/v1/score-runs, the dashboard's "score now")."""
    try:
        return score_run_execute(run_id).status
    except Conflict:
        score_run_task.schedule((run_id,), delay=BUSY_RETRY_SECONDS)
        return "waiting"


@db_periodic_task(crontab(hour=site_hour_in_huey_clock(2), minute="0"))
def nightly_scoring() -> str:
    """Score everyone every night at 02:00 (site time): yesterday is the last full day."""
    from datetime import timedelta

    from django.utils import timezone

    score_runs_resume_stale()
    try:
        return score_now(as_of=timezone.localdate() - timedelta(days=1)).status
    except Conflict:  # a run started by hand is still going; tonight's is left to it
        return "busy"


@db_periodic_task(crontab(minute="*"))
def score_runs_recover_sweep() -> list[int]:
    """Every minute: fail the runs whose worker died, so they never block the next one."""
    return score_runs_recover()


@HUEY.on_startup()
def fail_orphaned_runs() -> None:
    """A starting worker marks runs a dead worker left 'running' as failed (scores
    untouched): by the job lock, which also covers workers on other machines, where the
    heartbeat's process check cannot look."""
    from django.db import close_old_connections

    from valuecrm.insights.services.scoring import score_runs_fail_orphaned

    score_runs_fail_orphaned()
    close_old_connections()
