"""Marketing in a real browser: build a segment from value chips, write a template with
merge fields and preview it, create and launch a campaign with a hold-out, read the
results of a finished one — then every page in English and 中文, light and dark, at
1440×900 and 390×844. Screenshots: marketing-<page>-<width>-<en|zh>-<light|dark>.png."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_ops_pages import LOOKS, SIZES, no_sideways_scroll, set_look, short
from tests.browser.ui import open_page

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(transactional_db, make_user, settings):
    from valuecrm.customers.models import Customer
    from valuecrm.marketing import services
    from valuecrm.marketing.models import CampaignMember, Group, Message
    from valuecrm.orders.models import Order
    from valuecrm.privacy.services import consent_follow_legacy

    settings.VALUECRM_MARKETING_SMTP = {}
    settings.VALUECRM_MARKETING_QUIET_HOURS = (0, 0)
    marketer = make_user("sunhao", role="marketer", first_name="浩", last_name="孙")
    customers = Customer.objects.bulk_create([
        Customer(name=f"客户{i}", email=f"c{i}@example.cn", consent_email=i % 5 != 0, owner=marketer)
        for i in range(300)])
    consent_follow_legacy([c.pk for c in customers], source="import")
    template = services.template_create(actor=marketer, data={
        "name": "回购礼券", "subject": '{{ customer.name|default:"朋友" }}，送您一张券', "body_text": "您好"})
    variant_b = services.template_create(actor=marketer, data={
        "name": "回购礼券 B", "subject": "老朋友，30 元券等您", "body_text": "您好"})
    campaign = services.campaign_create(actor=marketer, data={
        "name": "春季回购", "template_id": template.pk, "holdout_percent": 20, "cost": "800",
        "variant_template_ids": [template.pk, variant_b.pk], "ab_test_percent": 30, "ab_wait_hours": 24})
    launched = timezone.now() - dt.timedelta(days=30)
    services.campaign_launch(actor=marketer, campaign=campaign, queue=False, now=launched)
    groups = dict(CampaignMember.objects.filter(campaign=campaign).values_list("customer_id", "group"))
    # The A/B test slice was sent; B was clicked more often; the winner went to the rest.
    slice_ = CampaignMember.objects.filter(campaign=campaign).exclude(variant="")
    Message.objects.bulk_create([
        Message(key=f"campaign-{campaign.pk}:{m.customer_id}", campaign=campaign, customer_id=m.customer_id,
                channel="email", template=template if m.variant == "A" else variant_b, status="sent",
                sent_at=launched, opened_at=launched if i % 2 else None,
                clicked_at=launched if (m.variant == "B" and i % 3) or i % 9 == 0 else None)
        for i, m in enumerate(slice_)])
    services.ab_decide(campaign_id=campaign.pk, now=launched + dt.timedelta(days=1), queue=False)
    # A later finished campaign (the uplift model's evaluation): only even ids respond.
    later = services.campaign_create(actor=marketer, data={
        "name": "会员日", "template_id": template.pk, "holdout_percent": 20})
    launched_later = timezone.now() - dt.timedelta(days=16)
    services.campaign_launch(actor=marketer, campaign=later, queue=False, now=launched_later)
    groups_later = dict(CampaignMember.objects.filter(campaign=later).values_list("customer_id", "group"))
    orders = []
    for c in customers:
        if c.pk not in groups:
            continue
        base = 40 + c.pk % 50
        orders.append(Order(customer=c, source="t", external_id=f"pre-{c.pk}", status="paid",
                            placed_at=launched - dt.timedelta(days=3), total_amount=Decimal(base)))
        orders.append(Order(customer=c, source="t", external_id=f"post-{c.pk}", status="paid",
                            placed_at=launched + dt.timedelta(days=2),
                            total_amount=Decimal(base + (35 if groups[c.pk] == Group.TREATMENT else 0))))
        if groups_later[c.pk] == Group.TREATMENT and c.pk % 2 == 0:
            orders.append(Order(customer=c, source="t", external_id=f"later-{c.pk}", status="paid",
                                placed_at=launched_later + dt.timedelta(days=2), total_amount=Decimal(60)))
    Order.objects.bulk_create(orders)
    return {"marketer": marketer, "finished": campaign}


def test_marketing_journey_and_looks(live_server, new_page, login, shoot, shop):
    page = new_page()
    login(page, "sunhao")
    base = live_server.url
    # Build a segment from value chips, count it live, save it.
    open_page(page, f"{base}/marketing/segments/")
    page.select_option("#f-consent", "email")
    page.wait_for_load_state("networkidle")
    page.click("#segment-builder button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-segment=count]")).to_have_text("240")
    page.fill("#s-name", "有邮件同意")
    page.click("#segment-save button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-segment=count]")).to_have_text("240")
    # Write a template with merge fields and preview it as a customer.
    open_page(page, f"{base}/marketing/templates/new/")
    page.fill("#t-name", "夏季新品")
    page.fill("#t-subject", '{{ customer.name|default:"朋友" }}，夏季新品到了')
    page.fill("#t-text", '{{ customer.name|default:"朋友" }}，您好！顾问：{{ owner.name }}\n退订：{{ unsubscribe_url }}')
    page.fill("#t-html", '<p style="color:#0a7">{{ customer.name }}</p><script>alert(1)</script>')
    page.click("button[value=preview]")
    page.wait_for_load_state("networkidle")
    template_url = page.url
    expect(page.locator("[data-preview=subject]")).to_have_text("客户0，夏季新品到了")
    expect(page.locator("[data-preview=text]")).to_contain_text("顾问：孙浩")
    assert "script" not in page.locator("#t-html").input_value()
    # Create a campaign on the segment with a 10 % hold-out and launch it.
    open_page(page, f"{base}/marketing/campaigns/new/")
    page.fill("#c-name", "夏季新品邮件")
    page.select_option("#c-segment", label="有邮件同意")
    page.select_option("#c-template", label="夏季新品 (Email)")
    page.fill("#c-holdout", "10")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.click("[data-action=launch]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-field=status]")).to_have_text("Sent")
    n_t = int(page.locator("[data-result=n_treatment]").inner_text())
    n_c = int(page.locator("[data-result=n_control]").inner_text())
    assert n_t + n_c == 240 and 10 <= n_c <= 40
    # The hold-out is drawn by a hash keyed on the new campaign, so ~24 ± 7 customers land in
    # it: below 30 in either group the page must say there is too little data, else give the
    # interval (no sales yet: +¥0).
    if min(n_t, n_c) < 30:
        expect(page.locator("[data-result=sentence]")).to_contain_text("Not enough data yet")
    else:
        expect(page.locator("[data-result=sentence]")).to_contain_text("+¥0 (95 %: +¥0 to +¥0)")
    launched_url = page.url
    # The finished campaign explains its effect in one sentence.
    finished = f"{base}/marketing/campaigns/{shop['finished'].pk}/"
    open_page(page, finished)
    expect(page.locator("[data-result=sentence]")).to_contain_text("more revenue than without the campaign")
    expect(page.locator("[data-ab=rule]")).to_contain_text("Test slice: 30 % of the treatment group")
    expect(page.locator("[data-ab=table] tbody tr")).to_have_count(2)
    expect(page.locator("[data-ab=state]")).to_contain_text("Variant B won")
    # Train the uplift model on the earlier campaign; the page draws its Qini curve.
    open_page(page, f"{base}/marketing/uplift/")
    expect(page.locator("[data-uplift=no-model]")).to_be_visible()
    page.click("[data-action=train]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-uplift=version]")).to_have_text("v1")
    expect(page.locator("[data-uplift-chart=qini][data-drawn='1'] svg")).to_have_count(1)
    pages = {"segments": f"{base}/marketing/segments/?tier=&consent=email",
             "uplift": f"{base}/marketing/uplift/",
             "template": template_url, "results": finished, "launched": launched_url,
             "campaigns": f"{base}/marketing/"}
    for language, theme in LOOKS:
        set_look(shop["marketer"], language, theme)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, url in pages.items():
                open_page(page, url)
                no_sideways_scroll(page, width)
                shoot(page, f"marketing-{name}-{width}-{short(language)}-{theme}")
            if language.startswith("zh"):
                open_page(page, finished)
                expect(page.locator("[data-result=sentence]")).to_contain_text("比不做活动多带来")
