from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    """The customer list as XLSX and the whole-account export (no tables of its own).

    Split out of the integrations app.
    """

    name = "valuecrm.exports"
    label = "exports"
    verbose_name = _("Exports")
