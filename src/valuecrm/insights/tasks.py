"""Background jobs: the nightly scoring run and on-demand runs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.insights.services import score_now, score_run_execute, score_runs_resume_stale


@db_task()
def score_run_task(run_id: int) -> str:
    """Execute a queued run (POST /api/v1/score-runs, the dashboard's "score now")."""
    return score_run_execute(run_id).status


def _local_hour_in_huey_clock(hour: int) -> str:
    # Huey evaluates crontabs in UTC unless configured otherwise; 02:00 means site time.
    import datetime as dt
    import zoneinfo

    from django.conf import settings

    if not settings.HUEY.get("utc", True):
        return str(hour)
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    offset = dt.datetime.now(zone).utcoffset() or dt.timedelta(0)
    return str(int((hour - offset.total_seconds() // 3600) % 24))


@db_periodic_task(crontab(hour=_local_hour_in_huey_clock(2), minute="0"))
def nightly_scoring() -> str:
    """Score everyone every night at 02:00 (site time): yesterday is the last full day."""
    from datetime import timedelta

    from django.utils import timezone

    score_runs_resume_stale()
    return score_now(as_of=timezone.localdate() - timedelta(days=1)).status
