from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "valuecrm.sales"
    label = "sales"
