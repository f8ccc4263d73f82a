from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "valuecrm.imports"
    label = "imports"
