"""Daily work without Django admin, in a real browser: orders (list, record, create
with lines, refund), products, users & teams & roles, customer archive/delete — and the
dashboard, duplicates and integrations pages — at 1440×900 and 390×844, in English and 中文, light
and dark. Screenshots: ops-<page>-<width>-<en|zh>-<light|dark>.png.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import open_page

LOOKS = [("en", "light"), ("zh-hans", "light"), ("zh-hans", "dark"), ("en", "dark")]
SIZES = [(1440, 900), (390, 844)]


def short(language):
    return "zh" if language.startswith("zh") else "en"


def set_look(user, language, theme):
    from valuecrm.accounts.services import user_preferences_update

    user_preferences_update(user=user, language=language, theme=theme)


def no_sideways_scroll(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


@pytest.fixture
def shop(transactional_db, admin_user, team_north, make_user):
    from valuecrm.customers.models import Customer
    from valuecrm.orders.models import Order, OrderLine, Product

    tea = Product.objects.create(sku="TEA-LJ-250", name="西湖龙井 250g", category="绿茶",
                                 price=Decimal("168.00"), unit_cost=Decimal("60.00"))
    Product.objects.create(sku="TEA-DHP-100", name="大红袍 100g", category="乌龙茶",
                           price=Decimal("238.00"), unit_cost=Decimal("90.00"))
    Product.objects.create(sku="CUP-GLASS", name="Double-wall glass cup", category="茶具",
                           price=Decimal("45.00"), unit_cost=Decimal("12.00"), active=False)
    rep = make_user("liuyang", role="sales_rep", team=team_north, first_name="洋", last_name="刘",
                    email="liuyang@example.cn")
    make_user("chenjing", role="sales_manager", team=team_north, first_name="静", last_name="陈")
    wang = Customer.objects.create(name="王芳", owner=rep, team=team_north, city="杭州", phone="+8613800138000")
    li = Customer.objects.create(name="李雷 Trading Co.", kind="organization", city="上海")
    base = timezone.now() - dt.timedelta(days=40)
    for i, (customer, status) in enumerate([(wang, "paid"), (wang, "fulfilled"), (li, "pending"),
                                            (li, "refunded"), (wang, "cancelled")]):
        order = Order.objects.create(customer=customer, source="shop", external_id=f"TM-2026{i:04d}",
                                     status=status, channel="online", placed_at=base + dt.timedelta(days=7 * i),
                                     total_amount=Decimal("336.00"), total_cost=Decimal("120.00"))
        OrderLine.objects.create(order=order, product=tea, sku=tea.sku, name=tea.name, quantity=2,
                                 unit_price=tea.price, unit_cost=tea.unit_cost)
    return {"wang": wang, "li": li, "rep": rep}


def test_order_and_product_pages_and_an_order_with_lines_through_the_form(
        new_page, live_server, login, shoot, admin_user, shop):
    from valuecrm.orders.models import Order

    base = live_server.url
    page = new_page()
    login(page, "root")

    # Record an order through the form, with the keyboard, then refund it.
    open_page(page, f"{base}/orders/new/")
    page.fill("#pick-find", "王")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="王芳").click()
    page.wait_for_load_state("networkidle")
    page.fill("#id_lines-0-sku", "TEA-LJ-250")
    page.fill("#id_lines-0-quantity", "3")
    page.fill("#id_lines-1-name", "Gift box")
    page.fill("#id_lines-1-unit_price", "12.50")
    page.click("button[name=add_line]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#id_lines-1-name")).to_have_value("Gift box")
    expect(page.locator("#id_lines-3-sku")).to_be_visible()
    shoot(page, "ops-order-create-filled-1440-en-light")
    page.get_by_role("button", name="Record order").click()
    page.wait_for_load_state("networkidle")
    order = Order.objects.get(source="manual")
    assert order.total_amount == Decimal("516.50") and order.lines.count() == 2
    expect(page.locator(".vc-page-title")).to_contain_text(order.external_id)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Refund order").click()
    page.wait_for_load_state("networkidle")
    order.refresh_from_db()
    assert order.status == "refunded"
    expect(page.locator(".alert-success")).to_contain_text("Refunded")

    paid = Order.objects.get(external_id="TM-20260000")
    for language, theme in LOOKS:
        set_look(admin_user, language, theme)
        zh = language.startswith("zh")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{short(language)}-{theme}"

            open_page(page, f"{base}/orders/")
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            expect(page.locator(".vc-page-title")).to_have_text("订单" if zh else "Orders")
            expect(page.locator(".vc-orders-table tbody tr")).to_have_count(6)
            no_sideways_scroll(page, width)
            shoot(page, f"ops-orders-{suffix}")

            open_page(page, f"{base}/orders/{paid.pk}/")
            expect(page.get_by_role("button", name="退款" if zh else "Refund order")).to_be_visible()
            no_sideways_scroll(page, width)
            shoot(page, f"ops-order-{suffix}")

            open_page(page, f"{base}/orders/new/?customer={shop['wang'].pk}")
            expect(page.get_by_role("button", name="保存订单" if zh else "Record order")).to_be_visible()
            no_sideways_scroll(page, width)
            shoot(page, f"ops-order-create-{suffix}")

            open_page(page, f"{base}/products/")
            expect(page.locator("table.vc-table tbody tr")).to_have_count(3)
            no_sideways_scroll(page, width)
            shoot(page, f"ops-products-{suffix}")


def test_users_teams_and_roles_pages(new_page, live_server, login, shoot, admin_user, shop):
    from valuecrm.accounts.models import User

    base = live_server.url
    page = new_page()
    login(page, "root")
    open_page(page, f"{base}/settings/users/new/")
    page.fill("#id_username", "zhaomin")
    page.fill("#id_last_name", "赵")
    page.fill("#id_first_name", "敏")
    page.select_option("#id_role", "marketer")
    page.fill("#id_password", "Jasmine-Tea-2026!")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_load_state("networkidle")
    created = User.objects.get(username="zhaomin")
    assert created.role == "marketer" and created.check_password("Jasmine-Tea-2026!")
    expect(page.locator(".vc-page-title")).to_have_text("赵敏")

    team = shop["rep"].team
    for language, theme in LOOKS:
        set_look(admin_user, language, theme)
        zh = language.startswith("zh")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{short(language)}-{theme}"
            for name, url in (("users", "/settings/users/"), ("user", f"/settings/users/{shop['rep'].pk}/"),
                              ("teams", "/settings/teams/"), ("team", f"/settings/teams/{team.pk}/"),
                              ("roles", "/settings/roles/")):
                open_page(page, base + url)
                expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
                if name in ("users", "teams", "roles"):
                    expect(page.locator(".vc-page-title")).to_have_text("用户与团队" if zh else "Users and teams")
                no_sideways_scroll(page, width)
                shoot(page, f"ops-{name}-{suffix}")


def test_customer_delete_confirmation_and_archive(new_page, live_server, login, shoot, admin_user, shop):
    base = live_server.url
    page = new_page()
    login(page, "root")
    wang = shop["wang"]
    for language, theme in LOOKS[:3]:
        set_look(admin_user, language, theme)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{short(language)}-{theme}"
            open_page(page, f"{base}/customers/{wang.pk}/delete/")
            expect(page.locator("[data-testid=orders-block]")).to_be_visible()
            no_sideways_scroll(page, width)
            shoot(page, f"ops-customer-delete-{suffix}")
    set_look(admin_user, "en", "light")
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, f"{base}/customers/{wang.pk}/delete/")
    page.get_by_role("button", name="Archive instead").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-testid=archived-banner]")).to_be_visible()
    shoot(page, "ops-customer-archived-1440-en-light", full_page=False)
    open_page(page, f"{base}/customers/")
    expect(page.locator("#vc-results")).not_to_contain_text("王芳")
    open_page(page, f"{base}/customers/?archived=yes")
    expect(page.locator("#vc-results")).to_contain_text("王芳")


@pytest.fixture
def scored_shop(transactional_db):
    from valuecrm.demo.generate import demo_generate
    from valuecrm.insights.models import RunStatus
    from valuecrm.insights.services import score_now

    demo_generate(customers=300, seed=42)
    run = score_now(as_of=timezone.localdate())
    assert run.status == RunStatus.SUCCEEDED, run.error


def test_dashboard_and_duplicates_at_both_sizes(new_page, live_server, login, shoot, admin_user, scored_shop):
    from valuecrm.duplicates.duplicates import duplicate_scan
    from valuecrm.webhooks.webhooks import endpoint_create

    duplicate_scan()
    endpoint_create(actor=admin_user, data={"name": "ERP 订单同步", "url": "https://erp.example.com/hooks/valuecrm",
                                            "event_types": ["order.created", "customer.merged"]})
    base = live_server.url
    page = new_page()
    login(page, "root")
    for language, theme in LOOKS:
        set_look(admin_user, language, theme)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{short(language)}-{theme}"
            open_page(page, f"{base}/value/")
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            shoot(page, f"ops-dashboard-{suffix}")
            open_page(page, f"{base}/duplicates/")
            shoot(page, f"ops-duplicates-{suffix}")
            # The hub (webhooks app since the split) keeps its monospace secrets.
            open_page(page, f"{base}/integrations/")
            expect(page.get_by_text("https://erp.example.com/hooks/valuecrm")).to_be_visible()
            assert "monospace" in page.locator(".vc-secret").first.evaluate("e => getComputedStyle(e).fontFamily")
            no_sideways_scroll(page, width)
            shoot(page, f"ops-integrations-{suffix}")
