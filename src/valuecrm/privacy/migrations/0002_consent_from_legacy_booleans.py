"""Today's four consent booleans become the ledger's first rows (source "migrated").

Only granted booleans are recorded: a False meant "never asked" as often as "said
no", and the default for marketing is no consent anyway. Batched, so a large
customer table migrates in bounded memory.
"""

from django.db import migrations
from django.utils import timezone

LEGACY_FIELDS = {"email": "consent_email", "sms": "consent_sms", "phone": "consent_phone",
                 "wechat": "consent_wechat"}
BATCH = 2000


def forwards(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    ConsentRecord = apps.get_model("privacy", "ConsentRecord")
    ConsentState = apps.get_model("privacy", "ConsentState")
    now = timezone.now()
    for channel, field in LEGACY_FIELDS.items():
        ids = Customer.objects.filter(**{field: True}).order_by("pk").values_list("pk", flat=True)
        batch = []
        for customer_id in ids.iterator(chunk_size=BATCH):
            batch.append(customer_id)
            if len(batch) >= BATCH:
                _write(ConsentRecord, ConsentState, batch, channel, now)
                batch = []
        if batch:
            _write(ConsentRecord, ConsentState, batch, channel, now)


def _write(ConsentRecord, ConsentState, customer_ids, channel, now):
    records = ConsentRecord.objects.bulk_create([
        ConsentRecord(customer_id=cid, channel=channel, purpose="marketing", granted=True,
                      recorded_at=now, source="migrated", reference="consent boolean")
        for cid in customer_ids
    ])
    if records and records[0].pk is None:  # backends without RETURNING: read the ids back
        records = list(ConsentRecord.objects.filter(customer_id__in=customer_ids, channel=channel,
                                                    purpose="marketing", source="migrated"))
    ConsentState.objects.bulk_create([
        ConsentState(customer_id=r.customer_id, channel=channel, purpose="marketing", granted=True, record=r)
        for r in records
    ])


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
