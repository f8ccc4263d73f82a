"""Personal data encrypted at rest (common/encryption.py): e-mail, phone, birthday,
contact point values and address lines become AES-GCM tokens, with blind indexes and
phone/e-mail search tokens. The data step encrypts the existing rows in batches before
the contact point constraint moves onto the blind index; no value is lost (the fields
read plain text as it is, so a half-done run is completed by running it again)."""

import django.db.models.deletion
import valuecrm.common.encryption
from django.db import migrations, models


def encrypt_existing_rows(apps, schema_editor):
    from valuecrm.common.encryption import reencrypt
    from valuecrm.customers.search_tokens import token_rows

    for name in ("Customer", "HistoricalCustomer", "ContactPoint", "Address"):
        reencrypt(apps.get_model("customers", name), batch=2000)
    Customer = apps.get_model("customers", "Customer")
    Token = apps.get_model("customers", "CustomerSearchToken")
    after = 0
    while True:
        rows = list(Customer.objects.filter(pk__gt=after).order_by("pk")
                    .values_list("pk", "email", "phone")[:2000])
        if not rows:
            return
        ids, tokens = token_rows([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        Token.objects.bulk_create([Token(customer_id=c, token=t) for c, t in zip(ids, tokens, strict=True)],
                                  batch_size=2000)
        after = rows[-1][0]


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0004_customer_archived_at'),
    ]

    operations = [
        migrations.CreateModel(
            name='CustomerSearchToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.BigIntegerField()),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='contactpoint',
            name='contact_point_unique',
        ),
        migrations.AddField(
            model_name='contactpoint',
            name='value_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='', purpose='contact', source='value'),
        ),
        migrations.AddField(
            model_name='customer',
            name='birthday_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='month_day', purpose='birthday', source='birthday'),
        ),
        migrations.AddField(
            model_name='customer',
            name='email_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='', purpose='email', source='email'),
        ),
        migrations.AddField(
            model_name='customer',
            name='phone_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='', purpose='phone', source='phone'),
        ),
        migrations.AddField(
            model_name='historicalcustomer',
            name='birthday_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='month_day', purpose='birthday', source='birthday'),
        ),
        migrations.AddField(
            model_name='historicalcustomer',
            name='email_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='', purpose='email', source='email'),
        ),
        migrations.AddField(
            model_name='historicalcustomer',
            name='phone_bidx',
            field=valuecrm.common.encryption.BlindIndexField(db_index=True, normalizer='', purpose='phone', source='phone'),
        ),
        migrations.AlterField(
            model_name='address',
            name='line1',
            field=valuecrm.common.encryption.EncryptedTextField(max_length=200, verbose_name='address'),
        ),
        migrations.AlterField(
            model_name='address',
            name='line2',
            field=valuecrm.common.encryption.EncryptedTextField(blank=True, default='', max_length=200, verbose_name='address line 2'),
        ),
        migrations.AlterField(
            model_name='address',
            name='postal_code',
            field=valuecrm.common.encryption.EncryptedTextField(blank=True, default='', max_length=20, verbose_name='postal code'),
        ),
        migrations.AlterField(
            model_name='contactpoint',
            name='value',
            field=valuecrm.common.encryption.EncryptedTextField(max_length=254, verbose_name='value'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='birthday',
            field=valuecrm.common.encryption.EncryptedDateField(blank=True, null=True, verbose_name='birthday'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='email',
            field=valuecrm.common.encryption.EncryptedTextField(blank=True, default='', max_length=254, verbose_name='email'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='phone',
            field=valuecrm.common.encryption.EncryptedTextField(blank=True, default='', max_length=32, verbose_name='phone'),
        ),
        migrations.AlterField(
            model_name='historicalcustomer',
            name='birthday',
            field=valuecrm.common.encryption.EncryptedDateField(blank=True, null=True, verbose_name='birthday'),
        ),
        migrations.AlterField(
            model_name='historicalcustomer',
            name='email',
            field=valuecrm.common.encryption.EncryptedTextField(blank=True, default='', max_length=254, verbose_name='email'),
        ),
        migrations.AlterField(
            model_name='historicalcustomer',
            name='phone',
            field=valuecrm.common.encryption.EncryptedTextField(blank=True, default='', max_length=32, verbose_name='phone'),
        ),
        migrations.AddField(
            model_name='customersearchtoken',
            name='customer',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='customers.customer'),
        ),
        migrations.AddIndex(
            model_name='customersearchtoken',
            index=models.Index(fields=['token', 'customer'], name='customers_c_token_ab44c8_idx'),
        ),
        migrations.AddIndex(
            model_name='customersearchtoken',
            index=models.Index(fields=['customer'], name='customers_c_custome_6ebbc9_idx'),
        ),
        # After the search-token table has its customer column (the data step writes tokens),
        # before nothing else: existing rows must be encrypted and indexed for upgrades to work.
        migrations.RunPython(encrypt_existing_rows, migrations.RunPython.noop),
        # Only once every contact point has its blind index (the data step fills them).
        migrations.AddConstraint(
            model_name='contactpoint',
            constraint=models.UniqueConstraint(fields=('customer', 'kind', 'value_bidx'), name='contact_point_unique'),
        ),
    ]
