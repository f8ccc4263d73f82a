"""The nightly backup (Huey periodic, at VALUECRM_BACKUP_HOUR site time) with retention."""

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from valuecrm.backups.archive import backup_scheduled
from valuecrm.common.datetimes import site_hour_in_huey_clock


@db_periodic_task(crontab(hour=site_hour_in_huey_clock(settings.VALUECRM_BACKUP_HOUR), minute="0"))
def backup_nightly() -> str:
    """Every night (03:00 site time by default): a new backup, keep the newest N."""
    if not settings.VALUECRM_BACKUP_NIGHTLY:
        return ""
    return backup_scheduled()["path"]
