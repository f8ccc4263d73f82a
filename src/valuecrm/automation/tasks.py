"""Worker jobs: scheduled rules every minute, run-log retention nightly."""

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from valuecrm.automation import schedules, services


@db_periodic_task(crontab(minute="*"))
def automation_schedules_tick() -> int:
    # One transaction: a firing's actions, its run log and last_fired_at commit together.
    with transaction.atomic():
        return schedules.fire_due()


@db_periodic_task(crontab(hour="3", minute="40"))
def automation_runs_purge() -> int:
    return services.runs_purge()
