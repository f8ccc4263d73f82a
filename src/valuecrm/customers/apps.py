from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "valuecrm.customers"
    label = "customers"
