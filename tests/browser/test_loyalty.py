"""The loyalty journey in a real browser: configure the programme, see points and the tier
after an order, redeem on the ledger page, read the dashboard — then every page in
English and 中文, light and dark, at 1440×900 and 390×844.
Screenshots: loyalty-<page>-<width>-<en|zh>-<light|dark>.png."""

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import open_page

LOOKS = [("en", "light"), ("zh-hans", "light"), ("zh-hans", "dark"), ("en", "dark")]
SIZES = [(1440, 900), (390, 844)]


@pytest.fixture
def shop(transactional_db, admin_user):
    from valuecrm.customers.models import Customer

    wang = Customer.objects.create(name="王芳", owner=admin_user, city="杭州", phone="+8613800138000")
    return {"wang": wang}


def _set_look(user, language, theme):
    from valuecrm.accounts.services import user_preferences_update

    user_preferences_update(user=user, language=language, theme=theme)


def test_loyalty_journey_and_looks(page, login, live_server, shoot, shop, admin_user):
    from valuecrm.orders.services import order_create

    wang = shop["wang"]
    _set_look(admin_user, "en", "light")
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, admin_user.username)

    # 1. configure: no escrow, so the order's points are available at once
    open_page(page, f"{live_server.url}/loyalty/program/")
    page.fill("input[name=escrow_days]", "0")
    page.fill("input[name=first_order_bonus]", "0")
    page.fill("input[name=points_per_cny]", "1")
    page.fill("input[name=redeem_min_points]", "100")
    page.click("form[data-loyalty-form=program] button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".alert-success, .toast, [role=status]").first).to_contain_text("Loyalty programme saved")

    open_page(page, f"{live_server.url}/customers/{wang.pk}/")
    expect(page.locator("[data-loyalty=not-member]")).to_be_visible()

    # 2. an order arrives (as from a shop): the earn subscriber credits it after commit
    order_create(actor=admin_user, data={"customer_id": wang.pk, "external_id": "TM-1", "status": "paid",
                                         # now, not an hour ago: the rules just saved apply from
                                         # today (site time), and between 00:00 and 01:00 an hour
                                         # ago is yesterday, under the default rules' escrow.
                                         "placed_at": timezone.now().isoformat(),
                                         "total_amount": str(Decimal("1288.00"))})
    open_page(page, f"{live_server.url}/customers/{wang.pk}/")
    panel = page.locator("[data-panel=loyalty]")
    expect(panel.locator("[data-loyalty=balance]")).to_have_text("1,288")
    expect(panel.locator("[data-loyalty=tier]")).to_have_text("Silver")  # 1,288 ≥ 1,000: the tier changed
    shoot(page, "loyalty-360-1440-en-light")

    # 3. redeem on the ledger page
    panel.locator("[data-loyalty-link=ledger]").click()
    page.wait_for_load_state("networkidle")
    page.fill("form[data-loyalty-form=redeem] input[name=points]", "288")
    page.fill("form[data-loyalty-form=redeem] input[name=reference]", "POS-0001")
    page.click("form[data-loyalty-form=redeem] button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-loyalty=balance]")).to_have_text("1,000")
    expect(page.locator("[data-loyalty=ledger] tbody tr").first).to_have_attribute("data-kind", "redeem")
    # a second redemption beyond the balance is refused with the reason
    page.fill("form[data-loyalty-form=redeem] input[name=points]", "5000")
    page.fill("form[data-loyalty-form=redeem] input[name=reference]", "POS-0002")
    page.click("form[data-loyalty-form=redeem] button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Not enough points: 1000 available.")).to_be_visible()

    # 4. the dashboard
    open_page(page, f"{live_server.url}/loyalty/")
    expect(page.locator("[data-kpi=members] .vc-kpi-value")).to_have_text("1")
    expect(page.locator("[data-tier=silver]")).to_contain_text("1")

    # 5. points and tier on the customer list (columns), and "refers others" on the value card
    from valuecrm.customers.models import Customer
    from valuecrm.insights.models import CustomerValue
    from valuecrm.loyalty.models import Account, Referral, ReferralStatus

    li = Customer.objects.create(name="李雷", owner=admin_user)
    Referral.objects.create(referrer=Account.objects.get(customer=wang), status=ReferralStatus.REWARDED,
                            referee=Account.objects.create(customer=li, referral_code="LILEI001"),
                            order_total=Decimal("688.00"))
    CustomerValue.objects.create(customer=wang, as_of=timezone.localdate(), tier="A", value_reasons=["spend"])
    open_page(page, f"{live_server.url}/customers/")
    page.get_by_role("button", name="Columns").click()
    page.check("#col-loyalty_points")
    page.check("#col-membership_tier")
    page.click("form.vc-columns-menu button[type=submit]")
    page.wait_for_load_state("networkidle")
    row = page.locator("tr", has=page.get_by_role("link", name="王芳"))
    expect(row.locator("td.text-end")).to_contain_text(["1,000"])
    expect(row.locator("a[href='?membership_tier=silver']")).to_have_text("Silver")
    open_page(page, f"{live_server.url}/customers/{wang.pk}/")
    expect(page.locator("[data-value=reason-detail]")).to_have_text("(1 referral, ¥688.00 first-order revenue)")

    pages = {"dashboard": "/loyalty/", "list": "/customers/?membership_tier=silver", "ledger": f"/loyalty/customers/{wang.pk}/", "program": "/loyalty/program/",
             "360": f"/customers/{wang.pk}/", "vip": "/loyalty/vip/"}
    for language, theme in LOOKS:
        _set_look(admin_user, language, theme)
        short = "zh" if language.startswith("zh") else "en"
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, path in pages.items():
                open_page(page, f"{live_server.url}{path}")
                expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
                if short == "zh" and name == "dashboard":
                    expect(page.locator("h1, .vc-page-title").first).to_contain_text("会员积分")
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
                shoot(page, f"loyalty-{name}-{width}-{short}-{theme}")
