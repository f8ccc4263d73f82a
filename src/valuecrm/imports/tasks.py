"""Background jobs (Huey): a queued import, the whole-file check of a draft, an undo, the
sweep of runs whose worker died, and the daily clean-up of abandoned drafts and old
uploaded files."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.common.datetimes import site_hour_in_huey_clock
from valuecrm.common.errors import Conflict
from valuecrm.imports.services import (
    import_analyse_execute,
    import_execute,
    import_runs_recover,
    import_undo_execute,
    imports_clean_up,
)

# While another worker holds the import lock, a queued import waits this long and tries again.
BUSY_RETRY_SECONDS = 30


@db_task()
def import_run_task(run_id: int, language: str | None = None) -> str:
    try:
        return import_execute(run_id, language).status
    except Conflict:
        import_run_task.schedule((run_id, language), delay=BUSY_RETRY_SECONDS)
        return "waiting"


@db_task()
def import_analyse_task(run_id: int, actor_id: int | None = None,
                        language: str | None = None) -> str:
    run = import_analyse_execute(run_id, actor_id, language)
    return run.status if run is not None else "missing"


@db_periodic_task(crontab(hour=site_hour_in_huey_clock(4), minute="15"))
def imports_clean_up_daily() -> dict[str, int]:
    """Every day at 04:15 (site time), after the nightly scoring: the retention rules."""
    return imports_clean_up()


@db_task()
def import_undo_task(run_id: int, actor_id: int, language: str | None = None) -> str:
    run = import_undo_execute(run_id, actor_id, language)
    return run.status if run is not None else "missing"


@db_periodic_task(crontab(minute="*"))
def import_runs_recover_sweep() -> int:
    """Every minute: fail the runs whose worker died (no heartbeat for a minute)."""
    return import_runs_recover()
