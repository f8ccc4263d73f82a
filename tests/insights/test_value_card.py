"""The value card on the customer 360 page."""

import datetime as dt

import pytest
from django.utils import timezone

from valuecrm.insights.models import CustomerValue, RunStatus
from valuecrm.insights.services import score_now

TODAY = timezone.localdate()


@pytest.fixture
def scored(make_customer, add_orders, rep_north):
    buyers = []
    for i in range(30):
        c = make_customer(f"buyer{i}", owner=rep_north)
        step = 10 + 5 * i
        add_orders(c, [TODAY - dt.timedelta(days=d) for d in range(380 - 5 * i, (i * 7) % 120 - 1, -step)],
                   amount=80 + 20 * i)
        buyers.append(c)
    run = score_now(as_of=TODAY)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return buyers


def test_scored_customer_shows_value_card(client, admin_user, scored):
    customer = scored[5]
    value = CustomerValue.objects.get(customer=customer)
    client.force_login(admin_user)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-value-card' in html
    assert "Predicted CLV (12 months)" in html
    assert f"Tier {value.tier}" in html
    assert 'data-value="stage-path"' in html
    assert f'href="/customers/?segment={value.segment}"' in html
    assert 'data-value="next-best-action"' in html
    assert "Not scored yet" not in html
    risk = "Low" if value.churn_risk < 0.3 else "Medium" if value.churn_risk < 0.6 else "High"
    assert f'<span class="text-{ {"Low": "success", "Medium": "warning", "High": "danger"}[risk] }-emphasis">{risk}</span>' in html


def test_value_card_in_chinese(client, admin_user, scored):
    customer = scored[5]
    value = CustomerValue.objects.get(customer=customer)
    admin_user.language = "zh-hans"
    admin_user.save(update_fields=["language"])
    client.force_login(admin_user)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "客户价值" in html
    assert "预测 CLV（12 个月）" in html
    assert "下一步最佳行动" in html
    segment_zh = {"champions": "核心客户", "loyal": "忠诚客户", "potential_loyalists": "潜力客户", "new": "新客户",
                  "promising": "有希望", "need_attention": "需关注", "about_to_sleep": "即将沉睡",
                  "at_risk": "风险客户", "cant_lose": "不能失去", "hibernating": "沉睡客户"}[value.segment]
    assert segment_zh in html


def test_unscored_customer_shows_empty_state_with_run_link_for_admin(client, admin_user, make_customer, scored):
    late = make_customer("Added after the run")
    client.force_login(admin_user)
    html = client.get(f"/customers/{late.pk}/").content.decode()
    assert 'data-value="not-scored"' in html
    assert "Not scored yet" in html
    assert f"This customer was added after the last scoring run ({TODAY:%Y-%m-%d})." in html
    assert 'action="/value/score/"' in html


def test_unscored_customer_without_any_run_for_a_rep(client, rep_north, make_customer):
    customer = make_customer("Fresh", owner=rep_north)
    client.force_login(rep_north)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "No scoring run has finished yet." in html
    assert 'action="/value/score/"' not in html
    assert "an administrator or analyst can also run it now" in html
