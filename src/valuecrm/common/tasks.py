"""Worker side of the event outbox: slow subscribers, the re-delivery sweep, retention."""

import os
from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.common import events


@db_task()
def outbox_deliver_task(subscriber_key: str, seqs: list[int]) -> int:
    return events.deliver_seqs(subscriber_key, seqs)


@db_periodic_task(crontab(minute="*"))
def outbox_redeliver() -> int:
    """Events whose after-commit dispatch never ran (the process died) or failed."""
    return events.redeliver_stale()


@db_periodic_task(crontab(hour="3", minute="30"))
def outbox_purge() -> int:
    days = int(os.environ.get("VALUECRM_EVENT_RETENTION_DAYS", "30"))
    return events.purge_dispatched(older_than=timedelta(days=days))
