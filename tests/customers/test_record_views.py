"""The customer 360 page, its quick actions and the create/edit forms."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from valuecrm.customers.models import (
    Address,
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    Interaction,
    Note,
    Task,
)
from valuecrm.customers.services import customer_create
from valuecrm.orders.models import Order

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def customer(rep_north):
    return customer_create(actor=rep_north, data={
        "name": "Wang Fang", "phone": "13800138000", "email": "wang@example.com",
        "city": "Hangzhou", "region": "Zhejiang", "tags": ["VIP"], "consent_email": True,
    })


@pytest.fixture
def north_client(client, rep_north):
    client.force_login(rep_north)
    return client


@pytest.fixture
def viewer(make_user, team_north):
    return make_user("viewer", role="read_only", team=team_north)


def _entries(html: str) -> list[str]:
    return re.findall(r'data-entry="([a-z]+)-\d+"', html)


def _entry_ids(html: str) -> list[str]:
    return re.findall(r'data-entry="([a-z]+-\d+)"', html)


# ---------------------------------------------------------------- the page


def test_page_shows_key_facts_contacts_consent_and_custom_fields(north_client, customer):
    CustomFieldDefinition.objects.create(key="wechat_group", label="WeChat group", label_zh="微信群",
                                         field_type="text")
    Customer.objects.filter(pk=customer.pk).update(custom_fields={"wechat_group": "Hangzhou tea lovers"})
    ContactPoint.objects.create(customer=customer, kind="wechat", value="wangfang88")
    Address.objects.create(customer=customer, line1="1 West Lake Rd", city="Hangzhou")
    now = timezone.now()
    Order.objects.create(customer=customer, external_id="S-1", status="paid", total_amount=Decimal("100.00"),
                         placed_at=now - timedelta(days=10))
    Order.objects.create(customer=customer, external_id="S-2", status="fulfilled",
                         total_amount=Decimal("1250.50"), placed_at=now - timedelta(days=3))
    Order.objects.create(customer=customer, external_id="S-3", status="cancelled", total_amount=Decimal("999"),
                         placed_at=now - timedelta(days=1))

    response = north_client.get(f"/customers/{customer.pk}/")
    html = response.content.decode()

    assert response.status_code == 200
    assert '<dd data-fact="order-count">2</dd>' in html
    assert '<dd data-fact="revenue">¥1,350.50</dd>' in html
    last = timezone.localtime(now - timedelta(days=3)).strftime("%Y-%m-%d")
    assert f'<dd data-fact="last-order">{last}</dd>' in html
    assert ">+86 138 0013 8000</a>" in html
    assert 'href="tel:+8613800138000"' in html
    assert 'href="mailto:wang@example.com"' in html
    assert "wangfang88" in html
    assert "1 West Lake Rd" in html
    assert re.findall(r'data-consent="\d">\s*<i class="bi (bi-[a-z-]+)', html) == [
        "bi-check-circle", "bi-x-circle", "bi-x-circle", "bi-x-circle",
    ]
    assert '<dt>WeChat group</dt><dd data-custom-field="wechat_group">Hangzhou tea lovers</dd>' in html
    assert 'class="vc-tag text-bg-secondary">VIP</span>' in html
    assert "Hangzhou, Zhejiang" in html
    for section in ('id="contact-heading"', 'id="pane-timeline"', 'id="pane-history"', 'id="timeline"',
                    'id="quick-note"', 'id="quick-interaction"', 'id="quick-task"'):
        assert section in html


def test_custom_field_label_is_chinese_when_chinese_is_active(client, rep_north, customer):
    CustomFieldDefinition.objects.create(key="wechat_group", label="WeChat group", label_zh="微信群",
                                         field_type="text")
    rep_north.language = "zh-hans"
    rep_north.save(update_fields=["language"])
    client.force_login(rep_north)

    html = client.get(f"/customers/{customer.pk}/").content.decode()

    assert '<dt>微信群</dt><dd data-custom-field="wechat_group">—</dd>' in html
    translation.activate("en")


def test_timeline_is_newest_first_with_open_tasks_on_top(north_client, customer, rep_north):
    now = timezone.now()
    order = Order.objects.create(customer=customer, external_id="S-1", placed_at=now - timedelta(days=3))
    note = Note.objects.create(customer=customer, body="prefers WeChat", created_at=now - timedelta(days=2))
    call = Interaction.objects.create(customer=customer, kind="call", occurred_at=now - timedelta(days=1))
    later = Task.objects.create(customer=customer, title="send quote", due_at=now + timedelta(days=2))
    overdue = Task.objects.create(customer=customer, title="call back", due_at=now - timedelta(hours=5))

    html = north_client.get(f"/customers/{customer.pk}/").content.decode()

    assert _entry_ids(html) == [
        f"task-{overdue.pk}", f"task-{later.pk}",
        f"interaction-{call.pk}", f"note-{note.pk}", f"order-{order.pk}",
    ]
    # The overdue follow-up is flagged in red.
    overdue_item = html[html.index(f'data-entry="task-{overdue.pk}"'):html.index(f'data-entry="task-{later.pk}"')]
    assert "text-danger" in overdue_item and "Overdue" in overdue_item


def test_timeline_partial_filters_by_type(north_client, customer):
    Note.objects.create(customer=customer, body="n1")
    Interaction.objects.create(customer=customer, kind="email")
    Order.objects.create(customer=customer, external_id="S-1")

    notes = north_client.get(f"/customers/{customer.pk}/timeline/?type=note", **HTMX)
    everything = north_client.get(f"/customers/{customer.pk}/timeline/?type=bogus", **HTMX)

    assert notes.status_code == 200
    assert notes.content.decode().lstrip().startswith('<div id="timeline"')
    assert "<html" not in notes.content.decode()
    assert _entries(notes.content.decode()) == ["note"]
    assert sorted(_entries(everything.content.decode())) == ["interaction", "note", "order"]


# ---------------------------------------------------------------- quick actions


def test_add_note_with_htmx_creates_it_and_returns_the_timeline(north_client, customer, rep_north):
    response = north_client.post(f"/customers/{customer.pk}/notes/", {"body": "Asked about bulk prices"}, **HTMX)

    note = Note.objects.get(customer=customer)
    html = response.content.decode()
    assert response.status_code == 200
    assert (note.body, note.author) == ("Asked about bulk prices", rep_north)
    assert html.lstrip().startswith('<div id="timeline"')
    assert _entry_ids(html) == [f"note-{note.pk}"]
    assert response["HX-Trigger"] == "timeline-changed"


def test_log_a_call_stores_kind_direction_and_time(north_client, customer, rep_north):
    response = north_client.post(f"/customers/{customer.pk}/interactions/", {
        "kind": "call", "direction": "inbound", "occurred_at": "2024-05-10T14:30",
        "subject": "Complaint about delivery", "body": "Parcel late",
    }, **HTMX)

    interaction = Interaction.objects.get(customer=customer)
    assert response.status_code == 200
    assert (interaction.kind, interaction.direction, interaction.subject, interaction.author) == (
        "call", "inbound", "Complaint about delivery", rep_north)
    # A datetime-local value is wall-clock time in the site's zone (Asia/Shanghai).
    assert interaction.occurred_at.isoformat() == "2024-05-10T06:30:00+00:00"
    assert f'data-entry="interaction-{interaction.pk}"' in response.content.decode()


def test_create_follow_up_assigns_it_to_the_user(north_client, customer, rep_north):
    response = north_client.post(f"/customers/{customer.pk}/tasks/", {
        "title": "Send catalogue", "due_at": "2030-01-02T09:00", "description": "",
    }, **HTMX)

    task = Task.objects.get(customer=customer)
    assert response.status_code == 200
    assert (task.title, task.assignee, task.created_by, task.done) == ("Send catalogue", rep_north, rep_north, False)
    assert task.due_at.isoformat() == "2030-01-02T01:00:00+00:00"
    assert _entry_ids(response.content.decode()) == [f"task-{task.pk}"]


def test_invalid_quick_action_returns_the_form_with_errors_and_writes_nothing(north_client, customer):
    blank = north_client.post(f"/customers/{customer.pk}/notes/", {"body": "   "}, **HTMX)
    bad_kind = north_client.post(f"/customers/{customer.pk}/interactions/", {
        "kind": "telepathy", "direction": "outbound",
    }, **HTMX)

    assert blank.status_code == 422
    assert blank["HX-Retarget"] == "#quick-note"
    assert '<div class="invalid-feedback d-block" id="note_body_errors">This field is required.</div>' in blank.content.decode()
    assert bad_kind.status_code == 422
    assert bad_kind["HX-Retarget"] == "#quick-interaction"
    assert "Select a valid choice. telepathy is not one of the available choices." in bad_kind.content.decode()
    assert Note.objects.count() == 0
    assert Interaction.objects.count() == 0


def test_quick_action_without_htmx_redirects_to_the_page(north_client, customer):
    response = north_client.post(f"/customers/{customer.pk}/notes/", {"body": "plain post"})

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert Note.objects.filter(customer=customer, body="plain post").count() == 1


def test_task_done_from_the_timeline_returns_the_refreshed_timeline(north_client, customer, rep_north):
    task = Task.objects.create(customer=customer, title="call back", assignee=rep_north,
                               due_at=timezone.now() + timedelta(hours=1))

    response = north_client.post(f"/tasks/{task.pk}/done/", {"from": "timeline"}, **HTMX)

    task.refresh_from_db()
    assert response.status_code == 200
    assert task.done is True and task.done_at is not None
    assert "vc-open-tasks" not in response.content.decode()
    assert _entry_ids(response.content.decode()) == [f"task-{task.pk}"]


# ---------------------------------------------------------------- permissions


def test_read_only_user_sees_the_page_without_quick_actions(client, viewer, customer):
    client.force_login(viewer)

    html = client.get(f"/customers/{customer.pk}/").content.decode()

    assert "Wang Fang" in html
    assert 'id="quick-note"' not in html
    assert f'href="/customers/{customer.pk}/edit/"' not in html


def test_note_by_read_only_user_is_refused_and_writes_nothing(client, viewer, customer):
    client.force_login(viewer)

    page = client.post(f"/customers/{customer.pk}/notes/", {"body": "sneaky"})
    fragment = client.post(f"/customers/{customer.pk}/notes/", {"body": "sneaky"}, **HTMX)
    edit = client.get(f"/customers/{customer.pk}/edit/")

    assert page.status_code == 403
    assert "Your role can view this customer but not change it." in page.content.decode()
    assert '<div class="vc-error-code">403</div>' in page.content.decode()
    assert fragment.status_code == 403
    assert fragment["HX-Retarget"] == "#action-feedback"
    assert "Your role can view this customer but not change it." in fragment.content.decode()
    assert edit.status_code == 403
    assert Note.objects.count() == 0


def test_read_only_user_cannot_create_customers(client, viewer):
    client.force_login(viewer)

    assert client.get("/customers/new/").status_code == 403
    assert client.post("/customers/new/", {"kind": "person", "name": "X"}).status_code == 403
    assert Customer.objects.count() == 0


def test_other_teams_customer_is_404_for_the_page_and_every_action(client, rep_south, customer):
    task = Task.objects.create(customer=customer, title="not yours")
    client.force_login(rep_south)
    base = f"/customers/{customer.pk}"

    statuses = [
        client.get(f"{base}/").status_code,
        client.get(f"{base}/timeline/", **HTMX).status_code,
        client.get(f"{base}/edit/").status_code,
        client.post(f"{base}/edit/", {"kind": "person", "name": "Hijacked"}).status_code,
        client.post(f"{base}/notes/", {"body": "x"}, **HTMX).status_code,
        client.post(f"{base}/interactions/", {"kind": "call", "direction": "outbound"}, **HTMX).status_code,
        client.post(f"{base}/tasks/", {"title": "x"}, **HTMX).status_code,
        client.post(f"/tasks/{task.pk}/done/", {"from": "timeline"}, **HTMX).status_code,
    ]

    assert statuses == [404] * 8
    task.refresh_from_db()
    customer.refresh_from_db()
    assert (Note.objects.count(), Interaction.objects.count(), Task.objects.count()) == (0, 0, 1)
    assert task.done is False
    assert customer.name == "Wang Fang"


def test_anonymous_user_is_sent_to_login(client, customer):
    response = client.get(f"/customers/{customer.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# ---------------------------------------------------------------- forms


def _form_data(**overrides):
    data = {
        "kind": "person", "name": "Chen Jing", "email": "", "phone": "", "job_title": "", "city": "",
        "region": "", "gender": "", "age_band": "", "occupation": "", "income_band": "",
        "acquisition_channel": "", "acquisition_source": "", "acquisition_cost": "", "tags": "",
    }
    data.update(overrides)
    return data


def test_create_customer_with_tags_and_custom_fields(north_client, rep_north):
    CustomFieldDefinition.objects.create(key="stores", label="Stores", field_type="number")
    CustomFieldDefinition.objects.create(key="segment", label="Segment", field_type="choice",
                                         choices=["retail", "wholesale"])

    response = north_client.post("/customers/new/", _form_data(
        phone="139 0013 9000", tags="VIP，wholesale, vip", cf_stores="12", cf_segment="wholesale",
        consent_sms="on",
    ))

    customer = Customer.objects.get(name="Chen Jing")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert customer.phone == "+8613900139000"
    assert sorted(t.name for t in customer.tags.all()) == ["VIP", "wholesale"]
    assert customer.custom_fields == {"stores": 12, "segment": "wholesale"}
    assert (customer.owner, customer.team, customer.consent_sms, customer.consent_email) == (
        rep_north, rep_north.team, True, False)


def test_bad_phone_shows_under_the_phone_field_and_writes_nothing(north_client):
    response = north_client.post("/customers/new/", _form_data(phone="12345", email="not-an-email"))
    html = response.content.decode()

    assert response.status_code == 422
    assert '<div class="invalid-feedback d-block" id="id_phone_errors">Enter a valid phone number.</div>' in html
    assert '<div class="invalid-feedback d-block" id="id_email_errors">Enter a valid email address.</div>' in html
    assert 'aria-invalid="true"' in html
    assert "Nothing has been saved." in html
    assert Customer.objects.count() == 0


def test_custom_field_inputs_are_typed_and_errors_stay_on_them(north_client):
    CustomFieldDefinition.objects.create(key="stores", label="Stores", field_type="number", required=True)
    CustomFieldDefinition.objects.create(key="since", label="Partner since", field_type="date")
    CustomFieldDefinition.objects.create(key="segment", label="Segment", field_type="choice",
                                         choices=[{"value": "retail", "label": "Retail"}])

    page = north_client.get("/customers/new/").content.decode()
    response = north_client.post("/customers/new/", _form_data(cf_stores="many", cf_since="2024-02-30"))
    html = response.content.decode()

    assert 'type="number" name="cf_stores"' in page
    assert 'type="date" name="cf_since"' in page
    assert '<option value="retail">Retail</option>' in page
    assert response.status_code == 422
    assert '<div class="invalid-feedback d-block" id="id_cf_stores_errors">Enter a number.</div>' in html
    assert '<div class="invalid-feedback d-block" id="id_cf_since_errors">Enter a valid date.</div>' in html
    assert Customer.objects.count() == 0


def test_company_chooser_offers_only_visible_organisations(north_client, rep_north, rep_south):
    mine = customer_create(actor=rep_north, data={"kind": "organization", "name": "North Tea Co"})
    theirs = customer_create(actor=rep_south, data={"kind": "organization", "name": "South Silk Co"})

    page = north_client.get("/customers/new/").content.decode()
    response = north_client.post("/customers/new/", _form_data(company=str(theirs.pk)))

    assert f'<option value="{mine.pk}">North Tea Co</option>' in page
    assert "South Silk Co" not in page
    assert response.status_code == 422
    assert "Select a valid choice." in response.content.decode()
    assert not Customer.objects.filter(name="Chen Jing").exists()


def test_edit_prefills_and_saves_through_the_service(north_client, customer):
    page = north_client.get(f"/customers/{customer.pk}/edit/").content.decode()
    response = north_client.post(f"/customers/{customer.pk}/edit/", _form_data(
        name="Wang Fang", phone="+8613800138000", email="wang@example.com", city="Suzhou", tags="VIP, tea",
    ))

    customer.refresh_from_db()
    assert 'value="Wang Fang"' in page
    assert 'value="VIP"' in page
    assert response.status_code == 302
    assert customer.city == "Suzhou"
    assert sorted(t.name for t in customer.tags.all()) == ["VIP", "tea"]
    assert customer.history.first().history_user.username == "rep_north"


def test_failed_edit_changes_nothing(north_client, customer):
    response = north_client.post(f"/customers/{customer.pk}/edit/", _form_data(
        name="Renamed", phone="not a phone", tags="new-tag",
    ))

    customer.refresh_from_db()
    assert response.status_code == 422
    assert (customer.name, customer.phone) == ("Wang Fang", "+8613800138000")
    assert [t.name for t in customer.tags.all()] == ["VIP"]
    assert customer.history.count() == 1


def test_rep_cannot_reassign_but_manager_sees_owner_and_team(client, rep_north, manager_north):
    client.force_login(rep_north)
    rep_page = client.get("/customers/new/").content.decode()
    client.force_login(manager_north)
    manager_page = client.get("/customers/new/").content.decode()

    assert 'name="owner"' not in rep_page
    assert 'name="owner"' in manager_page and 'name="team"' in manager_page


# ---------------------------------------------------------------- cost


def test_page_query_count_is_bounded(north_client, customer, rep_north, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    org = customer_create(actor=rep_north, data={"kind": "organization", "name": "Tea Co"})
    Customer.objects.filter(pk=customer.pk).update(company=org)
    CustomFieldDefinition.objects.create(key="stores", label="Stores", field_type="number")
    now = timezone.now()

    def add_rows(start, count):
        for i in range(start, start + count):
            Order.objects.create(customer=customer, external_id=f"S-{i}", total_amount=Decimal("10"),
                                 placed_at=now - timedelta(hours=i))
            Interaction.objects.create(customer=customer, kind="call", author=rep_north,
                                       occurred_at=now - timedelta(hours=i))
            Note.objects.create(customer=customer, body=f"note {i}", author=rep_north)
            Task.objects.create(customer=customer, title=f"t{i}", assignee=rep_north, done=i % 2 == 0)
            ContactPoint.objects.create(customer=customer, kind="other", value=f"handle{i}")

    add_rows(0, 20)
    with CaptureQueriesContext(connection) as fewer:
        north_client.get(f"/customers/{customer.pk}/")
    add_rows(20, 20)

    # 23 for the record itself (session, user, customer, tags, 7 timeline sources, contact points,
    # order stats, addresses, custom fields, company visibility, 4 history, names behind history
    # FKs, the sidebar's team) + 6 for the insights value card + 2 for the privacy panel + the
    # peers' panels through the extension registry: loyalty 4 (account, programme, tiers,
    # referrals), deals 3 (deals, pool rules, pool moves), service 2 (open tickets, complaints),
    # marketing 2 (bought lines for recommendations, personalisation consent) — about 44.
    with django_assert_max_num_queries(46) as more:
        response = north_client.get(f"/customers/{customer.pk}/")

    assert len(more.captured_queries) == len(fewer.captured_queries)  # nothing grows with the rows
    assert response.status_code == 200
    assert len(_entries(response.content.decode())) == 50  # 20 open tasks on top + the first 30 of the stream
