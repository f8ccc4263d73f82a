"""The SLA sweep: every minute the worker sends the due 75 %/90 % warnings and breaches."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from valuecrm.common.events import ActorKind, acting


@db_periodic_task(crontab(minute="*"))
def sla_sweep_task():
    from valuecrm.service.services import sla_sweep

    with acting(ActorKind.SYSTEM, "worker"):
        return sla_sweep()
