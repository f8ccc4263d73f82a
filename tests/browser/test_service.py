"""Service in a real browser: the agent queue (a tier-A customer first, with the reason)
→ a ticket → a reply → solve, SLA countdowns, the CSAT survey page on a phone, the service dashboard and the
feedback topics page with its drill-down, the routing page and an escalation in the ticket's log — at 1440×900
and 390×844, in English and 中文, light and dark. Screenshots: service-<page>-<size>-<lang>-<theme>.png.
"""

import datetime as dt
import re
from datetime import date

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import open_page

LOOKS = [("en", "light"), ("zh-hans", "dark")]
VARIANTS = [(1440, 900, "en", "light"), (390, 844, "zh-hans", "dark"), (1440, 900, "zh-hans", "dark"),
            (390, 844, "en", "light")]


def set_look(user, language, theme):
    from valuecrm.accounts.services import user_preferences_update

    user_preferences_update(user=user, language=language, theme=theme)


@pytest.fixture
def desk(transactional_db, admin_user, make_user, monkeypatch, settings, tmp_path):
    from valuecrm.customers.services import customer_create
    from valuecrm.insights.models import CustomerValue
    from valuecrm.service.services import calendar_save, sla_policy_save, ticket_create

    settings.DATA_DIR = tmp_path  # attachments go under the data dir
    agent = make_user("emily", role="support_agent", first_name="Emily", last_name="Zhou")
    allday = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]
    cal = calendar_save(actor=admin_user, data={"name": "24/7", "timezone": "Asia/Shanghai", "hours": allday})
    for tier, first, res in (("", 240, 2880), ("A", 60, 480)):
        sla_policy_save(actor=admin_user, data={"name": f"Normal {tier or '*'}", "calendar_id": cal.pk,
                                                "priority": "normal", "tier": tier,
                                                "first_response_minutes": first, "resolution_minutes": res})
    wang = customer_create(actor=admin_user, data={"name": "王芳", "email": "wang@example.cn"})
    li = customer_create(actor=admin_user, data={"name": "李雷", "email": "li@example.cn"})
    CustomerValue.objects.create(customer=wang, tier="A", stage="loyal", as_of=date(2026, 12, 1))
    now = timezone.now()
    ticket_create(actor=agent, data={"customer_id": li.pk, "subject": "发票抬头开错了",
                                     "description": "麻烦重新开一张发票。"}, now=now)
    vip = ticket_create(actor=agent, data={"customer_id": wang.pk, "subject": "快递破损，罐子压坏了",
                                           "description": "收到的茶叶罐子压扁了。", "is_complaint": True,
                                           "opened_at": now - dt.timedelta(minutes=50)}, now=now)
    # Survey comments about delivery, analysed like the worker does (a small sentiment model: 3 s).
    from valuecrm.service import feedback
    from valuecrm.service.models import Survey
    from valuecrm.service.text import sentiment

    model, _ = sentiment.train(limit=2000)
    monkeypatch.setattr(sentiment, "_model", model)
    for days, score, comment in ((40, 1, "快递太慢了，包装也破了，很不满意。"), (10, 2, "快递破损，非常失望。"),
                                 (3, 5, "快递很快，包装很好，非常满意！"), (2, 4, "Fast delivery, thank you!")):
        at = now - dt.timedelta(days=days)
        Survey.objects.create(kind="csat", customer=li, sent_at=at, expires_at=at + dt.timedelta(days=14),
                              answered_at=at, score=score, comment=comment)
    feedback.feedback_backfill(model=model)
    # A team with its routing and escalation people, and an escalation on the other ticket.
    from valuecrm.accounts.models import Team
    from valuecrm.service.models import Ticket, TicketEscalation
    from valuecrm.service.services import agent_profile_save, service_team_save

    team = Team.objects.create(name="一线客服")
    lead = make_user("lead_liu", role="support_agent", first_name="洋", last_name="刘", team=team)
    service_team_save(actor=admin_user, team=team, data={"routing": "round_robin", "lead_id": lead.pk,
                                                          "manager_id": admin_user.pk})
    agent_profile_save(actor=admin_user, user=lead, data={"skills": ["发票", "退货"], "calendar_id": cal.pk})
    other = Ticket.objects.exclude(pk=vip.pk).get()
    Ticket.objects.filter(pk=other.pk).update(tags=["发票", "invoice"])
    TicketEscalation.objects.create(ticket=other, level=1, target=lead, clock="first_response", percent=100, at=now)
    return {"agent": agent, "vip": vip}


