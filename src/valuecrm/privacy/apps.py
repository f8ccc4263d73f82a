from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "valuecrm.privacy"
    label = "privacy"
    verbose_name = _("Privacy")

    def ready(self):
        # The consent panel on the customer's 360 page, and the ledger following the
        # legacy consent booleans when a form, the API or an import changes them.
        from valuecrm.privacy import panels, subscribers

        panels.register()
        subscribers.register()
        # Automation never acts on a person who refused automated decisions (Art. 24).
        from valuecrm.automation.engine import register_opt_out_provider
        from valuecrm.privacy.selectors import refusing_automated_decisions

        register_opt_out_provider(refusing_automated_decisions)
        # Marketing sends only to whom the consent ledger allows, and honours the
        # "no personalised marketing" opt-out (PIPL Art. 24).
        from valuecrm.marketing.consent import register_contact_policy
        from valuecrm.privacy.selectors import allows_personalisation, contactable

        register_contact_policy(contactable, allows_personalisation)
