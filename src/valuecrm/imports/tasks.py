"""Background job: run a queued import in the worker (Huey)."""

from huey.contrib.djhuey import db_task

from valuecrm.imports.services import import_execute


@db_task()
def import_run_task(run_id: int) -> str:
    return import_execute(run_id).status
