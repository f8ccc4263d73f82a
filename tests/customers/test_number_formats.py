"""Money groups thousands the same way in English and 中文 (¥47,282.00 in both)."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone, translation

from valuecrm.customers.models import Customer
from valuecrm.orders.models import Order


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_customer_page_groups_money_in_both_languages(rep_north, language):
    customer = Customer.objects.create(name="王芳", owner=rep_north, team=rep_north.team,
                                       acquisition_cost=Decimal("12345.6"))
    Order.objects.create(customer=customer, external_id="S-1", placed_at=timezone.now(),
                         total_amount=Decimal("47282.00"), status="paid")
    Order.objects.create(customer=customer, external_id="S-2", placed_at=timezone.now(),
                         total_amount=Decimal("1234.5"), currency="USD", status="paid")
    rep_north.language = language
    rep_north.save(update_fields=["language"])
    client = Client()
    client.force_login(rep_north)
    try:
        html = client.get(f"/customers/{customer.pk}/").content.decode()
    finally:
        translation.activate("en")

    assert 'data-fact="revenue">¥48,516.50<' in html  # revenue: both orders' totals
    assert "¥12,345.60" in html  # acquisition cost
    assert "¥47,282.00" in html and "$1,234.50" in html  # timeline orders, each in its currency
    assert "47282" not in html


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_django_number_formatting_groups_by_thousands(language):
    with translation.override(language):
        out = Template('{{ n|floatformat:"2g" }}|{% load insights_value %}{{ n|money }}').render(
            Context({"n": Decimal("1234567.891")}))
    assert out == "1,234,567.89|¥1,234,568"
