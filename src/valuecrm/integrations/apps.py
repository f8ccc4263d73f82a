from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Migration history only.

    The integrations app was split into duplicates, exports and webhooks. Its migrations
    stay here so that existing databases keep a consistent django_migrations history:
    0001–0003 created and changed the tables (still named integrations_*), 0004 hands the
    models over to the new apps without touching a row. There is no code here any more.
    """

    name = "valuecrm.integrations"
    label = "integrations"
    verbose_name = "Integrations (migration history)"
