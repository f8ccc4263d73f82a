"""Default columns of the customer list include the value numbers; a user's choice wins."""

import datetime as dt
import re
from decimal import Decimal

from django.test import Client
from django.urls import reverse

from valuecrm.customers.columns import DEFAULT_COLUMNS
from valuecrm.customers.models import Customer
from valuecrm.insights.models import CustomerValue

DEFAULT_HEADERS = ["Name", "Company", "Email", "Phone", "Owner", "City", "CLV", "Churn risk",
                   "Value tier", "Lifecycle stage"]


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _headers(html: str) -> list[str]:
    thead = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>", thead, flags=re.S)
    texts = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    return [t for t in texts if t]


def _scored(name, owner, **value):
    customer = Customer.objects.create(name=name, owner=owner, team=owner.team)
    fields = {"as_of": dt.date(2026, 1, 1), "clv": Decimal("0"), "tier": "C", "stage": "prospect", **value}
    CustomerValue.objects.create(customer=customer, **fields)
    return customer


def test_default_columns_are_the_contact_and_value_ones():
    assert set(DEFAULT_COLUMNS) == {"name", "company", "email", "phone", "city", "owner",
                                    "tier", "stage", "clv", "churn_risk"}


def test_high_value_at_risk_shows_the_numbers_that_define_it(admin_user):
    _scored("Wang Fang", admin_user, clv=Decimal("12345.67"), churn_risk=0.72, tier="A", stage="at_risk",
            value_at_risk=Decimal("8888"))
    _scored("Li Lei", admin_user, clv=Decimal("10"), churn_risk=0.1, tier="C", stage="loyal")
    Customer.objects.create(name="Not scored", owner=admin_user)

    html = _client(admin_user).get(reverse("customer-list"), {"preset": "high_value_at_risk"}).content.decode()

    assert _headers(html) == DEFAULT_HEADERS
    row = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "Wang Fang" in row and "Li Lei" not in row
    assert "¥12,346" in row and "High" in row and "72%" in row
    assert ">A<" in row and "At risk" in row


def test_unscored_customers_show_dashes_in_value_columns(admin_user):
    Customer.objects.create(name="Not scored", owner=admin_user)
    response = _client(admin_user).get(reverse("customer-list"))
    assert response.status_code == 200
    assert "Not scored" in response.content.decode()


def test_a_users_column_choice_still_wins(admin_user):
    Customer.objects.create(name="Wang Fang", owner=admin_user, city="Hangzhou")
    client = _client(admin_user)
    client.post(reverse("customer-columns"), {"columns": ["name", "city", "tags"]})

    html = client.get(reverse("customer-list")).content.decode()

    assert _headers(html) == ["Name", "City", "Tags"]
