"""Upgrading a database from before the split of integrations into duplicates and webhooks.

The database is taken back to integrations 0003 (the last migration before the split), a
row is written into every moved table through the models as they were then, and the
database is migrated to head: the rows are found through the new models, with their
encrypted values readable, and the content types (with their permissions) follow.
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("integrations", "0003_encrypt_json_copies")]
MOVED = {"duplicatecandidate": "duplicates", "customermerge": "duplicates",
         "webhookendpoint": "webhooks", "webhookdelivery": "webhooks", "inboundsource": "webhooks"}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _head():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_rows_in_every_moved_table_survive_the_split(admin_user):
    from valuecrm.customers.models import Customer

    a = Customer.objects.create(name="Wang Fang")
    b = Customer.objects.create(name="Fang Wang")
    head = _head()
    old = _migrate(BEFORE)
    with pytest.raises(LookupError):
        old.get_model("duplicates", "DuplicateCandidate")

    # A database of that time: its content types are the integrations ones.
    content_type = old.get_model("contenttypes", "ContentType")
    permission = old.get_model("auth", "Permission")
    content_type.objects.filter(app_label__in=["duplicates", "webhooks"]).delete()
    for model in MOVED:
        ct, _ = content_type.objects.get_or_create(app_label="integrations", model=model)
        permission.objects.get_or_create(content_type=ct, codename=f"view_{model}",
                                         defaults={"name": f"Can view {model}"})

    pair = old.get_model("integrations", "DuplicateCandidate").objects.create(
        customer_a_id=a.pk, customer_b_id=b.pk, score=73, points=73, matched_on=["phone"],
        evidence={"total": 73, "reasons": [{"code": "same_phone", "points": 45, "detail": "+8613800138000"}]})
    merge = old.get_model("integrations", "CustomerMerge").objects.create(
        survivor_pk=a.pk, merged_pk=9999, survivor_name="Wang Fang", merged_name="W. Fang",
        performed_by_id=admin_user.pk, field_choices={"email": "merged"}, snapshot={"moved": []})
    endpoint = old.get_model("integrations", "WebhookEndpoint").objects.create(
        name="ERP", url="https://erp.example.com/hook", secret="whsec_kept", event_types=["order.created"])
    delivery = old.get_model("integrations", "WebhookDelivery").objects.create(
        endpoint_id=endpoint.pk, event="order.created", event_id="e" * 32, body='{"phone":"+8613800138000"}')
    source = old.get_model("integrations", "InboundSource").objects.create(
        key="jd", name="JD shop", secret="insec_kept", run_as_id=admin_user.pk)

    _migrate(head)

    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from valuecrm.duplicates.models import CustomerMerge, DuplicateCandidate
    from valuecrm.webhooks.models import InboundSource, WebhookDelivery, WebhookEndpoint

    got = DuplicateCandidate.objects.get(pk=pair.pk)
    assert (got.customer_a_id, got.customer_b_id, got.score, got.matched_on) == (a.pk, b.pk, 73, ["phone"])
    assert got.evidence["reasons"][0]["detail"] == "+8613800138000"
    got = CustomerMerge.objects.get(pk=merge.pk)
    assert (got.survivor_pk, got.merged_pk, got.performed_by_id, got.field_choices) == (
        a.pk, 9999, admin_user.pk, {"email": "merged"})
    got = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (got.name, got.secret, got.event_types) == ("ERP", "whsec_kept", ["order.created"])
    got = WebhookDelivery.objects.get(pk=delivery.pk)
    assert (got.endpoint_id, got.event, got.body) == (endpoint.pk, "order.created", '{"phone":"+8613800138000"}')
    got = InboundSource.objects.get(pk=source.pk)
    assert (got.key, got.secret, got.run_as_id) == ("jd", "insec_kept", admin_user.pk)
    # The tables are the old ones: nothing was copied or renamed.
    assert {m._meta.db_table for m in (DuplicateCandidate, CustomerMerge, WebhookEndpoint, WebhookDelivery,
                                       InboundSource)} == {f"integrations_{m}" for m in MOVED}

    assert not ContentType.objects.filter(app_label="integrations").exists()
    for model, label in MOVED.items():
        ct = ContentType.objects.get(app_label=label, model=model)
        assert Permission.objects.filter(content_type=ct, codename=f"view_{model}").count() == 1
    assert ContentType.objects.get_for_model(DuplicateCandidate).app_label == "duplicates"
