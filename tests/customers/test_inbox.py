"""My follow-ups: open tasks grouped Overdue / Due today / Upcoming by the Shanghai calendar day."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from valuecrm.customers import followups
from valuecrm.customers.followups import user_follow_ups
from valuecrm.customers.models import Customer, Task

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai is 02:00 UTC: the UTC date and the Shanghai date are the same
# until 16:00 UTC, after which Shanghai is already on the next day.
NOW = datetime(2024, 5, 10, 10, 0, tzinfo=SHANGHAI)


def _sh(day, hour, minute=0):
    return datetime(2024, 5, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def customer(rep_north):
    return Customer.objects.create(name="Zhao Lei", owner=rep_north)


@pytest.fixture
def tasks(rep_north, customer):
    def make(title, due_at, **kw):
        return Task.objects.create(title=title, due_at=due_at, assignee=rep_north, customer=customer, **kw)

    return {
        "yesterday": make("chase invoice", _sh(9, 18)),
        "this_morning": make("morning call", _sh(10, 9)),
        "tonight": make("late call 23:30", _sh(10, 23, 30)),  # 15:30 UTC
        "after_midnight": make("00:30 tomorrow", _sh(11, 0, 30)),  # 16:30 UTC, still May 10 in UTC
        "in_seven_days": make("week out", _sh(17, 12)),
        "in_eight_days": make("too far", _sh(18, 9)),
        "undated": make("whenever", None),
        "done": make("already done", _sh(10, 12), done=True),
    }


def _titles(group):
    return [t.title for t in group.tasks]


def test_groups_follow_the_shanghai_calendar_day(tasks, rep_north):
    result = user_follow_ups(user=rep_north, now=NOW)

    assert _titles(result.groups["overdue"]) == ["chase invoice", "morning call"]
    assert _titles(result.groups["today"]) == ["late call 23:30"]
    assert _titles(result.groups["upcoming"]) == ["00:30 tomorrow", "week out"]
    assert _titles(result.groups["undated"]) == ["whenever"]
    assert {k: g.count for k, g in result.groups.items()} == {
        "overdue": 2, "today": 1, "upcoming": 2, "undated": 1,
    }
    assert result.later_count == 1
    assert result.open_count == 6


def test_late_evening_shanghai_is_already_tomorrow(tasks, rep_north):
    # 16:45 UTC on May 10 = 00:45 on May 11 in Shanghai: "today" is now May 11.
    result = user_follow_ups(user=rep_north, now=_sh(11, 0, 45))

    assert _titles(result.groups["today"]) == []
    assert _titles(result.groups["overdue"]) == [
        "chase invoice", "morning call", "late call 23:30", "00:30 tomorrow",
    ]
    assert _titles(result.groups["upcoming"]) == ["week out", "too far"]
    assert result.later_count == 0


def test_only_my_open_tasks_on_customers_i_can_see(rep_north, rep_south, customer):
    hidden = Customer.objects.create(name="South customer", owner=rep_south)
    Task.objects.create(title="mine", due_at=_sh(10, 20), assignee=rep_north, customer=customer)
    Task.objects.create(title="no customer", due_at=_sh(10, 21), assignee=rep_north)
    Task.objects.create(title="someone else's", due_at=_sh(10, 20), assignee=rep_south, customer=customer)
    Task.objects.create(title="reassigned customer", due_at=_sh(10, 20), assignee=rep_north, customer=hidden)

    result = user_follow_ups(user=rep_north, now=NOW)

    assert _titles(result.groups["today"]) == ["mine", "no customer"]
    assert result.open_count == 2


def test_inbox_page_shows_counts_and_customer_links(client, rep_north, tasks, customer, monkeypatch):
    monkeypatch.setattr(followups.timezone, "now", lambda: NOW)
    client.force_login(rep_north)

    response = client.get("/inbox/")
    html = response.content.decode()

    assert response.status_code == 200
    assert re.findall(r'data-count="([a-z]+)">(\d+)<', html) == [
        ("overdue", "2"), ("today", "1"), ("upcoming", "2"), ("undated", "1"),
    ]
    today = html[html.index('data-group="today"'):html.index('data-group="upcoming"')]
    assert "late call 23:30" in today
    assert f'<a href="/customers/{customer.pk}/">Zhao Lei</a>' in today
    assert "1 more follow-up is due later." in html


def test_mark_done_from_the_inbox_refreshes_the_groups(client, rep_north, tasks, monkeypatch):
    monkeypatch.setattr(followups.timezone, "now", lambda: NOW)
    client.force_login(rep_north)

    response = client.post(f"/tasks/{tasks['tonight'].pk}/done/", {"from": "inbox"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()

    tasks["tonight"].refresh_from_db()
    assert response.status_code == 200
    assert tasks["tonight"].done is True
    assert "<html" not in html
    assert re.findall(r'data-count="([a-z]+)">(\d+)<', html) == [
        ("overdue", "2"), ("today", "0"), ("upcoming", "2"), ("undated", "1"),
    ]
    assert "late call 23:30" not in html


def test_someone_elses_task_cannot_be_marked_done(client, rep_south, tasks):
    client.force_login(rep_south)

    response = client.post(f"/tasks/{tasks['tonight'].pk}/done/", {"from": "inbox"}, HTTP_HX_REQUEST="true")

    tasks["tonight"].refresh_from_db()
    assert response.status_code == 404
    assert tasks["tonight"].done is False


def test_empty_inbox(client, rep_north):
    client.force_login(rep_north)

    html = client.get("/inbox/").content.decode()

    assert "No open follow-ups. Nicely done." in html


def test_mark_done_without_javascript_returns_to_the_inbox(client, rep_north, tasks):
    client.force_login(rep_north)

    response = client.post(f"/tasks/{tasks['undated'].pk}/done/", {"from": "inbox"})

    tasks["undated"].refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == "/inbox/"
    assert tasks["undated"].done is True
