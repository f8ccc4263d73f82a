from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "valuecrm.marketing"
    label = "marketing"
    verbose_name = _("Marketing")

    def ready(self):
        from valuecrm.marketing import actions, extensions

        actions.register()
        extensions.register()
