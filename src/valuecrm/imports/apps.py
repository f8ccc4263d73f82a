from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "valuecrm.imports"
    label = "imports"
    verbose_name = _("Imports")

    def ready(self):
        # The customer list's `import_run` filter ("See the customers" of an import).
        from valuecrm.imports import customer_filter

        customer_filter.register()
