"""Saving a phone or e-mail another customer already has: a warning with a link, not a refusal."""

from django.utils import translation

from valuecrm.customers.models import Customer
from valuecrm.customers.services import contact_point_add, customer_create

from .test_record_views import _form_data


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_create_form_warns_with_a_link_to_the_customer_with_the_same_phone(client, rep_north):
    existing = customer_create(actor=rep_north, data={"name": "Chen Jing", "phone": "13900139000"})
    client.force_login(rep_north)
    response = client.post("/customers/new/", _form_data(phone="139 0013 9000"), follow=True)
    created = Customer.objects.exclude(pk=existing.pk).get()
    assert response.redirect_chain == [(f"/customers/{created.pk}/", 302)]
    assert _messages(response)[1] == (
        f'<a href="/customers/{existing.pk}/">Chen Jing</a> already has this phone number '
        "(+8613900139000). If it is the same customer, merge the two from Duplicates.")
    assert f'href="/customers/{existing.pk}/"' in response.content.decode()


def test_edit_form_warns_about_an_e_mail_held_as_an_extra_contact_point(client, rep_north):
    other = customer_create(actor=rep_north, data={"name": "Wang Fang"})
    contact_point_add(actor=rep_north, customer=other, kind="email", value="fang@example.com")
    mine = customer_create(actor=rep_north, data={"name": "Fang Wang"})
    client.force_login(rep_north)
    with translation.override("zh-hans"):
        response = client.post(f"/customers/{mine.pk}/edit/",
                               _form_data(name="Fang Wang", email="FANG@example.com"), follow=True,
                               HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert _messages(response)[1] == (
        f'<a href="/customers/{other.pk}/">Wang Fang</a> 已有此邮箱（fang@example.com）。'
        "如果是同一位客户，请在“重复客户”中合并。")


def test_no_warning_for_a_fresh_phone_or_a_customer_the_user_cannot_see(client, rep_north, rep_south):
    customer_create(actor=rep_south, data={"name": "Theirs", "phone": "13900139000"})
    client.force_login(rep_north)
    response = client.post("/customers/new/", _form_data(phone="13900139000"), follow=True)
    assert _messages(response) == ["Customer “Chen Jing” created."]


def test_api_returns_warnings_and_still_creates(rep_north, api_client_for):
    existing = customer_create(actor=rep_north, data={"name": "Li Lei", "email": "li.lei@example.com",
                                                       "phone": "13800138000"})
    api = api_client_for(rep_north)
    response = api.post("/api/v1/customers", {"name": "Lei Li", "email": "LI.LEI@example.com"},
                        content_type="application/json")
    assert response.status_code == 201
    assert response.json()["warnings"] == [{
        "code": "email_in_use", "field": "email", "value": "li.lei@example.com",
        "customer_id": existing.pk, "customer_name": "Li Lei", "detail": "Li Lei already has this e-mail.",
    }]
    new_id = response.json()["id"]
    patched = api.patch(f"/api/v1/customers/{new_id}", {"phone": "+86 138 0013 8000"},
                        content_type="application/json")
    assert patched.status_code == 200
    assert [w["code"] for w in patched.json()["warnings"]] == ["email_in_use", "phone_in_use"]
    fresh = api.post("/api/v1/customers", {"name": "Nobody"}, content_type="application/json")
    assert fresh.json()["warnings"] == []
