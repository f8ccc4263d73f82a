"""Value settings in a real browser: save a section, see an error in place, edit a playbook cell
with the keyboard, in English and 中文; a sales rep sees it read-only."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.ui import open_page, switch_language

pytestmark = pytest.mark.browser


def take_logged(pg, js_errors, text):
    """The one console error a 4xx answer leaves (the browser logs the failed load, a moment later)."""
    for _ in range(50):
        matching = [e for e in js_errors if text in e]
        if matching:
            break
        pg.wait_for_timeout(100)
    assert len(matching) == 1, js_errors
    js_errors.remove(matching[0])


def axe_violations(pg) -> list[str]:
    """Critical and serious axe-core findings on the page as it is now."""
    results = Axe().run(pg)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"] if v["impact"] in ("critical", "serious")
    ]


def save_section(pg, key: str, status: int):
    with pg.expect_response(lambda r: r.url.endswith(f"/value/settings/{key}/") and r.request.method == "POST") as info:
        pg.click(f"[data-action=save-{key}]")
    assert info.value.status == status
    pg.wait_for_load_state("networkidle")


def test_admin_edits_value_settings_in_english_and_chinese(page, live_server, login, shoot, admin_user, js_errors):
    from valuecrm.insights.models import LifecycleRules, PlaybookEntry

    base = live_server.url
    login(page, "root")
    open_page(page, f"{base}/value/settings/")
    expect(page.locator("h1.vc-page-title")).to_have_text("Value settings")
    expect(page.locator("[data-vc-nav] a.vc-nav-link.active")).to_have_text("Value settings")
    for title in ("Lifecycle stages", "Value tiers", "Early warnings", "Playbook"):
        expect(page.locator("section.vc-settings-card h2", has_text=title)).to_be_visible()
    shoot(page, "value-settings-en-light")
    assert axe_violations(page) == []

    # Change a value and save: the section comes back with the success note and the run button.
    page.fill("#lifecycle-new_days", "60")
    save_section(page, "lifecycle", 200)
    saved = page.locator("#settings-lifecycle [data-settings-saved]")
    expect(saved).to_contain_text("Saved. The next scoring run uses these settings.")
    expect(saved.locator("button[data-action=run-scoring]")).to_have_text("Run scoring now")
    expect(saved).to_be_focused()
    expect(page.locator("#lifecycle-new_days")).to_have_value("60")
    assert LifecycleRules.current().new_days == 60

    # A value out of range: the error sits under the field, the input is kept and focused, nothing is saved.
    page.fill("#lifecycle-reactivated_days", "120")
    page.fill("#lifecycle-at_risk_p_alive", "1.5")
    save_section(page, "lifecycle", 422)
    take_logged(page, js_errors, "status of 422")
    error = page.locator("#lifecycle-at_risk_p_alive_error")
    expect(error).to_have_text("Enter a number between 0 and 1.")
    expect(page.locator("#lifecycle-at_risk_p_alive")).to_have_value("1.5")
    expect(page.locator("#lifecycle-at_risk_p_alive")).to_be_focused()
    expect(page.locator("#lifecycle-at_risk_p_alive")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#settings-lifecycle [data-settings-error]")).to_contain_text("Nothing was saved")
    field_box = page.locator("#settings-lifecycle [data-field=at_risk_p_alive]").bounding_box()
    error_box = error.bounding_box()
    assert field_box["y"] < error_box["y"] < field_box["y"] + field_box["height"]  # right under its input
    assert LifecycleRules.current().reactivated_days == 90
    shoot(page, "value-settings-error-en-light")
    page.locator("#settings-lifecycle").screenshot(path="var/screenshots/value-settings-error-section-en-light.png")
    page.fill("#lifecycle-at_risk_p_alive", "0.45")
    save_section(page, "lifecycle", 200)
    assert (LifecycleRules.current().reactivated_days, LifecycleRules.current().at_risk_p_alive) == (120, 0.45)

    # A playbook cell, by keyboard: Enter opens its form, Escape closes it, Enter on Save saves it.
    # The saved note takes the focus when htmx settles; wait for that before moving on, and
    # press Enter on the element itself (focus + key in one step) so nothing can slip between.
    expect(page.locator("#settings-lifecycle [data-settings-saved]")).to_be_focused()
    edit = page.locator("#pb-at_risk-A [data-action=edit-cell]")
    with page.expect_response(lambda r: "/value/settings/playbook/at_risk/A/" in r.url):
        edit.press("Enter")
    text_en = page.locator("#pb-at_risk-A textarea[name=text_en]")
    expect(text_en).to_be_focused()
    page.keyboard.press("Escape")
    expect(text_en).to_have_count(0)
    expect(page.locator("#pb-at_risk-A [data-action=edit-cell]")).to_be_focused()

    page.keyboard.press("Enter")
    expect(text_en).to_be_focused()
    text_en.fill("Manager visits in person within a week")
    page.locator("#pb-at_risk-A textarea[name=text_zh]").fill("客户经理一周内上门拜访")
    page.locator("#pb-at_risk-A input[name=action_code]").fill("manager_visit")
    page.locator("#pb-at_risk-A textarea[name=text_zh]").screenshot(path="var/screenshots/value-settings-cell-zh-input.png")
    page.locator("#pb-at_risk-A").screenshot(path="var/screenshots/value-settings-cell-form-en-light.png")
    with page.expect_response(lambda r: "/value/settings/playbook/at_risk/A/" in r.url and r.request.method == "POST"):
        page.locator("#pb-at_risk-A [data-action=save-cell]").press("Enter")
    cell = page.locator("#pb-at_risk-A")
    expect(cell).to_contain_text("Manager visits in person within a week")
    expect(cell.locator("[data-action=edit-cell]")).to_be_focused()
    expect(page.locator("#vc-playbook-status [data-settings-saved]")).to_be_visible()
    entry = PlaybookEntry.objects.get(stage="at_risk", tier="A")
    assert (entry.action_code, entry.text_zh) == ("manager_visit", "客户经理一周内上门拜访")
    page.locator("#settings-playbook").screenshot(path="var/screenshots/value-settings-playbook-en-light.png")

    # 中文: every heading, label and the edited cell in Chinese.
    switch_language(page, "zh-hans")
    expect(page.locator("h1.vc-page-title")).to_have_text("价值设置")
    expect(page.locator("[data-vc-nav] a.vc-nav-link.active")).to_have_text("价值设置")
    for title in ("生命周期阶段", "价值分层", "早期预警", "行动手册"):
        expect(page.locator("section.vc-settings-card h2", has_text=title)).to_be_visible()
    expect(page.locator("label[for=lifecycle-new_days]")).to_have_text("新客户期最长")
    expect(page.locator("#pb-at_risk-A")).to_contain_text("客户经理一周内上门拜访")
    shoot(page, "value-settings-zh-light")
    assert axe_violations(page) == []
    page.fill("#tiers-share_a", "0.9")
    save_section(page, "tiers", 422)
    take_logged(page, js_errors, "status of 422")
    expect(page.locator("#tiers-share_b_error")).to_have_text("等级比例必须在 0 到 1 之间，且合计不超过 1。")
    page.locator("#settings-tiers").screenshot(path="var/screenshots/value-settings-error-section-zh-light.png")


def test_sales_rep_sees_value_settings_read_only(page, live_server, login, shoot, rep_north):
    login(page, "rep_north")
    open_page(page, f"{live_server.url}/value/settings/")
    expect(page.locator("[data-settings-readonly]")).to_contain_text("Only administrators can change these settings")
    expect(page.locator("#lifecycle-new_days")).to_be_disabled()
    expect(page.locator("#warnings-tiers_0")).to_be_disabled()
    expect(page.locator("[data-action^=save-]")).to_have_count(0)
    expect(page.locator("[data-action=edit-cell]")).to_have_count(0)
    shoot(page, "value-settings-readonly-en-light")
    assert axe_violations(page) == []
