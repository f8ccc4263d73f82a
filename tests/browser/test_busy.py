"""When SQLite is locked by another writer (a long import), the user is told so:
an alert for an htmx action, a 503 page for a full page — in English and 中文."""

from django.db import OperationalError
from playwright.sync_api import expect

from tests.browser.ui import open_page, switch_language


def _locked(*args, **kwargs):
    raise OperationalError("database is locked")


def _take_503_lines(js_errors):
    """The browser logs each 503 response as a console error; those are expected here."""
    expected = [e for e in js_errors if "503" in e]
    assert expected, js_errors
    for line in expected:
        js_errors.remove(line)


def test_busy_database_is_explained(page, live_server, login, shoot, admin_user, js_errors, monkeypatch):
    from valuecrm.customers import services
    from valuecrm.customers.views import listing

    customer = services.customer_create(actor=admin_user, data={"name": "Alice Zhang"})
    login(page, "root")
    base = live_server.url
    monkeypatch.setattr(services, "note_create", _locked)

    for language, text in (("en", "The database is busy"), ("zh-hans", "数据库正忙")):
        open_page(page, f"{base}/customers/{customer.pk}/")
        if language != "en":
            switch_language(page, language)
        page.click("button[aria-controls=quick-note]")
        page.fill("#quick-note textarea[name=body]", "Call after 6 pm.")
        with page.expect_response(lambda r: r.status == 503):
            page.click("#quick-note button[type=submit]")
        alert = page.locator("#vc-busy-alert")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text(text)
        shoot(page, f"busy-alert-{language}")
        alert.locator(".btn-close").click()
        expect(alert).to_be_hidden()

        with monkeypatch.context() as patch:
            patch.setattr(listing, "customer_list", _locked)
            response = page.goto(f"{base}/customers/")
            assert response.status == 503 and response.headers["retry-after"] == "10"
            expect(page.locator("h1")).to_have_text("Database busy" if language == "en" else "数据库繁忙")
            shoot(page, f"busy-page-{language}")
        _take_503_lines(js_errors)
