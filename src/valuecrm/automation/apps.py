from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "valuecrm.automation"
    label = "automation"
    verbose_name = _("Automation")

    def ready(self):
        # The engine listens to every domain event; the pages join the palette.
        from valuecrm.automation import engine, palette

        engine.register()
        palette.register()
