"""Default columns of the customer list include the value numbers; a user's choice wins."""

import datetime as dt
import re
from decimal import Decimal

from django.urls import reverse

from valuecrm.customers.columns import default_columns
from valuecrm.customers.models import Customer
from valuecrm.insights.models import CustomerValue

from .helpers import client_for

DEFAULT_HEADERS = ["Name", "Company", "Email", "Phone", "Owner", "City", "CLV", "Churn risk",
                   "Value tier", "Lifecycle stage"]


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
    assert set(default_columns()) == {"name", "company", "email", "phone", "city", "owner",
                                    "tier", "stage", "clv", "churn_risk"}


def test_high_value_at_risk_shows_the_numbers_that_define_it(admin_user):
    _scored("Wang Fang", admin_user, clv=Decimal("12345.67"), churn_risk=0.72, tier="A", stage="at_risk",
            value_at_risk=Decimal("8888"))
    _scored("Li Lei", admin_user, clv=Decimal("10"), churn_risk=0.1, tier="C", stage="loyal")
    Customer.objects.create(name="Not scored", owner=admin_user)

    html = client_for(admin_user).get(reverse("customer-list"), {"preset": "high_value_at_risk"}).content.decode()

    assert _headers(html) == DEFAULT_HEADERS
    row = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "Wang Fang" in row and "Li Lei" not in row
    assert "¥12,346" in row and "High" in row and "72%" in row
    assert ">A<" in row and "At risk" in row


def test_unscored_customers_show_dashes_in_value_columns(admin_user):
    Customer.objects.create(name="Not scored", owner=admin_user)
    response = client_for(admin_user).get(reverse("customer-list"))
    assert response.status_code == 200
    assert "Not scored" in response.content.decode()


def test_a_users_column_choice_still_wins(admin_user):
    Customer.objects.create(name="Wang Fang", owner=admin_user, city="Hangzhou")
    client = client_for(admin_user)
    client.post(reverse("customer-columns"), {"columns": ["name", "city", "tags"]})

    html = client.get(reverse("customer-list")).content.decode()

    assert _headers(html) == ["Name", "City", "Tags"]


def _every_column_page(admin_user, n=60):
    from valuecrm.accounts.models import Team
    from valuecrm.customers.models import Tag

    team = Team.objects.create(name="East")
    org = Customer.objects.create(name="Tea Co", kind="organization", owner=admin_user)
    tag = Tag.objects.create(name="VIP", color="danger")
    for i in range(n):
        c = _scored(f"C{i}", admin_user, clv=Decimal(i), churn_risk=i / n, segment="champions" if i % 2 else "")
        Customer.objects.filter(pk=c.pk).update(company=org, team=team, email=f"c{i}@example.com",
                                                phone="+8613800138000", city="Hangzhou", region="Zhejiang",
                                                acquisition_channel="referral", job_title="Buyer")
        c.tags.add(tag)


def test_every_column_renders_without_a_query_per_row(admin_user, django_assert_max_num_queries,
                                                      django_assert_num_queries):
    from valuecrm.customers.columns import all_columns
    from valuecrm.customers.list_rows import RowBuilder
    from valuecrm.customers.selectors import customer_list

    _every_column_page(admin_user)
    client = client_for(admin_user)
    client.post(reverse("customer-columns"), {"columns": [c.key for c in all_columns()]})
    client.get(reverse("customer-list"))  # warm the session

    # +2 over our own 12: the loyalty tier and marketing segment filters (one query each).
    with django_assert_max_num_queries(14):
        html = client.get(reverse("customer-list")).content.decode()
    assert html.count('data-vc-select-row') == 100  # the table's rows and the phone cards
    assert html.count('class="vc-tag bg-danger-subtle text-danger-emphasis">VIP</span>') == 50

    rows, _ = customer_list(user=admin_user, limit=50)
    for row in rows:
        row.initials, row.avatar_colour = "C", 0
    with django_assert_num_queries(0):
        cells = RowBuilder([c.key for c in all_columns()], can_bulk=True).rows(rows)
    assert len(cells) == 50


def test_row_cells_escape_what_users_typed(admin_user):
    Customer.objects.create(name='<img src=x onerror="alert(1)">', owner=admin_user, city="<b>city</b>",
                            email='"quote"@example.com')
    html = client_for(admin_user).get(reverse("customer-list")).content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "<img" not in body and "<b>" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert "&lt;b&gt;city&lt;/b&gt;" in body
