from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "valuecrm.common"
    label = "common"

    def ready(self):
        from valuecrm.common import history

        history.install()
