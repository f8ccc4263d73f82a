"""One visibility rule per owned record type, and every read path agrees with it.

For each user in each scope (own, team, all) the set of records the model's
`visible_to(user)` returns must be exactly what the API lists, what the pages
show and what the export/palette return — a path that disagrees is a leak or a
dead link. Task visibility used to differ between the activities list and the
record page's done button (a manager could see a team-mate's customerless task
but got a 404 completing it); this pins the one rule.
"""

import csv
import io

import pytest
from django.urls import reverse

from tests.customers.helpers import client_for, make
from valuecrm.customers import services
from valuecrm.customers.models import ContactPoint, Customer, Interaction, Note, Task
from valuecrm.orders.models import Order


@pytest.fixture
def world(admin_user, rep_north, rep_south, manager_north, make_user, team_north):
    """Customers owned across two teams, plus tasks about them and about no one."""
    rep_north_2 = make_user("rep_north_2", role="sales_rep", team=team_north)
    customers = {
        "north": make("Parity north", rep_north, email="n@example.com"),
        "north2": make("Parity north two", rep_north_2),
        "south": make("Parity south", rep_south, email="s@example.com"),
        "nobody": make("Parity unowned"),
    }
    for customer in customers.values():
        services.task_create(actor=admin_user, customer=customer, title=f"Call {customer.name}")
        Note.objects.create(customer=customer, body="note")
        Interaction.objects.create(customer=customer, kind="call", subject="hello")
        Order.objects.create(customer=customer, external_id=f"o-{customer.pk}", total_amount=10)
    # Tasks about no customer: a rep's own, one a rep gave a team-mate, one in the south.
    services.task_create(actor=rep_north, title="Own errand")
    services.task_create(actor=rep_north, title="For a team-mate", assignee=rep_north_2)
    services.task_create(actor=rep_south, title="Southern errand")
    return {"customers": customers, "users": [admin_user, rep_north, rep_north_2, rep_south, manager_north]}


def _api_ids(client, path):
    ids, cursor = set(), None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params).json()
        ids |= {item["id"] for item in body["items"]}
        cursor = body.get("next_cursor")
        if not cursor:
            return ids


def test_customers_agree_across_api_page_export_and_palette(world, api_client_for):
    for user in world["users"]:
        expected = set(Customer.objects.visible_to(user).values_list("pk", flat=True))
        assert _api_ids(api_client_for(user), "/api/v1/customers") == expected, user.username

        client = client_for(user)
        page = client.get(reverse("customer-list"), {"q": "Parity"})
        assert {c.pk for c in page.context["rows"]} == expected, user.username

        body = b"".join(client.get(reverse("customer-export")).streaming_content)
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
        assert {int(row[0]) for row in rows} == expected, user.username

        palette = client.get(reverse("palette"), {"q": "Parity"})
        assert {c.pk for c in palette.context["customers"]} == expected, user.username


def test_records_about_a_customer_follow_the_customer(world, api_client_for):
    for user in world["users"]:
        visible = set(Customer.objects.visible_to(user).values_list("pk", flat=True))
        for model in (Note, Interaction, ContactPoint, Order):
            ids = set(model.objects.visible_to(user).values_list("customer_id", flat=True))
            assert ids <= visible, (model.__name__, user.username)
        client = api_client_for(user)
        expected_orders = set(Order.objects.visible_to(user).values_list("pk", flat=True))
        assert _api_ids(client, "/api/v1/orders") == expected_orders, user.username
        assert {o.customer_id for o in Order.objects.filter(pk__in=expected_orders)} == visible
        expected_interactions = set(Interaction.objects.visible_to(user).values_list("pk", flat=True))
        assert _api_ids(client, "/api/v1/interactions") == expected_interactions, user.username


def test_tasks_one_rule_for_api_inbox_record_page_and_done_button(world, api_client_for, manager_north):
    for user in world["users"]:
        expected = set(Task.objects.visible_to(user).values_list("pk", flat=True))
        assert _api_ids(api_client_for(user), "/api/v1/tasks") == expected, user.username
        client = client_for(user)
        for task in Task.objects.all():
            # The done button answers 404 exactly for the tasks the user cannot see.
            response = client.post(reverse("task-done", args=[task.pk]))
            assert (response.status_code != 404) == (task.pk in expected), (user.username, task.title)

    # The rule itself, spelled out for the team manager of the north.
    titles = set(Task.objects.visible_to(manager_north).values_list("title", flat=True))
    assert titles == {"Call Parity north", "Call Parity north two", "Own errand", "For a team-mate"}


def test_anonymous_sees_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    for model in (Customer, Task, Note, Interaction, ContactPoint, Order):
        assert not model.objects.visible_to(anonymous).exists(), model.__name__
