"""DuplicateCandidate and CustomerMerge, moved here from the integrations app.

State only: the models take over the tables integrations 0001–0003 created
(integrations_duplicatecandidate, integrations_customermerge) with their rows;
integrations 0004 then drops the models from that app's state.
"""

import django.db.models.deletion
import django.utils.timezone
import valuecrm.common.encryption
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('customers', '0001_initial'),
        ('integrations', '0003_encrypt_json_copies'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables exist (integrations 0001–0003 made them): state only, no SQL.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CustomerMerge',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('survivor_pk', models.BigIntegerField(db_index=True, verbose_name='survivor')),
                        ('merged_pk', models.BigIntegerField(db_index=True, verbose_name='merged customer')),
                        ('survivor_name', models.CharField(max_length=200, verbose_name='survivor name')),
                        ('merged_name', models.CharField(max_length=200, verbose_name='merged name')),
                        ('performed_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='merged at')),
                        ('field_choices', models.JSONField(default=dict, verbose_name='field choices')),
                        ('snapshot', valuecrm.common.encryption.EncryptedJSONField(default=dict, paths=[])),
                        ('undone_at', models.DateTimeField(blank=True, null=True, verbose_name='undone at')),
                        ('performed_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='merged by')),
                        ('undone_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'integrations_customermerge',
                        'ordering': ['-performed_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='DuplicateCandidate',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('score', models.PositiveSmallIntegerField(default=0, verbose_name='score')),
                        ('points', models.SmallIntegerField(default=0, verbose_name='evidence points')),
                        ('matched_on', models.JSONField(default=list, verbose_name='matched on')),
                        ('evidence', valuecrm.common.encryption.EncryptedJSONField(default=dict, paths=['reasons.*.detail'], verbose_name='evidence')),
                        ('status', models.CharField(choices=[('open', 'Open'), ('dismissed', 'Not a duplicate')], db_index=True, default='open', max_length=10, verbose_name='status')),
                        ('found_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='found at')),
                        ('dismissed_at', models.DateTimeField(blank=True, null=True, verbose_name='dismissed at')),
                        ('customer_a', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='customers.customer')),
                        ('customer_b', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='customers.customer')),
                        ('dismissed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'integrations_duplicatecandidate',
                        'ordering': ['-score', '-points', 'customer_a_id', 'customer_b_id'],
                        'constraints': [models.UniqueConstraint(fields=('customer_a', 'customer_b'), name='duplicate_candidate_pair'), models.CheckConstraint(condition=models.Q(('customer_a__lt', models.F('customer_b'))), name='duplicate_candidate_ordered')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
