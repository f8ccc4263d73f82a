"""The must-show journey in a real browser: log in, search and filter the customer list,
open a customer, add a note from the quick actions, switch to 中文 and back, dark theme
and back; every page it passes is saved as a screenshot in both languages and themes."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import open_page, switch_language, toggle_theme


@pytest.fixture
def book(admin_user):
    """Six people (newest last); "al" is in four names, three of them live in Shanghai."""
    from valuecrm.customers.services import (
        customer_create,
        customer_update,
        interaction_create,
        task_create,
    )

    people = {}
    for name, city in [("Alice Zhang", "Shanghai"), ("Alan Wu", "Beijing"), ("Bob Chen", "Shanghai"),
                       ("Albert Li", "Shanghai"), ("Carol Lin", "Beijing"), ("Malik Zhao", "Shanghai")]:
        people[name] = customer_create(actor=admin_user, data={"name": name, "city": city, "region": "East"})
    alice = people["Alice Zhang"]
    customer_update(actor=admin_user, customer=alice, data={
        "email": "alice.zhang@example.com", "phone": "+86 138 0013 8000", "job_title": "Buyer",
        "tags": ["vip", "wechat"], "acquisition_channel": "wechat"})
    interaction_create(actor=admin_user, customer=alice, kind="call", subject="Intro call",
                       body="Asked about the spring catalogue.")
    task_create(actor=admin_user, customer=alice, title="Send the spring catalogue",
                due_at=timezone.now() + dt.timedelta(days=2))
    task_create(actor=admin_user, customer=people["Bob Chen"], title="Call back about the refund",
                due_at=timezone.now() - dt.timedelta(days=1))
    return people


def row_names(pg):
    return pg.locator("#vc-results tbody .vc-customer-cell a")


def take_logged(js_errors, text):
    """Remove the one console line the test expects (e.g. the status of a failed form post)."""
    matching = [e for e in js_errors if text in e]
    assert len(matching) == 1, js_errors
    js_errors.remove(matching[0])


def visit_and_shoot_every_page(pg, base, alice, shoot, suffix, js_errors):
    """The customer pages of the journey, each saved as <page>-<suffix>.png."""
    open_page(pg, f"{base}/customers/")
    expect(row_names(pg)).to_have_count(6)
    shoot(pg, f"customer-list-{suffix}")

    open_page(pg, f"{base}/customers/{alice.pk}/")
    expect(pg.locator("[data-entry^=task-]")).to_have_count(1)
    shoot(pg, f"customer-detail-{suffix}")

    open_page(pg, f"{base}/customers/new/")
    pg.fill("#id_city", "Hangzhou")
    with pg.expect_navigation():
        pg.click("form.vc-customer-form button[type=submit]")
    expect(pg.locator("form.vc-customer-form .alert-danger")).to_be_visible()
    expect(pg.locator("#id_name")).to_have_class(lambda_has("is-invalid"))
    expect(pg.locator("#id_city")).to_have_value("Hangzhou")
    take_logged(js_errors, "/customers/new/: Failed to load resource: the server responded with a status of 422")
    shoot(pg, f"customer-form-error-{suffix}")

    open_page(pg, f"{base}/inbox/")
    expect(pg.get_by_text("Send the spring catalogue")).to_be_visible()
    expect(pg.get_by_text("Call back about the refund")).to_be_visible()
    shoot(pg, f"inbox-{suffix}")

    open_page(pg, f"{base}/profile/")
    shoot(pg, f"profile-{suffix}")


def lambda_has(css_class):
    import re

    return re.compile(rf"(^|\s){css_class}(\s|$)")


def test_journey_filter_open_note_language_theme(page, live_server, login, shoot, admin_user, book, new_page,
                                                  js_errors):
    base = live_server.url
    alice = book["Alice Zhang"]

    # -- log in (the login page itself, in all four looks, comes from anonymous browsers)
    for lang in ("en", "zh-hans"):
        for theme in ("light", "dark"):
            anon = new_page(cookies={"django_language": lang, "theme": theme}, base_url=base)
            open_page(anon, f"{base}/login/")
            expect(anon.locator("html")).to_have_attribute("data-bs-theme", theme)
            expect(anon.locator("h1")).to_have_text("Welcome back" if lang == "en" else "欢迎回来")
            # each language is offered under its own name, whatever the page's language
            expect(anon.locator(".vc-auth-lang button")).to_have_text(["English", "简体中文"])
            shoot(anon, f"login-{'en' if lang == 'en' else 'zh'}-{theme}")
    login(page, "root")
    assert page.url == f"{base}/customers/"

    # -- search, then a typed filter: chips and rows change to exactly the expected ones
    expect(row_names(page)).to_have_text(["Malik Zhao", "Carol Lin", "Albert Li", "Bob Chen", "Alan Wu", "Alice Zhang"])
    expect(page.locator(".vc-chip")).to_have_count(0)
    page.fill("#vc-search", "al")
    expect(row_names(page)).to_have_text(["Malik Zhao", "Albert Li", "Alan Wu", "Alice Zhang"])
    expect(page.locator(".vc-chip")).to_have_text(["Search: al"])
    page.click("button[aria-controls=vc-filter-panel]")
    expect(page.locator("#vc-filter-panel")).to_be_visible()
    page.fill("#f-city", "Shanghai")
    page.click("#vc-filter-panel button[type=submit]")
    expect(row_names(page)).to_have_text(["Malik Zhao", "Albert Li", "Alice Zhang"])
    expect(page.locator(".vc-chip")).to_have_text(["Search: al", "City: Shanghai"])
    expect(page.locator("#vc-filter-count")).to_have_text("1")
    assert "q=al" in page.url and "city=Shanghai" in page.url
    shoot(page, "customer-list-filtered-en-light")

    # -- open a customer and add a note without a full reload
    row_names(page).filter(has_text="Alice Zhang").click()
    page.wait_for_url(f"{base}/customers/{alice.pk}/")
    page.evaluate("window.__sameDocument = true")
    page.click("button[aria-controls=quick-note]")
    expect(page.locator("#quick-note")).to_be_visible()
    page.fill("#quick-note textarea[name=body]", "Prefers WeChat over e-mail; call after 6 pm.")
    page.click("#quick-note button[type=submit]")
    expect(page.locator("#timeline")).to_contain_text("Prefers WeChat over e-mail; call after 6 pm.")
    expect(page.locator("#quick-note")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True
    from valuecrm.customers.models import Note

    assert list(Note.objects.filter(customer=alice).values_list("body", flat=True)) == [
        "Prefers WeChat over e-mail; call after 6 pm."]

    # -- every page, English + light
    visit_and_shoot_every_page(page, base, alice, shoot, "en-light", js_errors)

    # -- 中文 through the language menu
    open_page(page, f"{base}/customers/")
    switch_language(page, "zh-hans")
    expect(page.locator(".vc-sidebar .vc-nav-link").first).to_have_text("客户")
    expect(page.locator(".vc-sidebar")).to_contain_text("我的待办")
    expect(page.locator("h1.vc-page-title")).to_have_text("客户")
    expect(page.locator(".vc-topbar .dropdown-menu button[lang]")).to_have_text(["English", "简体中文"])
    visit_and_shoot_every_page(page, base, alice, shoot, "zh-light", js_errors)

    # -- dark theme, still in 中文
    toggle_theme(page, "dark")
    open_page(page, f"{base}/customers/")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")  # remembered by the server
    visit_and_shoot_every_page(page, base, alice, shoot, "zh-dark", js_errors)

    # -- back to English, still dark
    open_page(page, f"{base}/customers/")
    switch_language(page, "en")
    expect(page.locator(".vc-sidebar .vc-nav-link").first).to_have_text("Customers")
    expect(page.locator("h1.vc-page-title")).to_contain_text("Customers")
    visit_and_shoot_every_page(page, base, alice, shoot, "en-dark", js_errors)

    # -- and back to light
    toggle_theme(page, "light")
    open_page(page, f"{base}/customers/")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
    admin_user.refresh_from_db()
    assert (admin_user.language, admin_user.theme) == ("en", "light")
