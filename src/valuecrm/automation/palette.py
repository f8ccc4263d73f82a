"""The automation page in the Ctrl+K palette, for those who may see it."""

from django.utils.translation import gettext_lazy as _

from valuecrm.automation.selectors import can_see_automation
from valuecrm.customers.extensions import PaletteEntry, registry


def register() -> None:
    registry.add_palette_entry(PaletteEntry("automation-rules", _("Automation rules"), "lightning-charge",
                                            keywords="automation rules workflow 自动化 规则",
                                            allowed=can_see_automation))
