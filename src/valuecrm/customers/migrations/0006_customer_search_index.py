"""The customer name search index (customers/search_index.py): an FTS5 table on SQLite,
a tsvector table with a GIN index on PostgreSQL, filled from the existing customers."""

from django.db import migrations


def create_and_fill(apps, schema_editor):
    from valuecrm.customers import search_index

    search_index.create(schema_editor)
    if schema_editor.connection.vendor in ("sqlite", "postgresql"):
        search_index.rebuild(apps.get_model("customers", "Customer"), using=schema_editor.connection)


def drop(apps, schema_editor):
    from valuecrm.customers import search_index

    search_index.drop(schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0005_encryption_at_rest'),
    ]

    operations = [
        migrations.RunPython(create_and_fill, drop, elidable=False),
    ]
