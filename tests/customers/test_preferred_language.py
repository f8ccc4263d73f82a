"""Customer.preferred_language: zh-hans / en / blank (the shop default), through the
API, the form, an import's value parser and the record page."""

import pytest

from valuecrm.customers.models import Customer
from valuecrm.imports.models import ImportKind
from valuecrm.imports.validate import RowCleaner

pytestmark = pytest.mark.django_db


def test_api_sets_patches_and_refuses_other_values(admin_user, api_client_for, client):
    api = api_client_for(admin_user)
    r = api.post("/api/v1/customers", {"name": "王芳", "preferred_language": "zh-hans"},
                 content_type="application/json")
    assert r.status_code == 201 and r.json()["preferred_language"] == "zh-hans"
    pk = r.json()["id"]
    r = api.patch(f"/api/v1/customers/{pk}", {"preferred_language": "fr"}, content_type="application/json")
    assert r.status_code == 422 and "preferred_language" in r.content.decode()
    assert Customer.objects.get(pk=pk).preferred_language == "zh-hans"
    r = api.patch(f"/api/v1/customers/{pk}", {"preferred_language": None}, content_type="application/json")
    assert r.status_code == 200 and r.json()["preferred_language"] == ""
    client.force_login(admin_user)
    r = client.post(f"/customers/{pk}/edit/", {"kind": "person", "name": "王芳", "preferred_language": "en",
                                               "acquisition_cost": "0"})
    assert r.status_code == 302 and Customer.objects.get(pk=pk).preferred_language == "en"
    page = client.get(f"/customers/{pk}/").content.decode()
    assert '<dd data-field="preferred_language">English</dd>' in page


def test_import_reads_language_words():
    handlers = RowCleaner(ImportKind.CUSTOMERS, ["language"], {"language": "preferred_language"}, {})._handlers()
    parse = handlers["preferred_language"]
    assert [parse(v) for v in ("中文", "zh-CN", "English", "en", "", "简体中文")] == [
        "zh-hans", "zh-hans", "en", "en", "", "zh-hans"]
