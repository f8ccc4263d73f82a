from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "valuecrm.customers"
    label = "customers"

    def ready(self):
        # What an automation rule can do to customer records (tasks, tags, owner, fields, notes).
        from valuecrm.customers import automation_actions

        automation_actions.register()
