"""Seed the default VIP-care automation rule (see valuecrm.loyalty.defaults)."""

from django.db import migrations


def seed(apps, schema_editor):
    from valuecrm.loyalty.defaults import ensure_vip_care_rule

    ensure_vip_care_rule(apps.get_model("automation", "Rule"))


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0004_care_reminder"), ("automation", "0002_default_value_alert_rule")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
