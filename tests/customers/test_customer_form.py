"""The customer form reports every field error in one round, e-mail and phone included."""

import pytest
from django.test import Client

from valuecrm.customers.forms import CustomerForm
from valuecrm.customers.models import Customer
from valuecrm.customers.services import customer_create

BASE = {
    "kind": "person", "name": "", "email": "", "phone": "", "job_title": "", "city": "",
    "region": "", "gender": "", "age_band": "", "occupation": "", "income_band": "",
    "acquisition_channel": "", "acquisition_source": "", "acquisition_cost": "", "tags": "",
}


@pytest.fixture
def client_north(rep_north):
    client = Client()
    client.force_login(rep_north)
    return client


def test_create_shows_name_email_and_phone_errors_together(client_north):
    response = client_north.post("/customers/new/", {**BASE, "name": "", "email": "li@@example",
                                                     "phone": "12345"})
    html = response.content.decode()

    assert response.status_code == 422
    assert 'id="id_name_errors"' in html
    assert '<div class="invalid-feedback d-block" id="id_email_errors">Enter a valid email address.</div>' in html
    assert '<div class="invalid-feedback d-block" id="id_phone_errors">Enter a valid phone number.</div>' in html
    assert Customer.objects.count() == 0


def test_edit_shows_name_and_email_errors_together(client_north, rep_north):
    customer = customer_create(actor=rep_north, data={"name": "Wang Fang", "email": "wang@example.com"})
    response = client_north.post(f"/customers/{customer.pk}/edit/", {**BASE, "name": "", "email": "wang at example"})
    html = response.content.decode()

    assert response.status_code == 422
    assert 'id="id_name_errors"' in html and 'id="id_email_errors"' in html
    customer.refresh_from_db()
    assert (customer.name, customer.email) == ("Wang Fang", "wang@example.com")


def test_form_normalises_with_the_service_rules(rep_north):
    form = CustomerForm({**BASE, "name": "Li Lei", "email": " Li.Lei＠Example.COM ", "phone": "１３８ 0013 8000"},
                        user=rep_north)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == "li.lei@example.com"
    assert form.cleaned_data["phone"] == "+8613800138000"
