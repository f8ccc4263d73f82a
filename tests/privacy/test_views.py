"""The privacy pages: consent toggles, export download, erase confirmation, proofs, wording, explain."""

import io
import json
import zipfile

import pytest
from django.test import Client

from valuecrm.customers.models import Customer
from valuecrm.insights.services import score_now
from valuecrm.privacy.models import ConsentRecord, ConsentText, Erasure, PersonalDataExport
from valuecrm.privacy.selectors import allows_automated_decisions

from .conftest import AS_OF, EMAIL, NAME


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_record_page_shows_the_privacy_panel(person, rep_north):
    page = client_for(rep_north).get(f"/customers/{person.pk}/")
    html = page.content.decode()
    assert 'data-panel="privacy"' in html
    assert 'data-consent-state="email:marketing" data-granted="1"' in html
    assert 'data-privacy-action="erase"' not in html  # reps cannot erase
    assert 'data-privacy-action="export"' not in html


def test_privacy_page_and_a_toggle(person, rep_north):
    client = client_for(rep_north)
    page = client.get(f"/customers/{person.pk}/privacy/")
    assert page.status_code == 200
    assert 'data-consent-toggle="any:automated_decisions"' in page.content.decode()
    response = client.post(f"/customers/{person.pk}/privacy/consent/",
                           {"channel": "any", "purpose": "automated_decisions", "granted": "0"})
    assert response.status_code == 302
    assert not allows_automated_decisions(person)
    assert ConsentRecord.objects.filter(purpose="automated_decisions", source="form", actor=rep_north).count() == 1


def test_bad_toggle_writes_nothing(person, rep_north):
    client = client_for(rep_north)
    before = ConsentRecord.objects.count()
    client.post(f"/customers/{person.pk}/privacy/consent/", {"channel": "email", "purpose": "automated_decisions",
                                                            "granted": "1"})
    client.post(f"/customers/{person.pk}/privacy/consent/", {"channel": "fax"})
    assert ConsentRecord.objects.count() == before


def test_other_team_gets_404(person, rep_south):
    client = client_for(rep_south)
    assert client.get(f"/customers/{person.pk}/privacy/").status_code == 404
    assert client.post(f"/customers/{person.pk}/privacy/consent/",
                       {"channel": "email", "purpose": "marketing", "granted": "0"}).status_code == 404
    assert client.get(f"/customers/{person.pk}/value/explain/").status_code == 404


def test_read_only_cannot_toggle(person, make_user):
    viewer = make_user("viewer", role="read_only", is_superuser=False)
    viewer.team = person.team
    viewer.save()
    client = client_for(viewer)
    response = client.post(f"/customers/{person.pk}/privacy/consent/",
                           {"channel": "email", "purpose": "marketing", "granted": "0"})
    assert response.status_code in (403, 404)
    assert not ConsentRecord.objects.filter(granted=False).exists()


def test_export_download(person, manager_north, rep_north):
    response = client_for(manager_north).post(f"/customers/{person.pk}/privacy/export/", {"format": "zip"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    doc = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("personal-data.json"))
    assert doc["customer"]["email"] == EMAIL
    assert client_for(rep_north).post(f"/customers/{person.pk}/privacy/export/", {"format": "zip"}).status_code == 403
    assert PersonalDataExport.objects.count() == 1


def test_erase_confirmation_flow(person, admin_user, manager_north):
    assert client_for(manager_north).get(f"/customers/{person.pk}/privacy/erase/").status_code == 403
    client = client_for(admin_user)
    page = client.get(f"/customers/{person.pk}/privacy/erase/")
    assert page.status_code == 200 and "4 orders are kept" in page.content.decode()
    unconfirmed = client.post(f"/customers/{person.pk}/privacy/erase/", {"reason": "request"})
    assert unconfirmed.status_code == 422 and not Erasure.objects.exists()
    done = client.post(f"/customers/{person.pk}/privacy/erase/", {"reason": "retention", "confirm": "on"})
    proof = Erasure.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/privacy/erasures/{proof.pk}/"
    assert proof.reason == "retention"
    detail = client.get(done["Location"]).content.decode()
    assert "customers_historicalcustomer" in detail and NAME not in detail and EMAIL not in detail
    listing = client.get("/privacy/erasures/").content.decode()
    assert f"#{person.pk}" in listing
    # a second visit to the confirmation goes to the proof
    assert client.get(f"/customers/{person.pk}/privacy/erase/")["Location"] == f"/privacy/erasures/{proof.pk}/"
    assert Customer.objects.get(pk=person.pk).name == f"[erased] #{person.pk}"


def test_proofs_are_for_admins(person, manager_north):
    client = client_for(manager_north)
    assert client.get("/privacy/erasures/").status_code == 403
    assert client.get("/privacy/erasures/1/").status_code == 403


def test_consent_wording_page(admin_user, manager_north):
    assert client_for(manager_north).get("/privacy/consent-texts/").status_code == 403
    client = client_for(admin_user)
    assert client.get("/privacy/consent-texts/").status_code == 200
    bad = client.post("/privacy/consent-texts/", {"purpose": "marketing", "body": ""})
    assert bad.status_code == 422 and not ConsentText.objects.exists()
    ok = client.post("/privacy/consent-texts/", {"purpose": "marketing", "body": "Offers by e-mail",
                                                 "body_zh": "通过电子邮件发送优惠"})
    assert ok.status_code == 302 and ConsentText.objects.get().version == 1


def test_explain_page(person, rep_north, background):
    client = client_for(rep_north)
    before = client.get(f"/customers/{person.pk}/value/explain/")
    assert 'data-explain="not-scored"' in before.content.decode()
    score_now(as_of=AS_OF)
    html = client.get(f"/customers/{person.pk}/value/explain/").content.decode()
    assert 'data-input="frequency">3<' in html
    assert 'data-explain="stage-rules"' in html and 'data-explain="tier-rule"' in html
    card = client.get(f"/customers/{person.pk}/").content.decode()
    assert f'href="/customers/{person.pk}/value/explain/" data-value="explain"' in card


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_pages_render_in_both_languages(person, admin_user, lang):
    client = client_for(admin_user)
    client.cookies["django_language"] = lang
    for url in (f"/customers/{person.pk}/privacy/", f"/customers/{person.pk}/privacy/erase/",
                "/privacy/erasures/", "/privacy/consent-texts/", f"/customers/{person.pk}/value/explain/"):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=lang)
        assert response.status_code == 200, url
        if lang == "zh-hans":
            assert "隐私" in response.content.decode() or "擦除" in response.content.decode() \
                or "评分" in response.content.decode(), url
