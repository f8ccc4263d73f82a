"""Background jobs: the nightly scoring run and on-demand runs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.common.datetimes import site_hour_in_huey_clock
from valuecrm.insights.services import (
    score_now,
    score_run_execute,
    score_runs_recover,
    score_runs_resume_stale,
)


@db_task()
def score_run_task(run_id: int) -> str:
    """Execute a queued run (POST /api/v1/score-runs, the dashboard's "score now")."""
    return score_run_execute(run_id).status


@db_periodic_task(crontab(hour=site_hour_in_huey_clock(2), minute="0"))
def nightly_scoring() -> str:
    """Score everyone every night at 02:00 (site time): yesterday is the last full day."""
    from datetime import timedelta

    from django.utils import timezone

    score_runs_resume_stale()
    return score_now(as_of=timezone.localdate() - timedelta(days=1)).status


@db_periodic_task(crontab(minute="*"))
def score_runs_recover_sweep() -> list[int]:
    """Every minute: fail the runs whose worker died, so they never block the next one."""
    return score_runs_recover()
