"""The privacy panel on the customer's 360 page (customers.extensions): current consent,
the Art. 24 opt-outs and the person's rights (export, explain, erase)."""


def _context(request, customer):
    from valuecrm.privacy.selectors import consent_overview, is_erased

    return {"consent": consent_overview(customer), "erased": is_erased(customer)}


def register() -> None:
    from valuecrm.customers.extensions import Panel, registry

    registry.add_panel(Panel("privacy", "privacy/_panel.html", context=_context, order=40))
