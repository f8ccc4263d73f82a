"""Nightly: retrain the win models and sweep the pool; Mondays: the forecast snapshot."""

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.common.datetimes import site_hour_in_huey_clock


@db_periodic_task(crontab(hour=site_hour_in_huey_clock(settings.VALUECRM_DEALS_NIGHTLY_HOUR), minute="20"))
def deals_nightly() -> dict:
    from django.utils import timezone

    from valuecrm.deals.forecast import snapshot_take
    from valuecrm.deals.services import pool_sweep
    from valuecrm.deals.win_model import retrain_all

    out = {"models": [m.pk for m in retrain_all()], **pool_sweep()}
    if timezone.localdate().weekday() == 0:
        out["snapshot_rows"] = snapshot_take()
    return out


@db_task()
def retrain_now() -> list[int]:
    """On demand (the dashboard's "Retrain" button)."""
    from valuecrm.deals.win_model import retrain_all

    return [m.pk for m in retrain_all()]
