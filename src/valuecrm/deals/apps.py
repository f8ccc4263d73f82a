from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "valuecrm.deals"
    label = "deals"

    def ready(self):
        # Deals on the customer pages, the automation actions, and the nightly jobs.
        from valuecrm.deals import automation_actions, extensions

        extensions.register()
        automation_actions.register()
