"""Points and membership tier on the customer list: columns without a query per row, and the
tier (is / in) and points (≥ N) filters."""

import pytest
from django.test import Client
from django.urls import reverse

from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.customers.selectors import customer_list
from valuecrm.loyalty.models import Account, Tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def members(admin_user):
    tiers = {t.code: t for t in Tier.objects.all()}
    plan = [("金卡客户", "gold", 500), ("黑金客户", "black", 1200), ("欠分客户", "standard", -30)]
    plan += [(f"M{i}", "silver", i) for i in range(40)]
    made = {}
    for name, code, points in plan:
        c = Customer.objects.create(name=name, owner=admin_user)
        Account.objects.create(customer=c, referral_code=f"C{c.pk:07d}", balance=points, tier=tiers[code])
        made[name] = c
    made["none"] = Customer.objects.create(name="非会员", owner=admin_user)
    return made


def _names(user, **filters):
    rows, _cursor = customer_list(user=user, filters=filters, limit=500)
    return sorted(c.name for c in rows if not c.name.startswith("M"))


def test_points_and_tier_columns_render_without_a_query_per_row(admin_user, members, django_assert_max_num_queries):
    client = Client()
    client.force_login(admin_user)
    client.post(reverse("customer-columns"), {"columns": ["name", "loyalty_points", "membership_tier"]})
    client.get(reverse("customer-list"))  # warm the session
    with django_assert_max_num_queries(14):
        html = client.get(reverse("customer-list")).content.decode()
    assert html.count('href="?membership_tier=silver">Silver</a>') == 40
    assert '<td class="text-end text-nowrap"><span class="">1,200</span></td>' in html
    assert '<td class="text-end text-nowrap"><span class="text-danger">-30</span></td>' in html
    assert 'href="?membership_tier=black">Black Gold</a>' in html
    admin_user.language = "zh-hans"
    admin_user.save(update_fields=["language"])
    html = client.get(reverse("customer-list")).content.decode()
    assert 'href="?membership_tier=black">黑金会员</a>' in html


def test_tier_is_tier_in_and_points_at_least_filters(admin_user, members):
    assert _names(admin_user, membership_tier="gold") == ["金卡客户"]
    assert _names(admin_user, membership_tier="gold,black") == ["金卡客户", "黑金客户"]
    assert _names(admin_user, points_min="500") == ["金卡客户", "黑金客户"]
    assert _names(admin_user, points_min="1000", membership_tier="black,gold") == ["黑金客户"]
    with pytest.raises(ValidationFailed) as bad:
        customer_list(user=admin_user, filters={"membership_tier": "gold,platinum"})
    assert bad.value.errors == {"membership_tier": ["Unknown membership tier."]}
    with pytest.raises(ValidationFailed) as bad:
        customer_list(user=admin_user, filters={"points_min": "many"})
    assert bad.value.errors == {"points_min": ["Enter a whole number of points."]}


def test_the_csv_export_has_the_points_and_tier(admin_user, members):
    from valuecrm.customers.columns import column_by_key

    columns = column_by_key()
    row = {"loyalty_account__balance": 1200, "loyalty_account__tier__name": "Black Gold",
           "loyalty_account__tier__name_zh": "黑金会员"}
    assert columns["loyalty_points"].text(row) == "1200"
    assert columns["membership_tier"].text(row) == "Black Gold"
    empty = dict.fromkeys(row)
    assert (columns["loyalty_points"].text(empty), columns["membership_tier"].text(empty)) == ("", "")
