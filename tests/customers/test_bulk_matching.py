"""Bulk actions on every customer matching the list's filter (not only the 50 on the
page), with a confirmation giving the exact count; and bulk untag."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from tests.customers.helpers import client_for, make
from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.customers.models import Customer, Tag
from valuecrm.customers.selectors import customer_queryset
from valuecrm.customers.services import customers_bulk_tag, customers_bulk_untag


@pytest.fixture
def book(rep_north, rep_south):
    """120 Shanghai customers of rep_north (more than two pages), 5 in Beijing, and
    30 Shanghai customers of rep_south that rep_north cannot see."""
    Customer.objects.bulk_create(
        [Customer(name=f"沪{i:03d}", city="上海", owner=rep_north, team=rep_north.team)
         for i in range(120)]
        + [Customer(name=f"京{i}", city="北京", owner=rep_north, team=rep_north.team)
           for i in range(5)]
        + [Customer(name=f"南{i}", city="上海", owner=rep_south, team=rep_south.team)
           for i in range(30)])


def tagged(name):
    return set(Customer.objects.filter(tags__name=name).values_list("name", flat=True))


def test_tag_everything_matching_the_filter_after_a_confirmation(rep_north, book,
                                                                 django_capture_on_commit_callbacks):
    client = client_for(rep_north)
    page = client.get(reverse("customer-list") + "?city=上海").content.decode()
    assert page.count('data-vc-card') == 50  # one page on screen…
    assert 'data-vc-match-count="120"' in page and 'data-vc-query="city=' in page
    form = {"action": "tag", "tags": "华东", "scope": "matching", "query": urlencode({"city": "上海"}),
            "next": "/customers/?city=上海"}
    confirm = client.post(reverse("customer-bulk"), form)
    assert confirm.status_code == 200 and tagged("华东") == set()  # nothing yet
    text = confirm.content.decode()
    assert "Add the tags “华东” to 120 customers?" in text and "Yes, change 120 customers" in text
    assert 'name="confirmed" value="yes"' in text

    before = OutboxEvent.objects.filter(name="customers.bulk_changed").count()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("customer-bulk"), {**form, "confirmed": "yes"})
    assert done.status_code == 302
    names = tagged("华东")
    # …but all 120 matching Shanghai customers of the rep: not Beijing, not rep_south's.
    assert len(names) == 120 and all(n.startswith("沪") for n in names)
    bulk = OutboxEvent.objects.filter(name="customers.bulk_changed")
    assert bulk.count() == before + 1  # one bulk event for the whole action
    assert bulk.latest("seq").payload["count"] == 120


def test_the_server_applies_the_filter_not_the_ids_sent(rep_north, book):
    shanghai = list(Customer.objects.filter(city="北京").values_list("pk", flat=True))
    client = client_for(rep_north)
    client.post(reverse("customer-bulk"), {
        "action": "tag", "tags": "x", "scope": "matching", "query": "city=上海",
        "ids": shanghai, "confirmed": "yes"})
    assert len(tagged("x")) == 120 and not tagged("x") & {f"京{i}" for i in range(5)}


def test_a_bad_filter_is_refused_by_name(rep_north, book):
    client = client_for(rep_north)
    response = client.post(reverse("customer-bulk"), {
        "action": "tag", "tags": "x", "scope": "matching", "query": "created_from=yesterday",
        "confirmed": "yes"}, follow=True)
    assert "Enter a date as YYYY-MM-DD." in response.content.decode()
    assert tagged("x") == set()


def test_matching_respects_the_role(make_user, team_north, book):
    reader = make_user("reader", role="read_only", team=team_north)
    with pytest.raises(PermissionDenied):
        customers_bulk_tag(actor=reader, customer_ids=customer_queryset(user=reader),
                           tag_names=["x"])


def test_untag_the_ticked_rows_and_everything_matching(rep_north, book,
                                                       django_capture_on_commit_callbacks):
    everyone = customer_queryset(user=rep_north)
    assert customers_bulk_tag(actor=rep_north, customer_ids=everyone, tag_names=["vip", "new"]) == 125
    south = Customer.objects.filter(name="南0").get()
    south.tags.add(Tag.objects.get(name="vip"))

    some = list(Customer.objects.filter(name__in=["京0", "京1"]).values_list("pk", flat=True))
    client = client_for(rep_north)
    client.post(reverse("customer-bulk"), {"action": "untag", "tags": "VIP", "ids": some})
    assert len(tagged("vip")) == 124 and "京0" not in tagged("vip")

    with django_capture_on_commit_callbacks(execute=True):
        changed = customers_bulk_untag(actor=rep_north,
                                       customer_ids=customer_queryset(user=rep_north,
                                                                      filters={"city": "上海"}),
                                       tag_names=["vip"])
    assert changed == 120
    assert tagged("vip") == {"京2", "京3", "京4", "南0"}  # rep_south's customer kept its tag
    assert len(tagged("new")) == 125  # other tags untouched
    untagged = OutboxEvent.objects.filter(name="customer.untagged")
    assert untagged.count() == 2 + 120 and untagged.latest("seq").payload["tags"] == ["vip"]


def test_untag_names_what_is_wrong(rep_north, book):
    with pytest.raises(ValidationFailed) as exc:
        customers_bulk_untag(actor=rep_north, customer_ids=[1], tag_names=["nope"])
    assert exc.value.errors == {"tags": ["No tag named nope."]}
    with pytest.raises(ValidationFailed) as exc:
        customers_bulk_untag(actor=rep_north, customer_ids=[1], tag_names=[])
    assert exc.value.errors == {"tags": ["Choose at least one tag."]}


def test_assign_everything_matching(manager_north, rep_north, book):
    mate = make("extra", owner=manager_north)
    client = client_for(manager_north)
    form = {"action": "assign", "owner": str(manager_north.pk), "scope": "matching",
            "query": "city=北京"}
    page = client.post(reverse("customer-bulk"), form).content.decode()
    assert f"Assign 5 customers to {manager_north.display_name}?" in page
    client.post(reverse("customer-bulk"), {**form, "confirmed": "yes"})
    assert set(Customer.objects.filter(owner=manager_north).values_list("name", flat=True)) == {
        "京0", "京1", "京2", "京3", "京4", mate.name}


def test_a_large_selection_is_fine_for_the_database(rep_north, django_capture_on_commit_callbacks):
    Customer.objects.bulk_create([Customer(name=f"c{i}", owner=rep_north, team=rep_north.team)
                                  for i in range(5000)])
    ids = list(Customer.objects.values_list("pk", flat=True))
    assert customers_bulk_tag(actor=rep_north, customer_ids=ids, tag_names=["big"]) == 5000
    assert customers_bulk_untag(actor=rep_north, customer_ids=customer_queryset(user=rep_north),
                                tag_names=["big"]) == 5000
