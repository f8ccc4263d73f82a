from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "valuecrm.loyalty"
    label = "loyalty"

    def ready(self):
        # Earn on orders (an outbox subscriber), the customer-page extensions and the
        # automation actions; customers and automation never import this app.
        from valuecrm.customers.extensions import register_merge_field
        from valuecrm.loyalty import actions, extensions, subscriber
        from valuecrm.loyalty.models import Account

        subscriber.register()
        extensions.register()
        actions.register()
        # Template merge fields ({{ customer.points_balance }}, {{ customer.membership_tier }}),
        # one query for a whole batch of recipients; non-members get the template's fallback.
        register_merge_field("points_balance", "Points balance", lambda ids: dict(
            Account.objects.filter(customer_id__in=ids).values_list("customer_id", "balance")))
        register_merge_field("membership_tier", "Membership tier", lambda ids: {
            a.customer_id: a.tier.label for a in Account.objects.filter(customer_id__in=ids, tier__isnull=False)
            .select_related("tier").only("customer_id", "tier__name", "tier__name_zh")})
