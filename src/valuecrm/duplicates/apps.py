from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DuplicatesConfig(AppConfig):
    """Duplicate detection (scan, evidence, dismiss) and customer merge with undo.

    Split out of the integrations app; its tables keep their integrations_* names.
    """

    name = "valuecrm.duplicates"
    label = "duplicates"
    verbose_name = _("Duplicates and merges")
