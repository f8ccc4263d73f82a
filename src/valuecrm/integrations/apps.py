from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "valuecrm.integrations"
    label = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        # Domain events → webhook deliveries.
        from valuecrm.integrations import subscribers

        subscribers.register()
        # What an automation rule can do with integrations (send_webhook).
        from valuecrm.integrations import automation_actions

        automation_actions.register()
