from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "valuecrm.insights"
    label = "insights"

    def ready(self):
        # What customer value adds to the customer pages (columns, filters, the value card).
        from valuecrm.insights import list_fields, panels

        list_fields.register()
        panels.register()
