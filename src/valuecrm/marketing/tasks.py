from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from valuecrm.marketing import services


@db_task()
def campaign_send_task(campaign_id: int) -> dict:
    stats = services.campaign_send(campaign_id)
    if stats["deferred"]:
        # Quiet hours: come back when they end (site time).
        from django.utils import timezone

        campaign_send_task.schedule((campaign_id,), eta=services.quiet_hours_end(timezone.now()))
    return stats


@db_periodic_task(crontab(minute="*/5"))
def campaigns_resume() -> int:
    """Pick up campaigns a killed worker left half-sent (their send is idempotent) and
    A/B campaigns whose test wait is over."""
    from valuecrm.marketing.models import Campaign, CampaignStatus

    services.ab_decide_due()  # A/B tests whose wait is over: choose the winner, then send the rest
    n = 0
    for pk in Campaign.objects.filter(status=CampaignStatus.SENDING).values_list("pk", flat=True):
        services.campaign_send(pk)
        n += 1
    return n


@db_periodic_task(crontab(hour="4", minute="20"))
def recommendations_nightly() -> int:
    return services.recommendations_rebuild()
