"""The customer page shows 30 timeline entries and a "Show more" button that appends the next page."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from valuecrm.customers.models import Customer, Note, Task
from valuecrm.orders.models import Order

NOW = timezone.now()


@pytest.fixture
def customer(rep_north):
    customer = Customer.objects.create(name="Wang Fang", owner=rep_north, team=rep_north.team)
    for i in range(109):
        Order.objects.create(customer=customer, external_id=f"O-{i:03}", placed_at=NOW - timedelta(days=i))
    for i in range(5):
        Note.objects.create(customer=customer, body=f"note {i}", created_at=NOW - timedelta(days=i, hours=1))
    Task.objects.create(customer=customer, title="send the quote", due_at=NOW + timedelta(days=1))
    return customer


@pytest.fixture
def client(rep_north):
    client = Client()
    client.force_login(rep_north)
    return client


def _entries(html):
    return re.findall(r'data-entry="((?:order|note|task|interaction)-\d+)"', html)


def _more_url(html):
    match = re.search(r'<li class="vc-tl-more[^>]*>\s*<a [^>]*hx-get="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_first_page_has_30_entries_open_tasks_on_top_and_a_show_more_button(client, customer):
    html = client.get(f"/customers/{customer.pk}/").content.decode()

    assert len(_entries(html)) == 31  # the open follow-up + 30 stream entries
    assert html.index("send the quote") < html.index("O-000")
    assert "Show more" in html
    assert _more_url(html).startswith(f"/customers/{customer.pk}/timeline/?before=")


def test_show_more_appends_every_later_entry_once(client, customer, django_assert_max_num_queries):
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    seen = _entries(html)
    url = _more_url(html)
    pages = 1
    while url:
        with django_assert_max_num_queries(12):
            response = client.get(url, HTTP_HX_REQUEST="true")
        part = response.content.decode()
        assert response.status_code == 200
        assert part.lstrip().startswith("<li")  # list items only: appended in place of the button
        assert "send the quote" not in part and 'id="timeline"' not in part
        seen += _entries(part)
        url = _more_url(part)
        pages += 1

    assert pages == 4  # 114 entries: 30 + 30 + 30 + 24
    assert len(seen) == len(set(seen)) == 1 + 109 + 5


def test_paging_keeps_the_type_filter(client, customer):
    html = client.get(f"/customers/{customer.pk}/timeline/", {"type": "order"}).content.decode()
    url = _more_url(html)
    assert "type=order" in url
    part = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert {e.split("-")[0] for e in _entries(part)} == {"order"}
    assert "type=order" in _more_url(part)


def test_without_javascript_the_link_opens_the_page_at_the_older_entries(client, customer):
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    href = re.search(r'<li class="vc-tl-more[^>]*>\s*<a [^>]*href="([^"]+)"', html).group(1).replace("&amp;", "&")
    older = client.get(href).content.decode()
    assert "O-030" in older and "O-000" not in older


def test_a_broken_cursor_is_a_400_not_a_500(client, customer):
    response = client.get(f"/customers/{customer.pk}/timeline/", {"before": "12.x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400


def test_another_teams_customer_timeline_page_is_a_404(rep_south, customer):
    client = Client()
    client.force_login(rep_south)
    assert client.get(f"/customers/{customer.pk}/timeline/", {"before": "1.1.1"}).status_code == 404
