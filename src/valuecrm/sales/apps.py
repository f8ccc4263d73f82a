from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "valuecrm.sales"
    label = "sales"

    def ready(self):
        # Orders on the customer pages: timeline, history, header facts, list filter.
        from valuecrm.sales import extensions

        extensions.register()
