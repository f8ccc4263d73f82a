"""Festival schedules: the dates each year, firing once on the day at the hour, validation, the editor."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from valuecrm.automation import schedules
from valuecrm.automation.festivals import FESTIVALS, festival_date
from valuecrm.automation.models import Rule, Run, RunStatus
from valuecrm.customers.services import customer_create

pytestmark = pytest.mark.django_db

# 2026/2027: published holiday dates (春节 2027-02-06, 中秋 2027-09-15 as in the issue).
# 中秋 2013–2021: the published table at mandarinmorning.org ("Chinese Mid-Autumn Festival Dates").
KNOWN = {
    ("mid_autumn", 2013): dt.date(2013, 9, 19),
    ("mid_autumn", 2015): dt.date(2015, 9, 27),
    ("mid_autumn", 2017): dt.date(2017, 10, 4),
    ("mid_autumn", 2020): dt.date(2020, 10, 1),
    ("mid_autumn", 2021): dt.date(2021, 9, 21),
    ("spring_festival", 2026): dt.date(2026, 2, 17),
    ("spring_festival", 2027): dt.date(2027, 2, 6),
    ("lantern", 2027): dt.date(2027, 2, 20),
    ("dragon_boat", 2026): dt.date(2026, 6, 19),
    ("dragon_boat", 2027): dt.date(2027, 6, 9),
    ("qixi", 2027): dt.date(2027, 8, 8),
    ("mid_autumn", 2026): dt.date(2026, 9, 25),
    ("mid_autumn", 2027): dt.date(2027, 9, 15),
    ("double_ninth", 2027): dt.date(2027, 10, 8),
    ("new_year", 2027): dt.date(2027, 1, 1),
    ("national_day", 2027): dt.date(2027, 10, 1),
    ("singles_day", 2027): dt.date(2027, 11, 11),
}


@pytest.mark.parametrize(("key", "year"), sorted(KNOWN))
def test_festival_dates(key, year):
    assert festival_date(key, year) == KNOWN[(key, year)]


def test_every_festival_has_a_date_through_2099_and_none_after():
    assert [f.key for f in FESTIVALS if festival_date(f.key, 2099) is None] == []
    assert festival_date("mid_autumn", 2100) is None
    assert festival_date("national_day", 2100) == dt.date(2100, 10, 1)


def test_mid_autumn_rule_fires_once_on_the_day_at_the_hour(admin_user, make_rule, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    timezone.activate("Asia/Shanghai")
    try:
        rule = make_rule(trigger={"schedule": {"festival": "mid_autumn", "at": "10:00"}},
                         actions=[{"type": "add_note", "body": "中秋快乐"}])
        c = customer_create(actor=admin_user, data={"name": "Li Lei"})
        utc = dt.UTC
        # 10:00 Shanghai the day before (24 Sep 2026): not the festival.
        schedules.fire_due(now=dt.datetime(2026, 9, 24, 2, 0, 10, tzinfo=utc))
        # 09:59 Shanghai on the day: not the hour yet.
        schedules.fire_due(now=dt.datetime(2026, 9, 25, 1, 59, 10, tzinfo=utc))
        assert list(c.notes.values_list("body", flat=True)) == []
        schedules.fire_due(now=dt.datetime(2026, 9, 25, 2, 0, 10, tzinfo=utc))
        assert list(c.notes.values_list("body", flat=True)) == ["中秋快乐"]
        # An overlapping tick does not act twice.
        Rule.objects.filter(pk=rule.pk).update(last_fired_at=dt.datetime(2026, 9, 25, 1, 59, tzinfo=utc))
        schedules.fire_due(now=dt.datetime(2026, 9, 25, 2, 0, 50, tzinfo=utc))
        assert c.notes.count() == 1
        assert Run.objects.filter(rule=rule, status=RunStatus.SUCCEEDED).count() == 1
    finally:
        timezone.deactivate()


def test_api_accepts_a_festival_and_names_a_bad_key(api_client_for, admin_user):
    client = api_client_for(admin_user)
    body = {"name": "Spring greeting", "enabled": False,
            "trigger": {"schedule": {"festival": "spring_festival", "at": "10:00"}},
            "conditions": [], "actions": [{"type": "add_tag", "tag": "春节"}]}
    r = client.post("/api/v1/automation/rules", json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.content
    assert Rule.objects.get(pk=r.json()["id"]).trigger == {"schedule": {"festival": "spring_festival", "at": "10:00"}}
    bad = client.post("/api/v1/automation/rules",
                      json.dumps({**body, "trigger": {"schedule": {"festival": "halloween", "at": "10:00"}}}),
                      content_type="application/json")
    assert bad.status_code == 422
    assert bad["Content-Type"].startswith("application/problem+json")
    assert set(bad.json()["errors"]) == {"trigger.schedule.festival"}
    assert Rule.objects.filter(name="Spring greeting").count() == 1


def test_editor_saves_a_festival_schedule(client, admin_user):
    client.force_login(admin_user)
    r = client.post("/automation/rules/new", {
        "name": "Qixi", "trigger_kind": "festival", "schedule_festival": "qixi", "schedule_festival_at": "10:30",
        "a0_type": "add_tag", "a0_add_tag_tag": "七夕", "max_runs_per_hour": "1000"})
    assert r.status_code == 302, r.content.decode()[:2000]
    rule = Rule.objects.get(name="Qixi")
    assert rule.trigger == {"schedule": {"festival": "qixi", "at": "10:30"}}
    page = client.get(f"/automation/rules/{rule.pk}/").content.decode()
    assert '<option value="qixi" selected>' in page
    listing = client.get("/automation/").content.decode()
    assert "Qixi Festival, at 10:30" in listing
