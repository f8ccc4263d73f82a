"""Scoring used to hard-wire "value alert → a task for the owner"; it is now this rule."""

from django.db import migrations


def seed(apps, schema_editor):
    from valuecrm.automation.defaults import ensure_default_rules

    ensure_default_rules(apps.get_model("automation", "Rule"))


class Migration(migrations.Migration):
    dependencies = [("automation", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
