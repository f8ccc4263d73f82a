"""The nightly loyalty job (Huey periodic, at VALUECRM_LOYALTY_HOUR site time)."""

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from valuecrm.common.datetimes import site_hour_in_huey_clock


@db_periodic_task(crontab(hour=site_hour_in_huey_clock(settings.VALUECRM_LOYALTY_HOUR), minute="15"))
def loyalty_nightly() -> dict:
    """Release escrow, expire points, review tiers: each step idempotent, so a re-run is harmless."""
    from valuecrm.loyalty.services import nightly

    return nightly()
