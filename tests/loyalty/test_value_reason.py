"""'Value customer — refers others' from loyalty's referrals, through insights' reason hook."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from valuecrm.insights import reasons
from valuecrm.insights.models import CustomerValue
from valuecrm.insights.selectors import value_summary
from valuecrm.loyalty.models import Account, Referral, ReferralStatus

pytestmark = pytest.mark.django_db


def _referral(referrer, referee, status, total):
    Referral.objects.create(referrer=referrer, referee=referee, status=status, order_total=Decimal(total))


def test_referrers_get_the_reason_with_count_and_revenue(customer):
    ana, bo, cy, dee = (customer(n) for n in ("Ana", "Bo", "Cy", "Dee"))
    acc = {c.pk: Account.objects.create(customer=c, referral_code=f"R{c.pk:07d}") for c in (ana, bo, cy, dee)}
    _referral(acc[ana.pk], acc[bo.pk], ReferralStatus.REWARDED, "300")
    _referral(acc[ana.pk], acc[cy.pk], ReferralStatus.REWARDED, "1200.5")
    _referral(acc[bo.pk], acc[dee.pk], ReferralStatus.CLAWED_BACK, "80")  # refunded: does not count
    value = CustomerValue.objects.create(customer=ana, as_of=timezone.localdate(), tier="A",
                                         value_reasons=["spend"])
    assert value_summary(value)["value_reasons"] == [
        {"code": "spend", "label": "High spend", "detail": ""},
        {"code": "referrals", "label": "Refers other customers",
         "detail": "2 referrals, ¥1,500.50 first-order revenue"}]
    # Stored by scoring already: one entry, with the words.
    CustomerValue.objects.filter(pk=value.pk).update(value_reasons=["referrals"])
    value.refresh_from_db()
    assert [(r["code"], r["detail"]) for r in value_summary(value)["value_reasons"]] == [
        ("referrals", "2 referrals, ¥1,500.50 first-order revenue")]
    bo_value = CustomerValue.objects.create(customer=bo, as_of=timezone.localdate() - dt.timedelta(days=1),
                                            tier="B", value_reasons=[])
    assert value_summary(bo_value)["value_reasons"] == []
    # Scoring counts them towards the value-customer flag.
    assert reasons.customer_ids("referrals") == {ana.pk}


def test_scoring_adds_the_providers_customers_to_the_referral_tag(customer, admin_user):
    from valuecrm.customers.services import customer_update
    from valuecrm.insights.services.scoring import _customers

    ana, bo, tagged = (customer(n) for n in ("Ana", "Bo", "Tagged"))
    customer_update(actor=admin_user, customer=tagged, data={"tags": ["推荐人"]})
    a, b = (Account.objects.create(customer=c, referral_code=f"S{c.pk:07d}") for c in (ana, bo))
    _referral(a, b, ReferralStatus.REWARDED, "10")
    assert _customers("推荐人")[1] == {ana.pk, tagged.pk}
    assert _customers("")[1] == {ana.pk}


def test_a_provider_must_name_a_known_reason():
    with pytest.raises(ValueError, match="unknown value reason 'generous'"):
        reasons.register(reasons.ReasonProvider("x", "generous", set, lambda pk: None))
    assert [p.key for p in reasons.providers()] == ["loyalty_referrals"]
