"""Phone search by prefix and by tail, on the index; the palette's pages and namesake details."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from valuecrm.customers.normalize import phone_search_prefixes, prefix_upper_bound
from valuecrm.customers.selectors import customer_list, customer_queryset

from .helpers import client_for, make


@pytest.fixture
def phones(admin_user):
    make("Mobile", phone="+8615199601234")
    make("Neighbour", phone="+8615199611234")
    make("Landline", phone="+862161234567")
    make("Hong Kong", phone="+85291234567")
    make("No phone", email="x1519960@example.com")
    return admin_user


@pytest.mark.parametrize(("query", "expected"), [
    ("1519960", ["Mobile"]),  # prefix of the national number
    ("151 9960", ["Mobile"]),
    ("15199", ["Mobile", "Neighbour"]),
    ("+86 151 9960", ["Mobile"]),
    ("86 151 9960", ["Mobile"]),  # country code typed without "+"
    ("021 6123", ["Landline"]),  # trunk 0 dropped
    ("+852 9123", ["Hong Kong"]),
    ("00852 9123 4567", ["Hong Kong"]),
    ("1234", ["Mobile", "Neighbour"]),  # the last digits
    ("4567", ["Hong Kong", "Landline"]),
    ("9960", []),  # the middle of a number is neither a prefix nor a tail
    ("15199601234", ["Mobile"]),
    ("1519962", []),
])
def test_phone_search(phones, query, expected):
    rows, _cursor = customer_list(user=phones, search=query, sort="name")
    assert [c.name for c in rows] == sorted(expected)


def test_search_keys_come_from_one_function():
    assert phone_search_prefixes("1519960") == ["+861519960"]
    assert phone_search_prefixes("86 151 9960") == ["+86861519960", "+861519960"]
    assert phone_search_prefixes("1519960", region="HK") == ["+8521519960"]
    assert prefix_upper_bound("+861519960") == "+861519961"
    assert prefix_upper_bound("+86159") == "+8616"
    assert prefix_upper_bound("+999") is None


def test_a_long_phone_search_is_an_index_lookup_on_the_search_tokens(phones):
    sql, params = customer_queryset(user=phones, search="1519960").query.sql_with_params()
    # Phones are encrypted: the search is an equality on the keyed-hash token index, never a
    # range or LIKE on the (ciphertext) phone column, and the typed digits are not in the SQL.
    where = sql.split(" WHERE ", 1)[1]
    assert '"phone"' not in where and "LIKE" not in where.upper(), where
    assert 'FROM "customers_customersearchtoken" WHERE "customers_customersearchtoken"."token" IN' in where, where
    assert "1519960" not in str(params)
    if connection.vendor != "sqlite":
        return  # PostgreSQL plans depend on table statistics; the SQL shape above is what we control
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert re.search(r"SEARCH \S+ USING COVERING INDEX \S*token\S* \(token=\?\)", plan), plan


# ---------------------------------------------------------------- palette


def test_palette_tells_namesakes_apart(admin_user, rep_north):
    make("王宇航", rep_north, phone="+8613800138000", city="上海")
    make("王宇航", None, email="wangyuhang@example.cn", city="北京")
    html = client_for(admin_user).get(reverse("palette"), {"q": "王宇航"}).content.decode()
    metas = re.findall(r'<span class="vc-palette-meta">(.*?)</span>\n</a>', html, re.S)
    assert [re.sub(r"<[^>]+>", "", m) for m in metas] == [
        "…8000 · 上海 · rep_north", "wangyuhang@example.cn · 北京 · no owner"]


def test_palette_finds_a_customer_by_phone_prefix(admin_user):
    make("Mobile", phone="+8615199601234")
    html = client_for(admin_user).get(reverse("palette"), {"q": "1519960"}).content.decode()
    assert ">Mobile<" in html


def _page_links(user, q=""):
    html = client_for(user).get(reverse("palette"), {"q": q} if q else {}).content.decode()
    return re.findall(r'id="vc-palette-p\d+" aria-selected="false" href="([^"]+)"', html)


# The peer apps' pages, contributed through the extension registry (programme settings are admin-only).
PEER_PAGES = ["/service/", "/service/dashboard/", "/service/topics/", "/loyalty/", "/loyalty/vip/", "/deals/", "/deals/list/",
              "/deals/forecast/", "/deals/dashboard/", "/pool/", "/marketing/", "/marketing/segments/"]


def test_palette_lists_every_page_the_user_may_open(admin_user, rep_north, manager_north):
    admin_user.is_staff = True
    admin_user.save()
    assert _page_links(admin_user) == [
        "/customers/", "/customers/new/", "/inbox/", "/imports/", "/imports/new/", "/duplicates/",
        "/merges/", "/value/", "/value/model/", "/value/settings/", "/integrations/",
        "/integrations/deliveries/", "/profile/", "/settings/users/", "/admin/",
        "/orders/", "/orders/new/", "/products/", "/automation/", *PEER_PAGES[:5], "/loyalty/program/",
        *PEER_PAGES[5:], "/api/docs"]
    assert _page_links(manager_north) == [
        "/customers/", "/customers/new/", "/inbox/", "/imports/", "/imports/new/", "/duplicates/",
        "/merges/", "/value/", "/value/model/", "/value/settings/", "/profile/",
        "/orders/", "/orders/new/", "/products/", *PEER_PAGES, "/api/docs"]
    # Django admin is for superusers only: a staff flag alone does not list it.
    rep_north.is_staff = True
    rep_north.save()
    assert "/admin/" not in _page_links(rep_north)
    assert "/duplicates/" not in _page_links(rep_north)


@pytest.mark.parametrize(("q", "expected"), [
    ("dup", ["/duplicates/"]),
    ("import", ["/imports/", "/imports/new/"]),
    ("webhook", ["/integrations/", "/integrations/deliveries/"]),
    ("settings", ["/value/settings/", "/profile/", "/loyalty/program/"]),
])
def test_palette_finds_pages_by_keyword(admin_user, q, expected):
    assert _page_links(admin_user, q) == expected


def test_palette_finds_pages_by_chinese_label(admin_user):
    client = client_for(admin_user)
    client.cookies["django_language"] = "zh-hans"
    html = client.get(reverse("palette"), {"q": "重复"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'href="/duplicates/"' in html
