"""Merge fields other apps register (customers.extensions): loyalty's points balance and
membership tier reach the rendered e-mail, batched, with the template's fallbacks."""

import pytest

from valuecrm.customers.extensions import registry
from valuecrm.loyalty.models import Account, Tier
from valuecrm.marketing import services

pytestmark = pytest.mark.django_db

BODY = ('积分 {{ customer.points_balance|default:"0" }} · 等级 {{ customer.membership_tier|default:"会员" }}'
        ' · 退订 {{ unsubscribe_url }}')


def test_loyalty_fields_are_registered_and_resolved_in_one_query_each(make_customers, django_assert_num_queries):
    customers = make_customers(30)
    tier = Tier.objects.order_by("-rank").first()
    Account.objects.create(customer=customers[0], balance=1200, tier=tier, referral_code="R1")
    Account.objects.create(customer=customers[1], balance=0, referral_code="R2")
    assert {"points_balance", "membership_tier"} <= {f.name for f in registry.merge_fields}
    ids = [c.pk for c in customers]
    with django_assert_num_queries(2):
        values = registry.merge_field_values(ids, names={"points_balance", "membership_tier"})
    assert values[customers[0].pk] == {"points_balance": 1200, "membership_tier": tier.label}
    assert values[customers[1].pk] == {"points_balance": 0}
    assert values[customers[2].pk] == {}
    with django_assert_num_queries(1):
        assert registry.merge_field_values(ids, names={"points_balance"})[customers[0].pk] == {"points_balance": 1200}


def test_campaign_mail_carries_points_and_falls_back(admin_user, smtp_server, make_customers, daytime):
    customers = make_customers(2)
    tier = Tier.objects.order_by("-rank").first()
    Account.objects.create(customer=customers[0], balance=1200, tier=tier, referral_code="R1")
    template = services.template_create(actor=admin_user, data={
        "name": "积分", "channel": "email", "subject": "积分提醒", "body_text": BODY})
    campaign = services.campaign_create(actor=admin_user, data={"name": "积分", "template_id": template.pk,
                                                                "holdout_percent": 0})
    services.campaign_launch(actor=admin_user, campaign=campaign, queue=False, now=daytime)
    assert services.campaign_send(campaign.pk, now=daytime)["sent"] == 2
    bodies = {m["To"]: m.get_body(("plain",)).get_content() for m in smtp_server.messages}
    assert f"积分 1200 · 等级 {tier.label} ·" in bodies[customers[0].email]
    assert "积分 0 · 等级 会员 ·" in bodies[customers[1].email]
    # The preview as a chosen customer resolves the same fields.
    ctx = services.merge_context(customers[0], None, personalise=True)
    assert ctx["customer"]["points_balance"] == 1200
