import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from valuecrm.loyalty import selectors, services

pytestmark = pytest.mark.django_db


def test_vip_list_is_value_tier_a_and_top_tier_members_with_overdue_care(program, customer, admin_user, client):
    from valuecrm.customers.models import Interaction
    from valuecrm.insights.models import CustomerValue

    black, valued, plain = customer("黑金"), customer("A 客户"), customer("普通")
    services.tier_set(actor=admin_user, customer_id=black.pk, tier_code="black")
    CustomerValue.objects.create(customer=valued, as_of=timezone.localdate(), tier="A")
    Interaction.objects.create(customer=valued, kind="call", occurred_at=timezone.now() - dt.timedelta(days=3))
    Interaction.objects.create(customer=black, kind="call", occurred_at=timezone.now() - dt.timedelta(days=45))
    rows = selectors.vip_list(user=admin_user)
    assert [(r.customer.name, r.overdue) for r in rows] == [("黑金", True), ("A 客户", False)]
    assert plain.pk not in {r.customer.pk for r in rows}
    assert [r.customer.name for r in selectors.vip_list(user=admin_user, overdue_only=True)] == ["黑金"]
    client.force_login(admin_user)
    html = client.get(reverse("loyalty-vip") + "?overdue=yes").content.decode()
    assert html.count('data-overdue="yes"') == 1


def test_dashboard_figures(program, customer, admin_user, place_order):
    c = customer()
    place_order(c, "100", placed_at=timezone.now() - dt.timedelta(days=350))  # lot expires in ~15 days
    services.escrow_release()
    services.points_redeem(actor=admin_user, customer_id=c.pk, points=40, reference="r")
    f = selectors.dashboard(user=admin_user)
    assert (f["members"], f["liability_points"], f["expiring_members"], f["expiring_points"]) == (1, 60, 1, 60)
    assert f["redemption_rate"] == 0.4
    assert [t["members"] for t in f["tiers"]] == [1, 0, 0, 0]


def test_kpi_cards_on_the_value_dashboard(program, customer, admin_user, place_order):
    from valuecrm.customers.extensions import registry

    c = customer()
    place_order(c, "500", placed_at=timezone.now() - dt.timedelta(days=10))
    services.escrow_release()
    today = timezone.localdate()
    cards = {card["key"]: card for card in registry.kpi_card_figures(admin_user, today - dt.timedelta(days=30),
                                                                    today)}
    assert (cards["loyalty_liability"]["value"], cards["loyalty_liability"]["kind"]) == (Decimal("5.00"), "money")
    assert (cards["loyalty_referral_rate"]["value"], cards["loyalty_referral_rate"]["kind"]) == (0.0, "percent")
