from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "valuecrm.orders"
    # The app was called "sales" until deals arrived; the label stays so that its tables
    # (sales_order, sales_orderline, sales_product), migrations and history rows keep their names.
    label = "sales"
    verbose_name = "Orders and products"

    def ready(self):
        # Orders on the customer pages: timeline, history, header facts, list filter.
        from valuecrm.orders import extensions

        extensions.register()
