"""The value settings page: lifecycle rules, tiers, warnings and the playbook, edited by administrators."""

import re
from html.parser import HTMLParser

import pytest
from django.utils import translation

from valuecrm.insights import forms as settings_forms
from valuecrm.insights.models import LifecycleRules, PlaybookEntry, TierPolicy, WarningPolicy

URL = "/value/settings/"
HTMX = {"HTTP_HX_REQUEST": "true"}

LIFECYCLE = {"new_days": "90", "loyal_min_orders": "3", "loyal_min_tenure_days": "365", "at_risk_gap_factor": "2.0",
             "at_risk_p_alive": "0.5", "at_risk_spend_drop": "0.5", "churned_p_alive": "0.1",
             "churned_gap_factor": "4.0", "churned_min_gap_days": "365", "reactivated_days": "90",
             "trend_window_days": "180"}
TIERS = {"name_a": "A", "name_b": "B", "name_c": "C", "share_a": "0.2", "share_b": "0.3", "value_min_reasons": "2",
         "referral_tag": "referrer"}
WARNINGS = {"enabled": "on", "tiers": ["A", "B"], "gap_factor": "1.5", "spend_drop": "0.4",
            "p_alive_threshold": "0.5", "task_due_days": "2"}


def _zh(client):
    client.cookies["django_language"] = "zh-hans"
    return client


def _policy_values(model, fields):
    obj = model.current()
    return {name: getattr(obj, name) for name in fields}


# ----------------------------------------------------------------------------- rendering
def test_admin_sees_every_setting_as_an_input(client, admin_user):
    client.force_login(admin_user)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for title in ("Lifecycle stages", "Value tiers", "Early warnings", "Playbook"):
        assert f"</i>{title}</h2>" in html, title
    for name in [*LIFECYCLE, *TIERS, "gap_factor", "spend_drop", "p_alive_threshold", "task_due_days"]:
        assert re.search(rf'<input [^>]*name="{name}"', html), name
    assert re.search(r'<input type="number" name="new_days" value="90" [^>]*step="1"', html)
    assert 'id="lifecycle-new_days_helptext"' in html
    assert "After a first order a customer is new for this many days" in html
    assert re.search(r'<input type="checkbox" name="tiers" value="A" [^>]*checked', html)
    assert not re.search(r'<input type="checkbox" name="tiers" value="C" [^>]*checked', html)
    assert html.count('data-action="save-') == 3
    assert " disabled>" not in html and "data-settings-readonly" not in html
    # 7 stages × (all tiers + A + B + C), each editable; defaults in English.
    assert html.count('data-action="edit-cell"') == 28
    assert "Owner calls within 48 hours with a retention offer" in html
    assert '<a class="nav-link vc-nav-link" href="/value/settings/"><i class="bi bi-sliders"' in html


def test_sales_rep_sees_the_page_read_only(client, rep_north):
    client.force_login(rep_north)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-settings-readonly" in html
    assert "Only administrators can change these settings; you can view them." in html
    assert html.count('<fieldset class="row vc-settings-group" disabled>') == 12
    assert 'class="row vc-settings-group">' not in html
    assert 'data-action="save-' not in html and 'data-action="edit-cell"' not in html
    assert re.search(r'<input type="number" name="new_days" value="90"', html)
    assert "Owner calls within 48 hours with a retention offer" in html


def test_anonymous_users_are_sent_to_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/value/settings/")
    response = client.post(f"{URL}lifecycle/", LIFECYCLE)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert LifecycleRules.current().new_days == 90


