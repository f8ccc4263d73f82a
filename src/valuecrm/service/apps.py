from django.apps import AppConfig


class ServiceConfig(AppConfig):
    name = "valuecrm.service"
    label = "service"

    def ready(self):
        # Tickets on the customer pages, the "open ticket" automation action.
        from valuecrm.service import extensions

        extensions.register()
