"""Ctrl+K palette navigation, and the visibility rule as a browser sees it."""

from playwright.sync_api import expect

from tests.browser.ui import open_page


def test_ctrl_k_palette_opens_finds_a_customer_and_enter_opens_it(page, live_server, login, shoot,
                                                                  admin_user):
    from valuecrm.customers.services import customer_create

    target = customer_create(actor=admin_user, data={"name": "Zhou Xiaoming", "email": "zxm@example.com"})
    customer_create(actor=admin_user, data={"name": "Zhou Xiaohong"})
    customer_create(actor=admin_user, data={"name": "Wang Fang"})
    login(page, "root")
    palette = page.locator("#vc-palette")
    expect(palette).to_be_hidden()

    page.keyboard.press("Control+k")
    expect(palette).to_be_visible()
    expect(page.locator("[data-vc-palette-input]")).to_be_focused()
    page.keyboard.type("Zhou Xiaoming")
    options = page.locator("#vc-palette-results .vc-palette-item[href^='/customers/']")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Zhou Xiaoming")
    expect(options.first).to_have_attribute("aria-selected", "true")
    shoot(page, "palette-en-light")
    page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/customers/{target.pk}/")
    expect(page.locator("h1.vc-page-title")).to_contain_text("Zhou Xiaoming")


def test_rep_of_another_team_gets_404_for_a_customer_they_cannot_see(page, live_server, login, shoot,
                                                                     rep_north, rep_south, js_errors):
    from valuecrm.customers.services import customer_create

    north_only = customer_create(actor=rep_north, data={"name": "Northern Lights Ltd", "kind": "organization"})
    login(page, "rep_south")

    response = page.goto(f"{live_server.url}/customers/{north_only.pk}/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("Northern Lights Ltd")
    shoot(page, "not-found-en-light")
    assert js_errors == [f"{live_server.url}/customers/{north_only.pk}/: "
                         "Failed to load resource: the server responded with a status of 404 (Not Found)"]
    js_errors.clear()

    # Nor does the rep find it by searching the list or the palette.
    open_page(page, f"{live_server.url}/customers/?q=Northern")
    expect(page.locator("#vc-results tbody tr")).to_have_count(0)
    expect(page.locator(".vc-empty")).to_be_visible()
    palette = page.request.get(f"{live_server.url}/palette/?q=Northern", headers={"HX-Request": "true"})
    assert palette.status == 200 and "Northern Lights" not in palette.text()

    # A quick-action post from the same browser session is refused the same way and writes nothing.
    from valuecrm.customers.models import Note

    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(f"{live_server.url}/customers/{north_only.pk}/notes/",
                                form={"body": "sneaky"}, headers={"X-CSRFToken": csrf, "HX-Request": "true"})
    assert refused.status == 404
    assert Note.objects.filter(customer=north_only).count() == 0

    # The owner's own team sees it.
    page.context.clear_cookies()
    login(page, "rep_north")
    response = page.goto(f"{live_server.url}/customers/{north_only.pk}/")
    assert response.status == 200
    expect(page.locator("h1.vc-page-title")).to_contain_text("Northern Lights Ltd")
