"""The split of integrations into duplicates and webhooks: hand the models over.

State: the five models leave this app (duplicates 0001 and webhooks 0001 created them
there, on the same tables). Database: nothing is dropped or renamed — the tables keep their
integrations_* names and every row. The content types (and so the permissions and admin
log entries that point at them) follow the models to their new app label.
"""

from django.db import migrations

MOVED = {
    "duplicatecandidate": "duplicates",
    "customermerge": "duplicates",
    "webhookendpoint": "webhooks",
    "webhookdelivery": "webhooks",
    "inboundsource": "webhooks",
}


def _relabel(apps, *, forward: bool) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model, new_label in MOVED.items():
        old, new = ("integrations", new_label) if forward else (new_label, "integrations")
        if content_type.objects.filter(app_label=new, model=model).exists():
            continue  # already there (created by a post_migrate in between): leave both as they are
        content_type.objects.filter(app_label=old, model=model).update(app_label=new)


def relabel_content_types(apps, schema_editor):
    _relabel(apps, forward=True)


def restore_content_types(apps, schema_editor):
    _relabel(apps, forward=False)


class Migration(migrations.Migration):

    dependencies = [
        ("integrations", "0003_encrypt_json_copies"),
        ("duplicates", "0001_initial"),
        ("webhooks", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Foreign keys first, so the deletes below leave no dangling reference.
                migrations.RemoveField(model_name="duplicatecandidate", name="customer_a"),
                migrations.RemoveField(model_name="duplicatecandidate", name="customer_b"),
                migrations.RemoveField(model_name="duplicatecandidate", name="dismissed_by"),
                migrations.RemoveField(model_name="inboundsource", name="run_as"),
                migrations.RemoveField(model_name="webhookdelivery", name="endpoint"),
                migrations.RemoveField(model_name="webhookendpoint", name="created_by"),
                migrations.DeleteModel(name="CustomerMerge"),
                migrations.DeleteModel(name="DuplicateCandidate"),
                migrations.DeleteModel(name="InboundSource"),
                migrations.DeleteModel(name="WebhookDelivery"),
                migrations.DeleteModel(name="WebhookEndpoint"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, restore_content_types),
    ]
