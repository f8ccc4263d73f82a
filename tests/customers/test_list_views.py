import re

import pytest
from django.test import Client
from django.urls import reverse

from valuecrm.customers.models import SavedView, Tag

from .helpers import client_for, make


def row_names(html: str) -> list[str]:
    return re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', html)


def test_home_redirects_to_the_customer_list(admin_user):
    response = client_for(admin_user).get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("customer-list")


def test_list_requires_login():
    response = Client().get(reverse("customer-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_full_page_renders_with_layout_rows_and_chips(rep_north, rep_south):
    make("Alice", rep_north, city="Shanghai")
    make("Bob", rep_north, city="Beijing")
    make("Hidden", rep_south, city="Shanghai")

    response = client_for(rep_north).get(reverse("customer-list"), {"city": "Shanghai"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="vc-sidebar' in html and 'id="vc-list-form"' in html
    assert row_names(html) == ["Alice"]
    assert 'class="vc-chip"' in html and "Shanghai" in html
    assert 'data-vc-chip-remove="city"' in html
    # The chip's link removes just that filter.
    assert 'href="/customers/"' in html


def test_htmx_request_gets_only_the_results_partial(admin_user):
    make("Alice")
    response = client_for(admin_user).get(
        reverse("customer-list"), {"q": "ali", "kind": ""}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="vc-results"')
    assert "<html" not in html and "vc-sidebar" not in html
    assert row_names(html) == ["Alice"]
    # Blank form fields are not pushed into the address bar.
    assert response["HX-Push-Url"] == "/customers/?q=ali"
    # The export link follows the current view (out-of-band swap).
    assert 'id="vc-export-link"' in html and 'hx-swap-oob="true"' in html


def test_bad_filter_is_reported_not_a_500(admin_user):
    make("Alice")
    response = client_for(admin_user).get(reverse("customer-list"), {"kind": "robot", "sort": "zzz"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "were not valid and were ignored" in html
    assert "<code>kind</code>" in html and "<code>sort</code>" in html
    assert row_names(html) == ["Alice"]


def test_keyset_pagination_links_walk_all_rows(admin_user):
    for i in range(60):
        make(f"C{i:02d}")
    client = client_for(admin_user)
    first = client.get(reverse("customer-list"), {"sort": "name"}).content.decode()
    assert row_names(first)[:2] == ["C00", "C01"] and len(row_names(first)) == 50
    assert "Showing 1–50 of 60" in first
    next_url = re.search(r'href="(/customers/\?[^"]*after=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).content.decode()
    assert row_names(second) == [f"C{i:02d}" for i in range(50, 60)]
    assert "Showing 51–60 of 60" in second


def test_stale_cursor_falls_back_to_first_page(admin_user):
    make("Alice")
    response = client_for(admin_user).get(reverse("customer-list"), {"after": "garbage"})
    assert response.status_code == 200
    assert row_names(response.content.decode()) == ["Alice"]
    assert "<code>after</code>" in response.content.decode()


def test_capped_count_is_shown_for_large_results(admin_user, monkeypatch):
    from valuecrm.customers.views import listing

    monkeypatch.setattr(listing, "COUNT_CAP", 5)
    for i in range(8):
        make(f"C{i}")
    client = client_for(admin_user)
    searched = client.get(reverse("customer-list") + "?q=C").content.decode()
    whole = client.get(reverse("customer-list")).content.decode()

    assert "Showing 1–8 of 5+" in searched
    assert "Showing 1–8 of 8" in whole  # the whole base is counted exactly


def test_list_query_count_is_bounded(admin_user, django_assert_max_num_queries):
    tag = Tag.objects.create(name="vip")
    acme = make("Acme", kind="organization")
    for i in range(50):
        make(f"C{i}", admin_user, company=acme).tags.add(tag)
    client = client_for(admin_user)
    client.get(reverse("customer-list"))  # warm the session
    # 12 of our own + one each for the filters the loyalty (tier) and marketing (segment) apps
    # contribute through the extension registry; none of them grows with the rows.
    with django_assert_max_num_queries(14):
        response = client.get(reverse("customer-list"))
    assert len(row_names(response.content.decode())) == 50


def test_column_choice_is_remembered_in_the_session(admin_user):
    make("Alice", email="alice@example.com", city="Hangzhou")
    client = client_for(admin_user)
    response = client.post(reverse("customer-columns"), {"columns": ["name", "city"], "next": "/customers/?q=a"})
    assert response.status_code == 302 and response["Location"] == "/customers/?q=a"

    html = client.get(reverse("customer-list")).content.decode()
    assert "Hangzhou" in html
    assert "alice@example.com" not in html


def test_column_next_rejects_other_hosts(admin_user):
    response = client_for(admin_user).post(
        reverse("customer-columns"), {"columns": ["name"], "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("customer-list")


def test_saved_view_save_apply_and_delete(manager_north, rep_north):
    make("Alice", rep_north, city="Shanghai")
    make("Bob", rep_north, city="Beijing")
    client = client_for(manager_north)
    response = client.post(reverse("customer-view-create"),
                           {"name": "Shanghai", "query": "city=Shanghai&sort=name", "shared": "on"})
    assert response.status_code == 302
    view = SavedView.objects.get()
    assert (view.owner, view.shared, view.query["filters"], view.query["sort"]) == (
        manager_north, True, {"city": "Shanghai"}, "name")

    applied = client.get(reverse("customer-list"), {"view": view.pk})
    assert applied.status_code == 302
    assert applied["Location"] == "/customers/?city=Shanghai&sort=name"
    assert row_names(client.get(applied["Location"]).content.decode()) == ["Alice"]

    # Shared: the rep sees it but cannot delete it.
    rep = client_for(rep_north)
    assert "Shanghai" in rep.get(reverse("customer-list")).content.decode()
    rep.post(reverse("customer-view-delete", args=[view.pk]))
    assert SavedView.objects.filter(pk=view.pk).exists()

    client.post(reverse("customer-view-delete", args=[view.pk]))
    assert not SavedView.objects.exists()


def test_rep_cannot_share_or_save_a_view_with_bad_filters(rep_north):
    client = client_for(rep_north)
    client.post(reverse("customer-view-create"), {"name": "Mine", "query": "", "shared": "on"})
    client.post(reverse("customer-view-create"), {"name": "Bad", "query": "kind=robot"})
    assert not SavedView.objects.exists()
    client.post(reverse("customer-view-create"), {"name": "Mine", "query": "kind=person"})
    assert SavedView.objects.get().shared is False


def test_private_view_of_someone_else_is_not_found(rep_north, rep_south):
    view = SavedView.objects.create(name="Secret", owner=rep_south, query={"filters": {}})
    response = client_for(rep_north).get(reverse("customer-list"), {"view": view.pk})
    assert response.status_code == 404


def test_bulk_tag_only_touches_visible_customers(rep_north, rep_south):
    mine = make("Mine", rep_north)
    theirs = make("Theirs", rep_south)
    response = client_for(rep_north).post(reverse("customer-bulk"), {
        "action": "tag", "ids": [mine.pk, theirs.pk], "tags": "vip， hot", "next": "/customers/",
    })
    assert response.status_code == 302
    assert sorted(t.name for t in mine.tags.all()) == ["hot", "vip"]
    assert list(theirs.tags.all()) == []


def test_bulk_assign_is_for_managers_only(rep_north, manager_north, make_user, team_north):
    colleague = make_user("rep_north_2", team=team_north)
    customer = make("Mine", rep_north)

    client_for(rep_north).post(reverse("customer-bulk"), {"action": "assign", "ids": [customer.pk],
                                                         "owner": colleague.pk})
    customer.refresh_from_db()
    assert customer.owner == rep_north

    response = client_for(manager_north).post(reverse("customer-bulk"), {
        "action": "assign", "ids": [customer.pk], "owner": colleague.pk})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.owner == colleague


def test_bulk_without_selection_or_with_unknown_action(admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("customer-bulk"), {"action": "tag", "tags": "x"}, follow=True)
    assert "Select at least one customer." in response.content.decode()
    c = make("A")
    assert client.post(reverse("customer-bulk"), {"action": "explode", "ids": [c.pk]}).status_code == 400


# ---------------------------------------------------------------- palette

def test_palette_lists_only_visible_customers_and_pages(rep_north, rep_south):
    make("Zhang Mine", rep_north)
    make("Zhang Theirs", rep_south)
    response = client_for(rep_north).get(reverse("palette"), {"q": "zhang"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Zhang Mine" in html
    assert "Zhang Theirs" not in html


def test_palette_without_query_offers_pages(rep_north):
    html = client_for(rep_north).get(reverse("palette")).content.decode()
    assert 'href="/customers/"' in html
    assert "Administration" not in html  # not staff


@pytest.mark.parametrize("query", ["x" * 500, "\x00"])
def test_palette_survives_odd_input(rep_north, query):
    assert client_for(rep_north).get(reverse("palette"), {"q": query}).status_code == 200
