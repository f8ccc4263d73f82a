"""PostgreSQL: the search index's term table (customers/search_index.py), one row per (term,
customer) with a B-tree on (term, customer_id DESC), so a broad search reads its newest
matches in order with a LIMIT instead of sorting every match the GIN index returns.

A database migrated from scratch got the table in 0006 (search_index.create makes both);
one indexed before it gets it here: created bare, filled from the tsvector rows 50,000
customers per statement (server-side, no names read into Python), then its two B-trees
built in one sort each, and the delete trigger's function replaced to clear it too.
SQLite: nothing to do — FTS5 already returns its matches in rowid order.
"""

from django.db import migrations


def create_and_fill(apps, schema_editor):
    from valuecrm.customers import search_index

    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [search_index.POSTGRES_TERMS])
        if cursor.fetchone()[0] is not None:
            return  # made by 0006 on this database
    search_index.create_term_table(schema_editor, indexes=False)
    search_index.fill_term_table(connection)
    search_index.add_term_indexes(schema_editor)
    schema_editor.execute(f"ANALYZE {search_index.POSTGRES_TERMS}")


def drop(apps, schema_editor):
    from valuecrm.customers import search_index

    if schema_editor.connection.vendor != "postgresql":
        return
    table = search_index.POSTGRES_TABLE
    schema_editor.execute(  # the delete trigger's function as 0006 made it
        f"CREATE OR REPLACE FUNCTION {table}_delete() RETURNS trigger AS $$ "
        f"BEGIN DELETE FROM {table} WHERE customer_id = OLD.id; RETURN OLD; END $$ LANGUAGE plpgsql")
    schema_editor.execute(f"DROP TABLE IF EXISTS {search_index.POSTGRES_TERMS}")


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0007_customer_preferred_language'),
    ]

    operations = [
        migrations.RunPython(create_and_fill, drop, elidable=False),
    ]
