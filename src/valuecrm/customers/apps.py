from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "valuecrm.customers"
    label = "customers"

    def ready(self):
        # What an automation rule can do to customer records (tasks, tags, owner, fields, notes).
        from valuecrm.customers import automation_actions

        automation_actions.register()

        # The search index's delete trigger does not survive SQLite rebuilding the table.
        from django.db.models.signals import post_migrate

        from valuecrm.customers import search_index

        post_migrate.connect(search_index.ensure_delete_trigger, sender=self,
                             dispatch_uid="customers.search_index.trigger")
