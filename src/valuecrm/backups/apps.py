from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "valuecrm.backups"
    label = "backups"
