"""Seed the birthday and festival greeting message templates (en + 中文, plain and gift)."""

from django.db import migrations


def seed(apps, schema_editor):
    from valuecrm.marketing.greetings import template_rows

    MessageTemplate = apps.get_model("marketing", "MessageTemplate")
    for row in template_rows():
        if not MessageTemplate.objects.filter(name=row["name"]).exists():
            MessageTemplate.objects.create(**row)


def unseed(apps, schema_editor):
    from valuecrm.marketing.greetings import template_rows

    apps.get_model("marketing", "MessageTemplate").objects.filter(
        name__in=[r["name"] for r in template_rows()], campaigns__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("marketing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
