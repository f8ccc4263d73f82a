"""Accessibility smoke test: axe-core (bundled with axe-playwright-python) finds no
critical violation on the login page, the customer list and a customer record,
in either language or theme."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.ui import open_page


def critical_violations(pg) -> list[str]:
    results = Axe().run(pg)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"] if v["impact"] == "critical"
    ]


@pytest.mark.parametrize(("language", "theme"), [("en", "light"), ("zh-hans", "dark")])
def test_no_critical_axe_violations_on_login_list_and_record(new_page, live_server, admin_user, login,
                                                            language, theme):
    from valuecrm.accounts.services import user_preferences_update
    from valuecrm.customers.services import customer_create, note_create, task_create

    base = live_server.url
    customer = customer_create(actor=admin_user, data={
        "name": "Lin Mei", "email": "lin.mei@example.com", "phone": "+86 139 0000 1111", "city": "Hangzhou",
        "tags": ["vip"]})
    customer_create(actor=admin_user, data={"name": "Acme Trading", "kind": "organization"})
    note_create(actor=admin_user, customer=customer, body="Met at the trade fair.")
    task_create(actor=admin_user, customer=customer, title="Send the quote")
    user_preferences_update(user=admin_user, language=language, theme=theme)

    pg = new_page(cookies={"django_language": language, "theme": theme}, base_url=base)
    open_page(pg, f"{base}/login/")
    expect(pg.locator("html")).to_have_attribute("lang", language)
    assert critical_violations(pg) == []

    login(pg, "root")
    expect(pg.locator("#vc-results tbody tr")).to_have_count(2)
    assert critical_violations(pg) == []

    open_page(pg, f"{base}/customers/{customer.pk}/")
    expect(pg.locator("#timeline")).to_contain_text("Met at the trade fair.")
    assert critical_violations(pg) == []
