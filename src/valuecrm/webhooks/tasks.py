"""Background jobs: webhook sends and retries (Huey).

A send queued under the old module name (valuecrm.integrations.tasks) before an upgrade
is not lost: the delivery row is pending with next_attempt_at set, and webhook_retry_due
picks it up within a minute."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.webhooks import webhooks


@db_task()
def webhook_deliver_task(delivery_id: int) -> str:
    delivery = webhooks.delivery_attempt(delivery_id)
    return delivery.status if delivery is not None else "missing"


@db_periodic_task(crontab(minute="*"))
def webhook_retry_due() -> int:
    """Every minute: attempt the deliveries whose retry time has come.

    Retries live in the table, not in the queue, so a restarted worker loses none.
    """
    due = webhooks.deliveries_due()
    for pk in due:
        webhooks.delivery_attempt(pk)
    return len(due)

