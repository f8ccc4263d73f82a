"""The value card as a panel of the customer's 360 page (customers.extensions)."""


def register() -> None:
    from valuecrm.customers.extensions import Panel, registry

    # The template calls the value_card inclusion tag, which reads the value with the
    # viewer's visibility; the panel itself needs no extra context.
    registry.add_panel(Panel("value", "insights/_value_panel.html", context=lambda request, customer: {},
                             order=10, first_on_small_screens=True))
