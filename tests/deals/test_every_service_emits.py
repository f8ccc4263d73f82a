"""Every public function of deals.services that changes data emits a domain event (the
same rule as tests/common/test_every_service_emits.py, kept here so the peers' lists merge
without conflicts). A new write function fails this test until it is exercised below."""

import inspect

import pytest

from valuecrm.common.models import OutboxEvent
from valuecrm.deals import saved_views, services

NOT_A_BUSINESS_WRITE = {
    "pool_actor": "creates the system account the pool acts as (no business record)",
    "claim_cap": "read", "claims_today": "read", "require_pool_access": "check",
}


@pytest.fixture
def w(admin_user, rep_north, pipeline, stages, north_customer):
    from valuecrm.customers.services import customer_create

    pooled = customer_create(actor=admin_user, data={"name": "Pool", "owner_id": None})
    org = customer_create(actor=rep_north, data={"name": "Org", "kind": "organization"})
    person = customer_create(actor=rep_north, data={"name": "P", "company_id": org.pk})
    deal = services.deal_create(actor=rep_north, data={"customer_id": north_customer.pk, "name": "D"})
    org_deal = services.deal_create(actor=rep_north, data={"customer_id": org.pk, "name": "O"})
    return {"admin": admin_user, "rep": rep_north, "stages": stages, "customer": north_customer, "deal": deal,
            "pooled": pooled, "person": person, "org_deal": org_deal}


def _contact_removed(w):
    services.deal_contact_set(actor=w["rep"], deal=w["org_deal"], person_id=w["person"].pk, role="user")
    OutboxEvent.objects.all().delete()
    services.deal_contact_remove(actor=w["rep"], deal=w["org_deal"], person_id=w["person"].pk)


def _view(w):
    return saved_views.deal_view_create(actor=w["rep"], name="V", filters={"status": "open"})


def _won(w):
    services.deal_move_stage(actor=w["rep"], deal=w["deal"], stage_id=w["stages"]["Won"].pk)
    return services.deal_create_order(actor=w["rep"], deal=w["deal"])


def _sweep(w):
    from datetime import timedelta

    from django.utils import timezone

    from valuecrm.deals.models import PoolRule

    PoolRule.objects.create(days=1)
    return services.pool_sweep(now=timezone.now() + timedelta(days=3))


CALLS = {
    "pipeline_create": (lambda w: services.pipeline_create(actor=w["admin"], name="P", stages=[
        {"name": "a"}, {"name": "w", "kind": "won"}, {"name": "l", "kind": "lost"}]), "config.changed"),
    "deal_create": (lambda w: services.deal_create(actor=w["rep"], data={
        "customer_id": w["customer"].pk, "name": "x"}), "deal.created"),
    "deal_update": (lambda w: services.deal_update(actor=w["rep"], deal=w["deal"], data={"name": "y"}),
                    "deal.updated"),
    "deal_move_stage": (lambda w: services.deal_move_stage(actor=w["rep"], deal=w["deal"],
                                                           stage_id=w["stages"]["Proposal"].pk), "deal.stage_changed"),
    "deal_create_order": (_won, "order.created"),
    "deal_delete": (lambda w: services.deal_delete(actor=w["admin"], deal=w["deal"]), "deal.updated"),
    "quota_set": (lambda w: services.quota_set(actor=w["admin"], owner_id=w["rep"].pk, period="2027-Q1",
                                               amount="1000"), "config.changed"),
    "pool_claim": (lambda w: services.pool_claim(actor=w["rep"], customer_id=w["pooled"].pk), "pool.claimed"),
    "pool_release": (lambda w: services.pool_release(actor=w["rep"], customer_id=w["customer"].pk, reason="r"),
                     "pool.released"),
    "pool_rule_save": (lambda w: services.pool_rule_save(actor=w["admin"], days=5), "config.changed"),
    "pool_rule_delete": (lambda w: services.pool_rule_delete(
        actor=w["admin"], rule_id=services.pool_rule_save(actor=w["admin"], days=5).pk), "config.changed"),
    "claim_cap_set": (lambda w: services.claim_cap_set(actor=w["admin"], role="sales_rep", per_day=3),
                      "config.changed"),
    "pool_sweep": (_sweep, "pool.reclaimed"),
    "deal_contact_set": (lambda w: services.deal_contact_set(actor=w["rep"], deal=w["org_deal"],
                                                             person_id=w["person"].pk, role="influencer"),
                         "deal.updated"),
    "deal_contact_remove": (_contact_removed, "deal.updated"),
}

VIEW_CALLS = {
    "deal_view_create": (_view, "config.changed"),
    "deal_view_update": (lambda w: saved_views.deal_view_update(actor=w["rep"], view=_view(w),
                                                                data={"is_default": True}), "config.changed"),
    "deal_view_delete": (lambda w: saved_views.deal_view_delete(actor=w["rep"], view=_view(w)), "config.changed"),
}
VIEW_READS = {"deal_views_for", "deal_view_get", "default_view_id", "view_query", "clean_view_filters",
              "can_change", "can_delete"}


def test_every_public_function_is_listed():
    public = {n for n, f in inspect.getmembers(services, inspect.isfunction)
              if not n.startswith("_") and f.__module__ == services.__name__}
    assert public == set(CALLS) | set(NOT_A_BUSINESS_WRITE)


def test_every_saved_view_function_is_listed():
    public = {n for n, f in inspect.getmembers(saved_views, inspect.isfunction)
              if not n.startswith("_") and f.__module__ == saved_views.__name__}
    assert public == set(VIEW_CALLS) | VIEW_READS


@pytest.mark.parametrize("name", sorted(CALLS) + sorted(VIEW_CALLS))
def test_write_emits(w, name):
    call, event = CALLS.get(name) or VIEW_CALLS[name]
    before = set(OutboxEvent.objects.values_list("pk", flat=True))
    call(w)
    emitted = set(OutboxEvent.objects.exclude(pk__in=before).values_list("name", flat=True))
    assert event in emitted, emitted
