from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "valuecrm.loyalty"
    label = "loyalty"

    def ready(self):
        # Earn on orders (an outbox subscriber), the customer-page extensions and the
        # automation actions; customers and automation never import this app.
        from valuecrm.loyalty import actions, extensions, subscriber

        subscriber.register()
        extensions.register()
        actions.register()
