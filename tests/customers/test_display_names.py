"""Users' names read naturally wherever they are shown: 刘洋, never 洋 刘."""

import pytest
from django.test import Client
from django.urls import reverse

from valuecrm.customers.columns import column_by_key
from valuecrm.customers.models import Customer, Note


@pytest.fixture
def liu(make_user, team_north):
    return make_user("liuyang", role="sales_manager", team=team_north, first_name="洋", last_name="刘")


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_list_owner_column_filter_choices_and_bulk_assign_show_family_name_first(liu):
    Customer.objects.create(name="王芳", owner=liu, team=liu.team)
    html = _client(liu).get(reverse("customer-list"), {"owner": str(liu.pk)}).content.decode()
    assert "刘洋" in html
    assert "洋 刘" not in html


def test_timeline_author_and_topbar_show_family_name_first(liu):
    customer = Customer.objects.create(name="王芳", owner=liu, team=liu.team)
    Note.objects.create(customer=customer, body="喜欢绿茶", author=liu)
    html = _client(liu).get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert "洋 刘" not in html
    assert html.count("刘洋") >= 3  # top bar, owner fact, note author


def test_csv_owner_column_uses_the_same_rule():
    text = column_by_key()["owner"].text
    assert text({"owner__first_name": "洋", "owner__last_name": "刘", "owner__username": "u"}) == "刘洋"
    assert text({"owner__first_name": "Ada", "owner__last_name": "Lovelace", "owner__username": "u"}) == "Ada Lovelace"
    assert text({"owner__first_name": "", "owner__last_name": "", "owner__username": "u"}) == "u"
