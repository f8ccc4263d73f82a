from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "valuecrm.common"
    label = "common"

    def ready(self):
        from valuecrm.common import history

        history.install()
        from valuecrm.common import encryption

        encryption.ring()  # the field key file is created (mode 0600) on first start