# ----------------------------------------------------------------------------- saving
def test_saving_lifecycle_rules_swaps_the_section_with_a_success_note(client, admin_user):
    client.force_login(admin_user)
    data = {**LIFECYCLE, "new_days": "60", "at_risk_p_alive": "0.4", "churned_gap_factor": "5"}
    response = client.post(f"{URL}lifecycle/", data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="settings-lifecycle"')
    assert "Saved. The next scoring run uses these settings." in html
    assert '<form method="post" action="/value/score/">' in html
    assert '<input type="hidden" name="next" value="/value/settings/">' in html
    assert re.search(r'name="new_days" value="60"', html)
    rules = LifecycleRules.current()
    assert (rules.new_days, rules.at_risk_p_alive, rules.churned_gap_factor) == (60, 0.4, 5.0)


def test_run_scoring_now_from_the_success_note_comes_back_here(client, admin_user):
    from valuecrm.insights.models import ScoreRun

    client.force_login(admin_user)
    response = client.post("/value/score/", {"next": "/value/settings/"})
    assert response.status_code == 302 and response["Location"] == "/value/settings/"
    run = ScoreRun.objects.get()
    assert f"Scoring run #{run.pk} queued." in client.get(URL).content.decode()


def test_saving_tier_policy(client, admin_user):
    client.force_login(admin_user)
    data = {**TIERS, "name_a": "Gold", "share_a": "0.1", "share_b": "0.4", "value_min_reasons": "3"}
    response = client.post(f"{URL}tiers/", data, **HTMX)
    assert response.status_code == 200
    policy = TierPolicy.current()
    assert (policy.name_a, policy.share_a, policy.share_b, policy.value_min_reasons) == ("Gold", 0.1, 0.4, 3)
    # The new name labels tier A in the playbook grid and the warning tiers.
    html = client.get(URL).content.decode()
    assert "Tier A <span class=\"fw-normal text-body-secondary\">· Gold</span>" in html
    assert re.search(r'value="A"[^>]*>\s*<label class="form-check-label" for="warnings-tiers_0">A · Gold</label>',
                     html)


def test_saving_warning_policy_with_the_watched_tiers(client, admin_user):
    client.force_login(admin_user)
    data = {k: v for k, v in WARNINGS.items() if k != "enabled"}  # switch unchecked = off
    data.update({"tiers": ["A", "C"], "task_due_days": "5"})
    response = client.post(f"{URL}warnings/", data, **HTMX)
    assert response.status_code == 200
    policy = WarningPolicy.current()
    assert (policy.enabled, policy.tiers, policy.task_due_days) == (False, "AC", 5)


def test_plain_post_redirects_back_to_the_saved_section(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"{URL}lifecycle/", {**LIFECYCLE, "reactivated_days": "120"})
    assert response.status_code == 302
    assert response["Location"] == "/value/settings/?saved=lifecycle#settings-lifecycle"
    assert LifecycleRules.current().reactivated_days == 120
    html = client.get(response["Location"]).content.decode()
    assert html.count("data-settings-saved") == 1
    assert "Saved. The next scoring run uses these settings." in html


# ----------------------------------------------------------------------------- errors
def test_out_of_range_values_are_named_and_nothing_is_saved(client, admin_user):
    client.force_login(admin_user)
    data = {**LIFECYCLE, "new_days": "30", "at_risk_p_alive": "1.5", "churned_gap_factor": "0"}
    response = client.post(f"{URL}lifecycle/", data, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing was saved. Correct the marked settings and save again." in html
    assert ('<div class="invalid-feedback d-block" id="lifecycle-at_risk_p_alive_error">'
            "Enter a number between 0 and 1.</div>") in html
    assert ('<div class="invalid-feedback d-block" id="lifecycle-churned_gap_factor_error">'
            "Enter a number greater than 0.</div>") in html
    # The user's input is kept, the cursor goes to the first wrong field.
    assert re.search(r'name="at_risk_p_alive" value="1.5"[^>]*aria-invalid="true"', html)
    assert re.search(r'name="new_days" value="30"', html)
    assert re.search(r'name="at_risk_p_alive"[^>]*autofocus', html)
    assert "new_days_error" not in html
    assert _policy_values(LifecycleRules, ["new_days", "at_risk_p_alive"]) == {"new_days": 90, "at_risk_p_alive": 0.5}


def test_text_where_a_number_belongs_is_named(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"{URL}lifecycle/", {**LIFECYCLE, "new_days": "abc", "trend_window_days": ""}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="lifecycle-new_days_error">Enter a whole number.</div>' in html
    assert 'id="lifecycle-trend_window_days_error">This field is required.</div>' in html
    assert re.search(r'name="new_days" value="abc"', html)
    assert LifecycleRules.current().trend_window_days == 180


def test_tier_shares_over_one_are_refused_as_a_whole(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"{URL}tiers/", {**TIERS, "name_a": "Gold", "share_a": "0.8", "share_b": "0.5"}, **HTMX)
    assert response.status_code == 422
    assert ('id="tiers-share_b_error">Tier shares must be between 0 and 1 and add up to at most 1.</div>'
            in response.content.decode())
    policy = TierPolicy.current()
    assert (policy.name_a, policy.share_a, policy.share_b) == ("A", 0.2, 0.3)


def test_watching_no_tier_is_refused(client, admin_user):
    client.force_login(admin_user)
    data = {k: v for k, v in WARNINGS.items() if k != "tiers"}
    response = client.post(f"{URL}warnings/", data, **HTMX)
    assert response.status_code == 422
    assert 'id="warnings-tiers_error">This field cannot be blank.</div>' in response.content.decode()
    assert WarningPolicy.current().tiers == "AB"


def test_plain_post_with_errors_renders_the_whole_page(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"{URL}warnings/", {**WARNINGS, "spend_drop": "2"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "<title>Value settings · ValueCRM</title>" in html
    assert 'id="warnings-spend_drop_error">Enter a number between 0 and 1.</div>' in html
    assert WarningPolicy.current().spend_drop == 0.4


def test_unknown_section_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.post(f"{URL}colours/", {"x": "1"}).status_code == 404


# ----------------------------------------------------------------------------- permissions
@pytest.mark.parametrize("who", ["rep_north", "manager_north"])
@pytest.mark.parametrize(("section", "data", "model", "field", "before"), [
    ("lifecycle", {**LIFECYCLE, "new_days": "10"}, LifecycleRules, "new_days", 90),
    ("tiers", {**TIERS, "share_a": "0.5"}, TierPolicy, "share_a", 0.2),
    ("warnings", {**WARNINGS, "tiers": ["C"]}, WarningPolicy, "tiers", "AB"),
])
def test_non_admins_cannot_save(client, request, who, section, data, model, field, before):
    client.force_login(request.getfixturevalue(who))
    response = client.post(f"{URL}{section}/", data, **HTMX)
    assert response.status_code == 403
    assert "Only administrators can change value policies." in response.content.decode()
    assert client.post(f"{URL}{section}/", data).status_code == 403
    assert getattr(model.current(), field) == before


def test_non_admins_cannot_edit_the_playbook(client, rep_north):
    client.force_login(rep_north)
    assert client.get(f"{URL}playbook/at_risk/A/?edit=1", **HTMX).status_code == 403
    response = client.post(f"{URL}playbook/at_risk/A/",
                           {"text_en": "x", "text_zh": "x", "action_code": "x"}, **HTMX)
    assert response.status_code == 403
    assert "Only administrators can change value policies." in response.content.decode()
    assert PlaybookEntry.objects.get(stage="at_risk", tier="A").action_code == "owner_call_48h"


# ----------------------------------------------------------------------------- playbook
def test_playbook_cell_opens_its_form_and_saves(client, admin_user):
    client.force_login(admin_user)
    response = client.get(f"{URL}playbook/at_risk/A/?edit=1", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<td id="pb-at_risk-A"')
    assert re.search(r'<textarea name="text_en"[^>]*autofocus[^>]*>\s*Owner calls within 48 hours', html)
    assert re.search(r'name="action_code" value="owner_call_48h"', html)

    response = client.post(f"{URL}playbook/at_risk/A/",
                           {"text_en": "Manager visits in person", "text_zh": "经理上门拜访",
                            "action_code": "manager_visit"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<td id="pb-at_risk-A"' in html and "Manager visits in person" in html
    assert '<div id="vc-playbook-status" hx-swap-oob="true">' in html
    assert "HX-Retarget" not in response
    entry = PlaybookEntry.objects.get(stage="at_risk", tier="A")
    assert (entry.action_code, entry.text_en, entry.text_zh) == ("manager_visit", "Manager visits in person",
                                                                 "经理上门拜访")


def test_editing_an_inherited_cell_gives_the_tier_its_own_action(client, admin_user):
    client.force_login(admin_user)
    html = client.get(URL).content.decode()
    growing_b = re.search(r'<td id="pb-growing-B".*?</td>', html, re.S).group(0)
    assert "is-inherited" in growing_b and "Same as all tiers" in growing_b
    response = client.post(f"{URL}playbook/growing/B/",
                           {"text_en": "Invite to the B club", "text_zh": "邀请加入 B 俱乐部", "action_code": "b_club"},
                           **HTMX)
    assert response.status_code == 200
    assert PlaybookEntry.objects.get(stage="growing", tier="B").action_code == "b_club"
    assert PlaybookEntry.objects.get(stage="growing", tier="").action_code == "cross_sell"


def test_changing_the_all_tiers_action_redraws_the_row(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"{URL}playbook/churned/any/",
                           {"text_en": "Call and ask why", "text_zh": "致电询问原因", "action_code": "ask_why"}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#pb-row-churned"
    html = response.content.decode()
    assert html.lstrip().startswith('<tr id="pb-row-churned"')
    assert html.count("Call and ask why") == 4  # all tiers + A, B and C fall back to it
    assert PlaybookEntry.objects.get(stage="churned", tier="").text_en == "Call and ask why"


def test_bad_playbook_input_is_named_and_nothing_changes(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"{URL}playbook/at_risk/B/",
                           {"text_en": "", "text_zh": "x", "action_code": "not a code!"}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="pb-at_risk-B-text_en_error">This field is required.</div>' in html
    assert 'id="pb-at_risk-B-action_code_error">' in html
    assert re.search(r'name="action_code" value="not a code!"', html)
    assert PlaybookEntry.objects.get(stage="at_risk", tier="B").action_code == "personal_win_back"


def test_unknown_playbook_cell_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get(f"{URL}playbook/sleepy/A/").status_code == 404
    assert client.get(f"{URL}playbook/at_risk/D/").status_code == 404


def test_cell_form_works_without_javascript(client, admin_user):
    client.force_login(admin_user)
    html = client.get(f"{URL}?edit=new.C").content.decode()
    assert re.search(r'<td id="pb-new-C"[^>]*is-editing', html)
    response = client.post(f"{URL}playbook/new/C/", {"text_en": "Hi", "text_zh": "你好", "action_code": "hi"})
    assert response.status_code == 302
    assert response["Location"] == "/value/settings/?saved=playbook#settings-playbook"
    response = client.post(f"{URL}playbook/new/C/", {"text_en": "Hi", "text_zh": "", "action_code": "hi"})
    assert response.status_code == 422
    assert 'id="pb-new-C-text_zh_error">This field is required.</div>' in response.content.decode()


# ----------------------------------------------------------------------------- 中文
class _VisibleText(HTMLParser):
    """Text a reader sees (and hears) inside <main>, without code, form values and scripts."""

    SKIP = {"code", "textarea", "script", "style"}

    def __init__(self):
        super().__init__()
        self.in_main = 0
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.in_main += 1
        if tag in self.SKIP:
            self.skip += 1
        if self.in_main:
            self.texts += [value for name, value in attrs if name in ("aria-label", "title", "placeholder") and value]

    def handle_endtag(self, tag):
        if tag == "main":
            self.in_main -= 1
        if tag in self.SKIP:
            self.skip -= 1

    def handle_data(self, data):
        if self.in_main and not self.skip and data.strip():
            self.texts.append(data.strip())


def _english_words(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    allowed = {"ValueCRM", "alive", "CLV", "VIP"}  # P(alive), CLV and VIP are used as such in 中文 too
    return [text for text in parser.texts
            if any(word not in allowed for word in re.findall(r"[A-Za-z]{3,}", text))]


def _strings_defined_in_forms() -> list[str]:
    with translation.override("en"):
        strings = [*map(str, settings_forms.POLICY_LABELS.values()), *map(str, settings_forms.POLICY_HELP.values())]
        for section in settings_forms.SETTINGS_SECTIONS.values():
            strings += [str(section.title), str(section.intro)]
            strings += [str(group.note) for group in section.groups]
    return strings


def test_chinese_page_has_no_english_left(client, admin_user):
    client.force_login(admin_user)
    _zh(client)
    html = client.get(f"{URL}?saved=lifecycle&edit=at_risk.A").content.decode()
    for text in ("价值设置", "生命周期阶段", "价值分层", "早期预警", "行动手册", "已保存。下次评分运行将使用这些设置。",
                 "负责人 48 小时内致电并提供挽留优惠"):
        assert text in html, text
    assert _english_words(html) == []
    for text in _strings_defined_in_forms():
        assert text not in html, text


def test_chinese_errors_and_read_only_note(client, admin_user, rep_north):
    client.force_login(admin_user)
    _zh(client)
    response = client.post(f"{URL}lifecycle/", {**LIFECYCLE, "at_risk_p_alive": "2"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "未保存任何内容" in html
    assert _english_words(html) == []
    client.force_login(rep_north)
    html = client.get(URL).content.decode()
    assert "只有管理员可以修改这些设置" in html
    assert _english_words(html) == []


def test_a_tier_can_go_back_to_the_all_tiers_action(client, admin_user):
    """“Use the all-tiers action” removes the tier's own entry; the cell shows the
    stage's all-tiers text again."""
    client.force_login(admin_user)
    stage = "loyal"
    url = f"/value/settings/playbook/{stage}/A/"
    PlaybookEntry.objects.update_or_create(stage=stage, tier="", defaults={
        "action_code": "thank", "text_en": "Thank them", "text_zh": "感谢"})
    PlaybookEntry.objects.update_or_create(stage=stage, tier="A", defaults={
        "action_code": "vip_call", "text_en": "Call personally", "text_zh": "亲自致电"})
    editing = client.get(url + "?edit=1", HTTP_HX_REQUEST="true")
    assert 'data-action="clear-cell"' in editing.content.decode()
    response = client.post(url, {"action": "clear"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert not PlaybookEntry.objects.filter(stage=stage, tier="A").exists()
    assert "Thank them" in response.content.decode()


def test_the_all_tiers_action_cannot_be_removed_and_reps_cannot_remove_any(client, admin_user, rep_north):
    stage = "loyal"
    PlaybookEntry.objects.update_or_create(stage=stage, tier="", defaults={
        "action_code": "thank", "text_en": "Thank them", "text_zh": "感谢"})
    PlaybookEntry.objects.update_or_create(stage=stage, tier="B", defaults={
        "action_code": "b_only", "text_en": "B only", "text_zh": "仅 B"})
    client.force_login(admin_user)
    response = client.post(f"/value/settings/playbook/{stage}/any/", {"action": "clear"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert PlaybookEntry.objects.filter(stage=stage, tier="").exists()
    client.force_login(rep_north)
    response = client.post(f"/value/settings/playbook/{stage}/B/", {"action": "clear"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert PlaybookEntry.objects.filter(stage=stage, tier="B").exists()
