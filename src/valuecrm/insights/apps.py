from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "valuecrm.insights"
    label = "insights"