def test_agent_queue_ticket_reply_solve_and_dashboard(new_page, live_server, login, shoot, desk):
    from valuecrm.service.models import Ticket

    base, agent, vip = live_server.url, desk["agent"], desk["vip"]
    page = new_page()
    login(page, "emily")

    open_page(page, f"{base}/service/")
    rows = page.locator(".vc-tickets-table tbody tr")
    expect(rows).to_have_count(2)
    # The tier-A customer's ticket jumps the queue even though the other one is newer… and due later.
    expect(rows.first).to_contain_text("快递破损")
    expect(rows.first).to_contain_text("Tier-A customer")
    # 9 min from when the fixture opened it; a loaded machine can take a minute to get here.
    expect(rows.first.locator(".vc-sla")).to_contain_text(re.compile(r"due in [89] min"))
    shoot(page, "service-queue-1440-en-light")

    rows.first.get_by_role("link").first.click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".vc-clock-first .vc-sla")).to_contain_text("due in")
    page.fill("#reply-body", "很抱歉，今天为您补发。")
    page.set_input_files("#reply-files", files=[{"name": "补发单.pdf", "mimeType": "application/pdf",
                                                 "buffer": b"%PDF-1.4\n%%EOF\n"}])
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".alert-success")).to_contain_text("Reply sent.")
    expect(page.locator(".vc-msg-reply")).to_contain_text("很抱歉，今天为您补发。")
    expect(page.locator(".vc-msg-reply [data-attachment='补发单.pdf']")).to_be_visible()
    expect(page.locator(".vc-clock-first")).not_to_contain_text("due in")
    page.locator("button[data-status=solved]").click()
    page.wait_for_load_state("networkidle")
    vip.refresh_from_db()
    assert (vip.status, vip.first_responded_at is not None, vip.solved_at is not None) == ("solved", True, True)
    assert Ticket.objects.get(pk=vip.pk).status_changes.count() == 3  # new, open, solved

    # Solving sent the customer a CSAT survey: answer it on a phone, in the customer's language.
    from valuecrm.service.models import Survey
    from valuecrm.service.surveys import survey_token

    survey = Survey.objects.get(ticket=vip)
    assert survey.language == "en"  # the site language; a customer's own language wins when known
    for language, question in (("en", "How satisfied are you"), ("zh-hans", "您对我们处理您的问题满意吗")):
        Survey.objects.filter(pk=survey.pk).update(language=language)
        phone = new_page()
        phone.set_viewport_size({"width": 390, "height": 844})
        open_page(phone, f"{base}/s/{survey_token(survey)}/")
        expect(phone.locator("h1")).to_contain_text(question)
        expect(phone.locator(".vc-score")).to_have_count(5)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(phone, f"service-survey-390-{language[:2]}")
    phone.locator("label[for=score-5]").click()
    phone.fill("#survey-comment", "处理很快，谢谢！")
    phone.get_by_role("button", name="发送").click()
    phone.wait_for_load_state("networkidle")
    expect(phone.locator("h1")).to_have_text("谢谢！")
    shoot(phone, "service-survey-thanks-390-zh")
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (5, "处理很快，谢谢！")

    other = Ticket.objects.exclude(pk=vip.pk).get()
    for width, height, language, theme in VARIANTS:
        set_look(agent, language, theme)
        zh = language.startswith("zh")
        page.set_viewport_size({"width": width, "height": height})
        suffix = f"{width}-{'zh' if zh else 'en'}-{theme}"
        open_page(page, f"{base}/service/")
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        expect(page.locator(".vc-page-title")).to_have_text("工单" if zh else "Tickets")
        expect(page.locator(".vc-tickets-table .vc-sla")).to_contain_text("剩余" if zh else "due in")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"service-queue-{suffix}")
        open_page(page, f"{base}/service/tickets/{other.pk}/")
        expect(page.get_by_role("button", name="发送并解决" if zh else "Send and solve")).to_be_visible()
        expect(page.locator(".vc-ticket-tags")).to_contain_text("发票")
        expect(page.locator(".vc-escalation")).to_contain_text(
            "已升级给组长 刘洋：首次响应已用 100 %" if zh else "Escalated to Team lead 刘洋: first response at 100 %")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"service-ticket-{suffix}")
        open_page(page, f"{base}/service/routing/")
        expect(page.locator(".vc-page-title")).to_have_text("分配与升级" if zh else "Routing and escalation")
        expect(page.locator("[data-team] select[name=routing]")).to_have_value("round_robin")
        expect(page.locator("[data-agent=lead_liu] input[name=skills]")).to_have_value("发票, 退货")
        expect(page.locator("[data-agent=lead_liu] [data-available]")).to_have_text("可分配" if zh else "available")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"service-routing-{suffix}")
        open_page(page, f"{base}/service/dashboard/?period=7d")
        expect(page.locator(".vc-kpi-tickets")).to_have_text("2")
        expect(page.locator(".vc-kpi-sla")).to_have_text("100 %")
        expect(page.locator(".vc-kpi-next-breaches")).to_have_text("0")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"service-dashboard-{suffix}")
        open_page(page, f"{base}/service/topics/")
        expect(page.locator(".vc-page-title")).to_have_text("反馈话题" if zh else "Feedback topics")
        expect(page.locator("[data-topics] a[data-topic='快递']")).to_be_visible()
        expect(page.locator("[data-topics-chart] canvas")).to_have_count(1)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"service-topics-{suffix}")
        page.locator("[data-topics] a[data-topic='快递']").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator("[data-texts] li")).to_have_count(3)
        expect(page.locator("[data-texts] [data-sentiment=negative]")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"service-topics-drill-{suffix}")
