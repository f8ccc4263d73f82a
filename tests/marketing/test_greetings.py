"""Greetings: seeded templates, the rule templates, tier variant, consent — through the real SMTP server."""

import datetime as dt

import pytest
from django.utils import timezone, translation

from valuecrm.automation import schedules
from valuecrm.automation.festivals import FESTIVALS
from valuecrm.automation.services import rule_create
from valuecrm.automation.templates_catalogue import template_data
from valuecrm.insights.models import CustomerValue
from valuecrm.marketing.greetings import OCCASIONS, template_name, template_rows
from valuecrm.marketing.models import Message, MessageTemplate

pytestmark = pytest.mark.django_db


def test_greeting_occasions_are_birthday_and_every_festival():
    assert list(OCCASIONS) == ["birthday"] + [f.key for f in FESTIVALS]


def test_every_greeting_template_is_seeded_in_both_languages_and_variants():
    names = set(MessageTemplate.objects.values_list("name", flat=True))
    assert {r["name"] for r in template_rows()} <= names
    assert len(template_rows()) == len(OCCASIONS) * 2 * 2
    gift = MessageTemplate.objects.get(name=template_name("mid_autumn", "gift", "zh-hans"))
    assert "礼券" in gift.body_text and gift.language == "zh-hans"
    plain_en = MessageTemplate.objects.get(name=template_name("mid_autumn", "plain", "en"))
    assert "coupon" not in plain_en.body_text and plain_en.language == "en"


def test_rule_templates_are_disabled_at_daytime_hours():
    with translation.override("zh-hans"):
        birthday = template_data("greeting:birthday")
        spring = template_data("greeting:spring_festival")
    assert birthday["enabled"] is False and spring["enabled"] is False
    assert birthday["trigger"] == {"schedule": {"date_field": "birthday", "offset_days": 0, "at": "09:00"}}
    assert spring["trigger"] == {"schedule": {"festival": "spring_festival", "at": "10:00"}}
    action = spring["actions"][0]
    assert action["type"] == "send_greeting" and action["gift_tier"] == "A"
    assert int(action["gift_template_id"]) == MessageTemplate.objects.get(
        name=template_name("spring_festival", "gift", "zh-hans")).pk
    with translation.override("en"):
        en = template_data("greeting:spring_festival")["actions"][0]
    assert int(en["template_id"]) == MessageTemplate.objects.get(
        name=template_name("spring_festival", "plain", "en")).pk


def test_mid_autumn_greeting_sends_gift_to_tier_a_plain_to_others_and_nothing_without_consent(
        admin_user, make_customers, smtp_server, settings, django_capture_on_commit_callbacks):
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.VALUECRM_MARKETING_QUIET_HOURS = (0, 0)
    a, b, new = make_customers(3, prefix="ok")
    (no_consent,) = make_customers(1, consent=False, prefix="no")
    for c, tier in ((a, "A"), (b, "B"), (no_consent, "A")):
        CustomerValue.objects.create(customer=c, tier=tier, as_of=dt.date(2026, 9, 1))
    with translation.override("zh-hans"):
        data = template_data("greeting:mid_autumn")
    rule = rule_create(actor=admin_user, data={**data, "enabled": True})
    timezone.activate("Asia/Shanghai")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            schedules.fire_due(now=dt.datetime(2026, 9, 25, 2, 0, 10, tzinfo=dt.UTC))  # 10:00 on 中秋
            # A second tick over the same minute sends nothing more.
            type(rule).objects.filter(pk=rule.pk).update(last_fired_at=dt.datetime(2026, 9, 25, 1, 59, tzinfo=dt.UTC))
            schedules.fire_due(now=dt.datetime(2026, 9, 25, 2, 0, 40, tzinfo=dt.UTC))
    finally:
        timezone.deactivate()
    sent = {m["To"]: m for m in smtp_server.messages}
    assert sorted(sent) == ["ok0@example.cn", "ok1@example.cn", "ok2@example.cn"]
    assert "礼券" in sent["ok0@example.cn"].get_body(("plain",)).get_content()
    assert "礼券" not in sent["ok1@example.cn"].get_body(("plain",)).get_content()
    assert "礼券" not in sent["ok2@example.cn"].get_body(("plain",)).get_content()
    assert sent["ok0@example.cn"]["Subject"] == "ok0，中秋节快乐"
    assert not Message.objects.filter(customer=no_consent).exists()
    assert Message.objects.filter(customer=new).count() == 1


def test_demo_switches_on_a_birthday_and_a_mid_autumn_greeting():
    from valuecrm.automation.models import Rule
    from valuecrm.demo.marketing import demo_greetings

    assert demo_greetings() == 2
    rules = Rule.objects.filter(enabled=True, actions__0__type="send_greeting").order_by("pk")
    assert [r.trigger["schedule"].get("festival", "birthday") for r in rules] == ["birthday", "mid_autumn"]
    assert demo_greetings() == 0
