"""Build "when a tier-A customer becomes at risk, create a task for the owner due in 2 days and
tag 挽回" in the rule editor, dry-run it, switch it on, run scoring, and see the task and the log."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import open_page

SIZES = {"wide": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def shop(transactional_db):
    from valuecrm.demo.generate import demo_generate
    from valuecrm.insights.services import score_now

    demo_generate(customers=400, seed=42)
    score_now(as_of=timezone.localdate() - dt.timedelta(days=120))


def _look(user, language, theme):
    from valuecrm.accounts.services import user_preferences_update

    user_preferences_update(user=user, language=language, theme=theme)


def test_build_dry_run_switch_on_and_see_the_task_and_the_log(shop, page, live_server, login, shoot, make_user):
    from valuecrm.automation.models import Rule, Run, RunStatus
    from valuecrm.customers.models import Task
    from valuecrm.insights.services import score_now

    admin = make_user("auto_admin", role="admin")
    login(page, "auto_admin")
    open_page(page, f"{live_server.url}/automation/")
    page.click("[data-testid=new-rule]")
    page.fill("#r-name", "Tier A at risk → owner call")
    page.select_option("#r-kind", "event")
    page.select_option("#r-event", "customer.stage_changed")
    page.select_option("#f0k", "tier")
    page.fill("#f0v", "A")
    page.fill("#c0f", "to_stage")
    page.select_option("#c0o", "eq")
    page.fill("#c0v", "at_risk")
    page.select_option("#a0t", "create_task")
    page.fill("#a0create_tasktitle", "Call {customer} (at risk)")
    page.fill("#a0create_taskdue_in_days", "2")
    page.select_option("#a0create_taskassignee", "owner")
    page.click("[data-vc-add=action]")
    page.select_option("#a1t", "add_tag")
    page.fill("#a1add_tagtag", "挽回")
    page.click("[data-testid=save]")
    expect(page.locator(".alert-success")).to_be_visible()
    rule = Rule.objects.get(name="Tier A at risk → owner call")
    assert not rule.enabled
    assert rule.conditions == [{"filter": "tier", "value": "A"}, {"field": "to_stage", "op": "eq", "value": "at_risk"}]

    # Dry run against the current audience: plans only, nothing written.
    tasks_before = Task.objects.count()
    page.select_option("#r-mode", "audience")
    page.click("[data-testid=dry-run]")
    expect(page.locator("[data-testid=dry-summary]")).to_be_visible()
    expect(page.locator(".vc-dry-items")).to_contain_text("Add tag “挽回”")
    assert Task.objects.count() == tasks_before
    assert not Run.objects.filter(rule=rule).exists()
    shoot(page, "automation-editor-en-wide")

    # Switch it on from the list, then score: customers move to at risk.
    open_page(page, f"{live_server.url}/automation/")
    # The switch submits its form from script: wait for that POST's answer, not for an idle network
    # (which can come before the submit starts).
    with page.expect_response(lambda r: r.request.method == "POST" and "/automation/" in r.url):
        page.locator(f"#toggle-{rule.pk}").check()
    page.wait_for_load_state("networkidle")
    rule.refresh_from_db()
    assert rule.enabled
    score_now(as_of=timezone.localdate())
    acted = Run.objects.filter(rule=rule, status=RunStatus.SUCCEEDED)
    assert acted.exists(), list(Run.objects.values_list("status", "reason")[:5])
    run = acted.first()
    task = Task.objects.get(customer_id=run.customer_id, title__endswith="(at risk)")
    assert task.assignee_id == task.customer.owner_id
    assert set(task.customer.tags.values_list("name", flat=True)) >= {"挽回"}
    assert dt.timedelta(days=1, hours=23) < task.due_at - timezone.now() <= dt.timedelta(days=2)

    open_page(page, f"{live_server.url}/automation/runs/?rule={rule.pk}&status=succeeded")
    expect(page.locator("tr[data-status=succeeded]").first).to_contain_text("Created task")
    # A festival greeting from its rule template: the editor shows the festival schedule.
    from valuecrm.automation.services import rule_create
    from valuecrm.automation.templates_catalogue import template_data

    festival_rule = rule_create(actor=admin, data=template_data("greeting:mid_autumn"))
    assert festival_rule.trigger == {"schedule": {"festival": "mid_autumn", "at": "10:00"}}
    open_page(page, f"{live_server.url}/automation/rules/{festival_rule.pk}/")
    expect(page.locator("#r-festival")).to_be_visible()
    expect(page.locator("#r-festival")).to_have_value("mid_autumn")
    expect(page.locator("#r-cron")).to_be_hidden()
    # Every page, both languages, both themes, wide and phone.
    for language, theme in [("en", "light"), ("zh-hans", "light"), ("zh-hans", "dark"), ("en", "dark")]:
        _look(admin, language, theme)
        short = "zh" if language.startswith("zh") else "en"
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            for name, url in [("rules", "/automation/"), ("editor", f"/automation/rules/{rule.pk}/"),
                              ("runs", f"/automation/runs/?rule={rule.pk}"),
                              ("festival-editor", f"/automation/rules/{festival_rule.pk}/")]:
                open_page(page, live_server.url + url)
                expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
                if short == "zh":
                    expect(page.locator("h1.vc-page-title")).not_to_contain_text("Automation")
                shoot(page, f"automation-{name}-{short}-{theme}-{size}")
    page.set_viewport_size(SIZES["wide"])
    open_page(page, f"{live_server.url}/automation/rules/{rule.pk}/")
    page.click("[data-testid=dry-run]")
    expect(page.locator("[data-testid=dry-summary]")).to_contain_text("Nothing was changed.")
    shoot(page, "automation-editor-dry-run-en-dark-wide")
