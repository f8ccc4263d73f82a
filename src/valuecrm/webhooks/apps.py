from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    """Signed outbound webhooks (an outbox subscriber) and the signed inbound order endpoint.

    Split out of the integrations app; its tables keep their integrations_* names.
    """

    name = "valuecrm.webhooks"
    label = "webhooks"
    verbose_name = _("Webhooks and inbound orders")

    def ready(self):
        # Domain events → webhook deliveries.
        from valuecrm.webhooks import subscribers

        subscribers.register()
        # What an automation rule can do with webhooks (send_webhook).
        from valuecrm.webhooks import automation_actions

        automation_actions.register()
