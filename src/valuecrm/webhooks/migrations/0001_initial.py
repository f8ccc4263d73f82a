"""WebhookEndpoint, WebhookDelivery and InboundSource, moved here from the integrations app.

State only: the models take over the tables integrations 0001–0003 created
(integrations_webhookendpoint, integrations_webhookdelivery, integrations_inboundsource)
with their rows; integrations 0004 then drops the models from that app's state.
"""

import django.db.models.deletion
import django.utils.timezone
import valuecrm.common.encryption
import valuecrm.webhooks.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('integrations', '0003_encrypt_json_copies'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables exist (integrations 0001–0003 made them): state only, no SQL.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='InboundSource',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.SlugField(help_text="Used in the URL and stored as the order's source.", unique=True, verbose_name='source key')),
                        ('name', models.CharField(max_length=100, verbose_name='name')),
                        ('secret', models.CharField(default=valuecrm.webhooks.models.new_inbound_secret, max_length=100, verbose_name='shared secret')),
                        ('active', models.BooleanField(default=True, verbose_name='active')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                        ('run_as', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='write as user')),
                    ],
                    options={
                        'db_table': 'integrations_inboundsource',
                        'ordering': ['key'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, verbose_name='name')),
                        ('url', models.URLField(max_length=500, verbose_name='URL')),
                        ('secret', models.CharField(default=valuecrm.webhooks.models.new_secret, max_length=100, verbose_name='signing secret')),
                        ('event_types', models.JSONField(default=list, verbose_name='events')),
                        ('active', models.BooleanField(default=True, verbose_name='active')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'integrations_webhookendpoint',
                        'ordering': ['name', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event', models.CharField(db_index=True, max_length=40, verbose_name='event')),
                        ('event_id', models.CharField(db_index=True, max_length=40, verbose_name='event id')),
                        ('body', valuecrm.common.encryption.EncryptedLongTextField(verbose_name='payload')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('retrying', 'Retrying'), ('delivered', 'Delivered'), ('failed', 'Failed')], db_index=True, default='pending', max_length=10, verbose_name='status')),
                        ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                        ('status_code', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='status code')),
                        ('response_excerpt', models.TextField(blank=True, default='', verbose_name='response')),
                        ('error', models.CharField(blank=True, default='', max_length=300, verbose_name='error')),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='created at')),
                        ('last_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='last attempt')),
                        ('next_attempt_at', models.DateTimeField(blank=True, db_index=True, null=True, verbose_name='next attempt')),
                        ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='delivered at')),
                        ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhookendpoint')),
                    ],
                    options={
                        'db_table': 'integrations_webhookdelivery',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
