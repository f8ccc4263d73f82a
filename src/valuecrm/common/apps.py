from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "valuecrm.common"
    label = "common"
