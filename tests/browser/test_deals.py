"""Deals in a real browser: create a deal through the form, move it across the kanban
(keyboard and drag), see the column totals change, page a long column with "load more", add a
contact person with a role, save the filters as a default view, open the forecast, claim a
customer from the 公海 pool — then the pages at 1440×900 and 390×844, in English and 中文,
light and dark. Screenshots: deals-<page>-<width>-<en|zh>-<light|dark>.png.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.ui import open_page

LOOKS = [("en", "light"), ("zh-hans", "light"), ("zh-hans", "dark"), ("en", "dark")]
SIZES = [(1440, 900), (390, 844)]


def set_look(user, language, theme):
    from valuecrm.accounts.services import user_preferences_update

    user_preferences_update(user=user, language=language, theme=theme)


def no_sideways_scroll(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


@pytest.fixture
def sales(transactional_db, admin_user, team_north, make_user):
    from valuecrm.customers.models import Customer
    from valuecrm.deals.services import pipeline_create

    rep = make_user("liuyang", role="sales_rep", team=team_north, first_name="洋", last_name="刘")
    pipeline = pipeline_create(actor=admin_user, name="B2B projects", name_zh="B2B 项目", stages=[
        {"name": "Qualified", "name_zh": "已确认需求", "probability": 0.1},
        {"name": "Proposal", "name_zh": "方案报价", "probability": 0.45},
        {"name": "Negotiation", "name_zh": "商务谈判", "probability": 0.7},
        {"name": "Won", "name_zh": "赢单", "kind": "won"}, {"name": "Lost", "name_zh": "输单", "kind": "lost"}])
    customer = Customer.objects.create(name="杭州绿源茶业", kind="organization", owner=rep, team=team_north)
    buyer = Customer.objects.create(name="陈静怡", job_title="采购总监", company=customer, owner=rep, team=team_north)
    pooled = Customer.objects.create(name="苏州丝绸贸易", kind="organization")
    # A second pipeline with a column longer than one page of cards.
    retail = pipeline_create(actor=admin_user, name="Retail", name_zh="零售", stages=[
        {"name": "Inquiry", "name_zh": "询价"}, {"name": "Won", "name_zh": "赢单", "kind": "won"},
        {"name": "Lost", "name_zh": "输单", "kind": "lost"}])
    from valuecrm.deals.models import Deal

    Deal.objects.bulk_create([Deal(customer=customer, pipeline=retail, stage=retail.stages.first(), owner=rep,
                                   team=team_north, name=f"门店补货 {i}", amount=1000 + i) for i in range(23)])
    return {"rep": rep, "pipeline": pipeline, "customer": customer, "pooled": pooled, "buyer": buyer,
            "retail": retail, "stages": {s.name: s for s in pipeline.stages.all()}}


def test_deal_journey_and_pages(new_page, live_server, login, shoot, sales):
    from valuecrm.customers.models import Customer
    from valuecrm.deals.models import Deal

    base, rep, stages = live_server.url, sales["rep"], sales["stages"]
    page = new_page()
    login(page, "liuyang")

    # Create a deal through the form.
    open_page(page, f"{base}/deals/new/?customer={sales['customer'].pk}")
    page.fill("#d-name", "年度采购项目")
    page.fill("#d-amount", "120000")
    page.fill("#d-close", "2027-02-15")
    page.get_by_role("button", name="Create deal").click()
    page.wait_for_load_state("networkidle")
    deal = Deal.objects.get(name="年度采购项目")
    expect(page.locator(".vc-page-title")).to_have_text("年度采购项目")

    # The board: the card sits in Qualified; move it right with the keyboard.
    open_page(page, f"{base}/deals/")
    proposal = page.locator(f".vc-board-col[data-stage-id='{stages['Proposal'].pk}']")
    qualified = page.locator(f".vc-board-col[data-stage-id='{stages['Qualified'].pk}']")
    expect(qualified.locator("[data-col-count]")).to_have_text("1")
    expect(proposal.locator("[data-col-sum]")).to_have_text("¥0")
    page.locator(f"[data-deal-id='{deal.pk}']").focus()
    with page.expect_response(lambda r: "/move/" in r.url):
        page.keyboard.press("ArrowRight")
    expect(proposal.locator("[data-col-count]")).to_have_text("1")
    expect(proposal.locator("[data-col-sum]")).to_have_text("¥120,000")
    expect(proposal.locator("[data-col-weighted]")).to_have_text("¥54,000")
    expect(qualified.locator("[data-col-count]")).to_have_text("0")
    assert Deal.objects.get(pk=deal.pk).stage_id == stages["Proposal"].pk

    # Drag it on to Negotiation.
    negotiation = page.locator(f".vc-board-col[data-stage-id='{stages['Negotiation'].pk}']")
    with page.expect_response(lambda r: "/move/" in r.url):
        page.locator(f"[data-deal-id='{deal.pk}']").drag_to(negotiation.locator(".vc-board-cards"))
    expect(negotiation.locator("[data-col-count]")).to_have_text("1")
    expect(negotiation.locator("[data-col-weighted]")).to_have_text("¥84,000")
    assert Deal.objects.get(pk=deal.pk).stage_id == stages["Negotiation"].pk
    shoot(page, "deals-board-after-drag-1440-en-light")

    # A long column pages in with "load more".
    open_page(page, f"{base}/deals/?pipeline={sales['retail'].pk}")
    inquiry = page.locator(".vc-board-col").first
    expect(inquiry.locator(".vc-deal-card")).to_have_count(20)
    inquiry.locator("[data-load-more]").click()
    expect(inquiry.locator(".vc-deal-card")).to_have_count(23)
    expect(inquiry.locator("[data-load-more]")).to_have_count(0)
    expect(inquiry.locator(".vc-deal-card").last).to_contain_text("门店补货 0")

    # A contact person of the customer joins the deal as its decision maker.
    open_page(page, f"{base}/deals/{deal.pk}/")
    page.select_option("#c-person", str(sales["buyer"].pk))
    page.select_option("#c-role", "decision_maker")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(f"[data-contact='{sales['buyer'].pk}'] select")).to_have_value("decision_maker")
    assert Deal.objects.get(pk=deal.pk).contact_roles.get().role == "decision_maker"

    # Save the filtered board as the default view; the bare board then opens with it.
    open_page(page, f"{base}/deals/?pipeline={sales['pipeline'].pk}&amount_min=100000")
    page.locator("[data-action=views]").click()
    page.fill("#v-name", "大单")
    page.check("#v-def")
    page.locator("[data-action=save-view]").click()
    page.wait_for_load_state("networkidle")
    open_page(page, f"{base}/deals/")
    expect(page.locator("[data-action=views]")).to_contain_text("大单")
    expect(page.locator("[data-deals-chips]")).to_contain_text("100000")
    assert "amount_min=100000" in page.url

    # The forecast shows the deal's weighted amount in Q1 2027.
    open_page(page, f"{base}/deals/forecast/?period=2027-Q1")
    expect(page.locator("[data-total=weighted]")).to_have_text("¥84,000")

    # Claim a customer from the pool.
    open_page(page, f"{base}/pool/")
    row = page.locator(f"tr[data-customer-id='{sales['pooled'].pk}']")
    row.get_by_role("button", name="Claim").click()
    page.wait_for_load_state("networkidle")
    assert Customer.objects.get(pk=sales["pooled"].pk).owner_id == rep.pk

    # The pages in every look and size.
    for language, theme in LOOKS:
        set_look(rep, language, theme)
        zh = language.startswith("zh")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{'zh' if zh else 'en'}-{theme}"
            for name, url, title in (
                ("board", "/deals/", "商机" if zh else "Deals"),
                ("deal", f"/deals/{deal.pk}/", "年度采购项目"),
                ("forecast", "/deals/forecast/?period=2027-Q1", "销售预测" if zh else "Sales forecast"),
                ("dashboard", "/deals/dashboard/", "销售仪表盘" if zh else "Sales dashboard"),
                ("pool", "/pool/", "公海" if zh else "Shared pool (公海)"),
            ):
                open_page(page, base + url)
                expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
                expect(page.locator(".vc-page-title")).to_have_text(title)
                if name != "board":  # the board scrolls sideways inside its own box, never the page
                    no_sideways_scroll(page, width)
                shoot(page, f"deals-{name}-{suffix}")
                if name == "board":  # the saved-views menu, opened
                    page.locator("[data-action=views]").click()
                    expect(page.locator(".vc-views-menu")).to_be_visible()
                    shoot(page, f"deals-views-{suffix}")
