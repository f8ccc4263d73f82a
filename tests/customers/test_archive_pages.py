"""Archive, unarchive and delete a customer: hidden from list, search, export and API
by default with a filter to show them; delete only after a confirmation page that says
what goes; managers only; invisible customers are 404."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from valuecrm.common.models import OutboxEvent
from valuecrm.customers.models import Customer, Note, Task
from valuecrm.customers.services import customer_archive, customer_unarchive
from valuecrm.orders.models import Order

from .helpers import client_for, make

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(manager_north, rep_north):
    kept, gone = make("王芳", owner=rep_north), make("王小明", owner=rep_north)
    return kept, gone


def _export_names(client, **params):
    response = client.get(reverse("customer-export"), params)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    return sorted(r[rows[0].index("Name")] for r in rows[1:])


def test_archived_customer_leaves_list_search_palette_export_and_api_until_asked(
        manager_north, pair, api_client_for):
    kept, gone = pair
    client = client_for(manager_north)
    response = client.post(reverse("customer-archive", args=[gone.pk]), follow=True)
    assert response.redirect_chain == [(reverse("customer-detail", args=[gone.pk]), 302)]
    gone.refresh_from_db()
    assert gone.archived_at is not None
    assert OutboxEvent.objects.filter(name="customer.archived", customer_id=gone.pk).exists()

    listing = client.get(reverse("customer-list")).content.decode()
    assert "王芳" in listing and "王小明" not in listing
    assert "王小明" in client.get(reverse("customer-list"), {"archived": "yes"}).content.decode()
    assert "王小明" not in client.get(reverse("palette"), {"q": "王"}).content.decode()
    assert _export_names(client) == ["王芳"]
    assert _export_names(client, archived="yes") == ["王小明"]

    api = api_client_for(manager_north)
    assert [c["name"] for c in api.get("/api/v1/customers").json()["items"]] == ["王芳"]
    archived = api.get("/api/v1/customers", {"archived": "true"}).json()["items"]
    assert [c["name"] for c in archived] == ["王小明"] and archived[0]["archived_at"]

    # The record page still opens, says it is archived, and offers to bring it back.
    page = client.get(reverse("customer-detail", args=[gone.pk])).content.decode()
    assert 'data-testid="archived-banner"' in page and reverse("customer-unarchive", args=[gone.pk]) in page
    client.post(reverse("customer-unarchive", args=[gone.pk]), follow=True)
    gone.refresh_from_db()
    assert gone.archived_at is None
    assert "王小明" in client.get(reverse("customer-list")).content.decode()
    assert OutboxEvent.objects.filter(name="customer.unarchived", customer_id=gone.pk).exists()


def test_reps_cannot_archive_or_delete_and_others_customers_are_404(rep_north, rep_south, pair):
    kept, _ = pair
    assert client_for(rep_north).post(reverse("customer-archive", args=[kept.pk])).status_code == 403
    assert client_for(rep_north).get(reverse("customer-delete", args=[kept.pk])).status_code == 403
    assert client_for(rep_south).post(reverse("customer-archive", args=[kept.pk])).status_code == 404
    kept.refresh_from_db()
    assert kept.archived_at is None
    assert "customer-archive" not in client_for(rep_north).get(reverse("customer-detail", args=[kept.pk])).content.decode()


def test_delete_confirmation_says_what_goes_and_deletes_on_post(manager_north, pair):
    _, gone = pair
    Task.objects.create(title="回访", customer=gone)
    Task.objects.create(title="寄样品", customer=gone)
    Note.objects.create(customer=gone, body="喜欢绿茶")
    client = client_for(manager_north)
    page = client.get(reverse("customer-delete", args=[gone.pk]))
    assert page.context["summary"] == {"orders": 0, "tasks": 2, "notes": 1, "interactions": 0,
                                       "contact_points": 0, "contacts": 0}
    html = page.content.decode()
    assert "2 tasks" in html and "1 note" in html and "Delete for good" in html
    assert Customer.objects.filter(pk=gone.pk).exists()  # GET deletes nothing

    response = client.post(reverse("customer-delete", args=[gone.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("customer-list")
    assert not Customer.objects.filter(pk=gone.pk).exists()
    assert not Task.objects.filter(title__in=["回访", "寄样品"]).exists()
    assert OutboxEvent.objects.filter(name="customer.deleted", customer_id=gone.pk).exists()


def test_customer_with_orders_is_archived_instead_of_deleted(manager_north, pair):
    kept, _ = pair
    Order.objects.create(customer=kept, external_id="A-1", total_amount=Decimal("99"))
    client = client_for(manager_north)
    page = client.get(reverse("customer-delete", args=[kept.pk])).content.decode()
    assert 'data-testid="orders-block"' in page and "Delete for good" not in page and "Archive instead" in page
    refused = client.post(reverse("customer-delete", args=[kept.pk]))
    assert refused.status_code == 409
    assert Customer.objects.filter(pk=kept.pk).exists() and Order.objects.filter(customer=kept).count() == 1


def test_archive_services_are_idempotent_and_permission_checked(manager_north, rep_north, pair):
    from valuecrm.common.errors import PermissionDenied

    kept, _ = pair
    with pytest.raises(PermissionDenied):
        customer_archive(actor=rep_north, customer=kept)
    first = customer_archive(actor=manager_north, customer=kept)
    again = customer_archive(actor=manager_north, customer=kept)
    assert again.archived_at == first.archived_at
    assert OutboxEvent.objects.filter(name="customer.archived").count() == 1
    assert customer_unarchive(actor=manager_north, customer=kept).archived_at is None


def test_archive_pages_in_chinese(manager_north, pair):
    _, gone = pair
    html = client_for(manager_north).get(reverse("customer-delete", args=[gone.pk]),
                                         HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "删除后无法恢复" in html and "永久删除" in html and "改为归档" in html
