"""Privacy in a real browser: the consent panel and page, an Art. 24 opt-out, explain-this-score,
the export, the erase confirmation and its proof, consent wording — en/中文, light/dark, desktop/phone."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.ui import open_page, switch_language, toggle_theme
from tests.privacy.conftest import AS_OF, add_orders, background, person  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def axe_violations(pg) -> list[str]:
    results = Axe().run(pg)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['target']})"
            for v in results.response["violations"] if v["impact"] in ("critical", "serious")]


def no_horizontal_scroll(pg) -> bool:
    return pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def drop_status_errors(js_errors, status: str) -> None:
    # A page answered with a 4xx on purpose (a refused form) leaves the browser's load message.
    js_errors[:] = [e for e in js_errors if f"status of {status}" not in e]


def test_privacy_pages_end_to_end(page, live_server, login, shoot, person, background, admin_user,  # noqa: F811
                                  js_errors):
    from valuecrm.insights.services import score_now
    from valuecrm.privacy.models import ConsentText, Erasure
    from valuecrm.privacy.selectors import allows_automated_decisions

    score_now(as_of=AS_OF)
    base = live_server.url
    page.set_viewport_size(DESKTOP)
    login(page, "root")

    # The 360 page: the privacy panel and the value card's explain link.
    open_page(page, f"{base}/customers/{person.pk}/")
    panel = page.locator("[data-panel=privacy]")
    expect(panel.locator("h2")).to_have_text("Privacy and consent")
    expect(panel.locator("[data-consent-state='email:marketing']")).to_contain_text("Yes")
    expect(page.locator("[data-value=explain]")).to_have_text("Explain this score")
    panel.screenshot(path="var/screenshots/privacy-panel-en-light.png")

    # The privacy page: withdraw automated decisions.
    panel.locator("[data-privacy-link=manage]").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("h1.vc-page-title")).to_have_text("Privacy and consent")
    page.click("[data-consent-toggle='any:automated_decisions']")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".vc-messages")).to_contain_text("Consent recorded.")
    expect(page.locator("[data-person-consent=automated_decisions] [data-granted]")).to_have_attribute(
        "data-granted", "0")
    expect(page.locator("[data-table=ledger] tbody tr").first).to_contain_text("Automated decisions")
    assert not allows_automated_decisions(person)
    assert no_horizontal_scroll(page)
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "privacy-page-en-light")
    assert axe_violations(page) == []

    # The export: a ZIP download, logged on the page afterwards.
    with page.expect_download() as download:
        page.click("[data-privacy-action=export-zip]")
    assert download.value.suggested_filename.startswith(f"personal-data-{person.pk}-")
    open_page(page, f"{base}/customers/{person.pk}/privacy/")
    expect(page.locator("[data-list=exports]")).to_contain_text("ZIP")

    # Explain this score, from the page action.
    page.click("a:has-text('Explain the scores')")
    page.wait_for_load_state("networkidle")
    expect(page.locator("h1.vc-page-title")).to_have_text("How the scores were made")
    expect(page.locator("[data-input=frequency]")).to_have_text("3")
    expect(page.locator("[data-explain=opt-out]")).to_contain_text("refused automated decisions")
    assert no_horizontal_scroll(page)
    shoot(page, "privacy-explain-en-light")
    assert axe_violations(page) == []

    # 中文 and dark.
    switch_language(page, "zh-hans")
    expect(page.locator("h1.vc-page-title")).to_have_text("评分是如何得出的")
    toggle_theme(page, "dark")
    shoot(page, "privacy-explain-zh-dark")
    open_page(page, f"{base}/customers/{person.pk}/privacy/")
    expect(page.locator("h1.vc-page-title")).to_have_text("隐私与同意")
    expect(page.locator("#person-heading")).to_have_text("画像、自动化决策与敏感信息")
    shoot(page, "privacy-page-zh-dark")
    assert axe_violations(page) == []

    # Phone size, 中文 dark then light.
    page.set_viewport_size(PHONE)
    open_page(page, f"{base}/customers/{person.pk}/privacy/")
    assert no_horizontal_scroll(page)
    shoot(page, "privacy-page-zh-dark-phone")
    toggle_theme(page, "light")
    open_page(page, f"{base}/customers/{person.pk}/value/explain/")
    assert no_horizontal_scroll(page)
    shoot(page, "privacy-explain-zh-light-phone")
    open_page(page, f"{base}/customers/{person.pk}/")
    page.locator("[data-panel=privacy]").screenshot(path="var/screenshots/privacy-panel-zh-light-phone.png")

    # Erase: the confirmation refuses without the tick, then erases and shows the proof.
    open_page(page, f"{base}/customers/{person.pk}/privacy/erase/")
    expect(page.locator("h1.vc-page-title")).to_have_text("擦除个人信息")
    assert no_horizontal_scroll(page)
    shoot(page, "privacy-erase-zh-light-phone")
    page.set_viewport_size(DESKTOP)
    switch_language(page, "en")
    page.click("[data-erase=submit]")
    page.wait_for_load_state("networkidle")
    drop_status_errors(js_errors, "422")
    expect(page.locator("#confirm-error")).to_have_text("Tick this box to confirm the erasure.")
    assert not Erasure.objects.exists()
    shoot(page, "privacy-erase-error-en-light")
    assert axe_violations(page) == []
    page.check("input[name=confirm]")
    page.select_option("select[name=reason]", "consent_withdrawn")
    page.click("[data-erase=submit]")
    page.wait_for_load_state("networkidle")
    proof = Erasure.objects.get()
    assert page.url.endswith(f"/privacy/erasures/{proof.pk}/")
    expect(page.locator("[data-table=touched]")).to_contain_text("customers_historicalcustomer")
    expect(page.locator("[data-proof=facts]")).to_contain_text("Consent withdrawn")
    shoot(page, "privacy-proof-en-light")
    assert axe_violations(page) == []
    page.click("[data-vc-nav] a:has-text('Privacy')")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-table=erasures] tbody tr")).to_have_count(1)
    shoot(page, "privacy-proofs-en-light")
    toggle_theme(page, "dark")
    switch_language(page, "zh-hans")
    shoot(page, "privacy-proofs-zh-dark")
    open_page(page, f"{base}/privacy/erasures/{proof.pk}/")
    shoot(page, "privacy-proof-zh-dark")
    page.set_viewport_size(PHONE)
    open_page(page, f"{base}/privacy/erasures/{proof.pk}/")
    assert no_horizontal_scroll(page)
    shoot(page, "privacy-proof-zh-dark-phone")

    # The erased record reads as erased.
    page.set_viewport_size(DESKTOP)
    open_page(page, f"{base}/customers/{person.pk}/")
    expect(page.locator("[data-panel=privacy] [data-privacy=erased]")).to_be_visible()
    expect(page.locator("h1.vc-page-title")).to_contain_text(f"[erased] #{person.pk}")

    # Consent wording: publish a version in 中文 UI.
    open_page(page, f"{base}/privacy/consent-texts/")
    expect(page.locator("h1.vc-page-title")).to_have_text("同意文案")
    page.select_option("select[name=purpose]", "marketing")
    page.fill("textarea[name=body]", "We may send you offers by e-mail and SMS.")
    page.fill("textarea[name=body_zh]", "我们可能通过邮件和短信向您发送优惠信息。")
    page.click("form[data-form=consent-text] button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-list=texts]")).to_contain_text("我们可能通过邮件和短信向您发送优惠信息。")
    assert ConsentText.objects.get().version == 1
    shoot(page, "privacy-consent-texts-zh-dark")
    assert axe_violations(page) == []
    toggle_theme(page, "light")
    switch_language(page, "en")
    page.set_viewport_size(PHONE)
    open_page(page, f"{base}/privacy/consent-texts/")
    assert no_horizontal_scroll(page)
    shoot(page, "privacy-consent-texts-en-light-phone")


def test_sales_rep_sees_consent_but_no_export_or_erase(page, live_server, login, shoot, person):  # noqa: F811
    login(page, "rep_north")
    page.set_viewport_size(DESKTOP)
    open_page(page, f"{live_server.url}/customers/{person.pk}/privacy/")
    expect(page.locator("[data-privacy-action]")).to_have_count(0)
    expect(page.locator("text=Only administrators can erase personal data.")).to_be_visible()
    expect(page.locator("[data-vc-nav] a:has-text('Privacy')")).to_have_count(0)
    shoot(page, "privacy-page-rep-en-light")
