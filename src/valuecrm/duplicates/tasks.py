"""Background jobs: the nightly duplicate scan (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(hour="3", minute="30"))
def duplicate_scan_nightly() -> int:
    from valuecrm.duplicates.duplicates import duplicate_scan

    return duplicate_scan().found
