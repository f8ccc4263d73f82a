from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "valuecrm.accounts"
    label = "accounts"
