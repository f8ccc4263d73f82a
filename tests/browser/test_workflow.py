"""A first hour without dead ends, in a real browser: the customer list as cards on a
phone (and the 360 page with its value card first), a failed import turned into "import
the valid rows" in one click, and a bulk tag on every customer matching a filter.

Screenshots at 1440×900 and 390×844, in English and 中文, light and dark:
workflow-<page>-<width>-<en|zh>-<light|dark>.png.
"""

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


@pytest.fixture
def scored_shop(transactional_db):
    from valuecrm.demo.generate import demo_generate
    from valuecrm.insights.models import RunStatus
    from valuecrm.insights.services import score_now

    demo_generate(customers=300, seed=42)
    run = score_now(as_of=timezone.localdate())
    assert run.status == RunStatus.SUCCEEDED, run.error


@pytest.fixture
def failed_import(admin_user, tmp_path, settings, django_capture_on_commit_callbacks):
    """An all-or-nothing customer import that failed on one bad phone number."""
    from valuecrm.imports import services
    from valuecrm.imports.models import ImportStatus

    settings.DATA_DIR = tmp_path / "data"
    text = ("姓名,手机号,城市,备注\n张小明,13800138000,上海,老客户\n李小红,12345,北京,\n"
            "王小刚,13900139000,苏州,喜欢红茶\n")
    run = services.import_upload(actor=admin_user, kind="customers", name="会员.csv",
                                 chunks=[text.encode()])
    run = services.import_configure(actor=admin_user, run=run, options={"mode": "all"})
    run = services.import_run_now(actor=admin_user, run=run)
    assert (run.status, run.failed_count) == (ImportStatus.FAILED, 1)
    return run


def test_phone_cards_and_the_value_card_first(new_page, live_server, login, shoot, admin_user,
                                              scored_shop):
    from valuecrm.customers.models import Customer

    base = live_server.url
    star = Customer.objects.filter(kind="person", value__isnull=False).order_by("-value__clv").first()
    page = new_page()
    login(page, "root")
    for language, theme in LOOKS:
        set_look(admin_user, language, theme)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{short(language)}-{theme}"
            open_page(page, f"{base}/customers/")
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            cards = page.locator("#vc-results [data-vc-card]")
            table = page.locator("#vc-results table.vc-table")
            if width < 768:
                expect(cards.first).to_be_visible()
                expect(table).to_be_hidden()
                box = cards.first.bounding_box()
                # The first card is on the first screen, and nothing scrolls sideways.
                assert box["y"] + 40 < height, box
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                first = cards.first
                expect(first.locator(".vc-mchip")).to_have_count(4)
                chips = first.locator(".vc-mchip-label").all_inner_texts()
                assert chips == (["Value tier", "Lifecycle stage", "CLV", "Churn risk"]
                                 if language == "en" else ["价值分层", "生命周期阶段", "CLV", "流失风险"]), chips
            else:
                expect(table).to_be_visible()
                expect(cards.first).to_be_hidden()
            shoot(page, f"workflow-list-{suffix}")
            shoot(page, f"workflow-list-{suffix}-first-screen", full_page=False)

            open_page(page, f"{base}/customers/{star.pk}/")
            value = page.locator("[data-value=next-best-action]").first
            expect(value).to_be_visible()
            timeline = page.locator("#pane-timeline")
            if width < 768:
                # One column on a phone: the value card comes before the activity.
                card_y = page.locator(".vc-value-card, [data-value]").first.bounding_box()["y"]
                assert card_y < timeline.bounding_box()["y"]
                assert page.evaluate("document.documentElement.scrollWidth") <= width
            expect(page.locator("[data-nba=task]")).to_be_visible()
            shoot(page, f"workflow-detail-{suffix}")
            shoot(page, f"workflow-detail-{suffix}-first-screen", full_page=False)


def test_failed_import_to_valid_rows_in_one_click(new_page, live_server, login, shoot, admin_user,
                                                  failed_import):
    from valuecrm.customers.models import Customer
    from valuecrm.imports.models import ImportRun

    base = live_server.url
    page = new_page()
    login(page, "root")
    retry = None
    for language, theme in LOOKS:
        set_look(admin_user, language, theme)
        zh = language.startswith("zh")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            suffix = f"{width}-{short(language)}-{theme}"
            open_page(page, f"{base}/imports/{failed_import.pk}/")
            # The stored reason is shown in the viewer's language.
            expect(page.locator("td.text-danger").first).to_have_text(
                "“12345”不是有效的电话号码。" if zh else "“12345” is not a valid phone number.")
            if retry is None:
                button = page.locator("[data-import=retry]")
                expect(button).to_have_text("导入 2 条有效行" if zh else "Import the 2 valid rows")
                shoot(page, f"workflow-import-failed-{suffix}")
                button.click()
                page.wait_for_load_state("networkidle")
                retry = ImportRun.objects.get(retry_of=failed_import)
                page.wait_for_url(f"{base}/imports/{retry.pk}/")
                expect(page.locator("#import-progress .badge").first).to_have_text(
                    "成功" if zh else "Succeeded", timeout=20_000)
                assert sorted(Customer.objects.values_list("name", flat=True)) == ["张小明", "王小刚"]
            else:
                expect(page.locator("[data-import=retried-as] a")).to_have_text(
                    f"导入 #{retry.pk}" if zh else f"import #{retry.pk}")
                shoot(page, f"workflow-import-failed-{suffix}")
                open_page(page, f"{base}/imports/{retry.pk}/")
            expect(page.locator("[data-import=retry-of]")).to_be_visible()
            shoot(page, f"workflow-import-valid-rows-{suffix}")
            # "See the customers": exactly the two this import created.
            page.locator("[data-import=customers]").click()
            page.wait_for_load_state("networkidle")
            names = page.locator("#vc-results [data-vc-card] .vc-mcard-name" if width < 768
                                 else "#vc-results tbody .vc-customer-cell a")
            assert sorted(names.all_inner_texts()) == ["张小明", "王小刚"]


def test_tag_every_customer_matching_a_filter(new_page, live_server, login, shoot, admin_user):
    from valuecrm.customers.models import Customer

    Customer.objects.bulk_create([Customer(name=f"上海客户{i:03d}", city="上海", owner=admin_user)
                                  for i in range(130)]
                                 + [Customer(name=f"北京客户{i}", city="北京", owner=admin_user)
                                    for i in range(7)])
    base = live_server.url
    page = new_page()
    login(page, "root")
    for language, width in (("en", 1440), ("zh-hans", 390)):
        set_look(admin_user, language, "light")
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        zh = language.startswith("zh")
        tag = "华东" if zh else "east"
        open_page(page, f"{base}/customers/?city=上海")
        select_all = page.locator("#vc-results [data-vc-select-all]:visible")
        select_all.check()
        bar = page.locator("#vc-bulkbar")
        expect(bar.locator("[data-vc-selected-count]")).to_have_text("50")
        bar.locator("[data-vc-select-matching]").click()
        expect(bar.locator("[data-vc-selected-matching]")).to_be_visible()
        shoot(page, f"workflow-bulk-matching-{width}-{short(language)}-light", full_page=False)
        bar.locator("#vc-bulk-tags").fill(tag)
        bar.locator("button[value=tag]").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator("[data-bulk=summary]")).to_contain_text(
            f"为 130 位客户添加标签“{tag}”" if zh else f"Add the tags “{tag}” to 130 customers?")
        shoot(page, f"workflow-bulk-confirm-{width}-{short(language)}-light")
        page.locator("[data-bulk=confirm]").click()
        page.wait_for_load_state("networkidle")
        assert Customer.objects.filter(tags__name=tag).count() == 130
        assert not Customer.objects.filter(tags__name=tag, city="北京").exists()


def test_assign_a_follow_up_and_the_assignee_sees_it(new_page, live_server, login, shoot,
                                                     make_user, team_north):
    from valuecrm.customers.models import Customer, Task

    boss = make_user("boss", role="sales_manager", team=team_north, first_name="Wei", last_name="Zhang")
    mate = make_user("mate", role="sales_rep", team=team_north, first_name="Na", last_name="Li")
    customer = Customer.objects.create(name="陈先生", owner=mate, team=team_north)
    base = live_server.url
    page = new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, "boss")
    open_page(page, f"{base}/customers/{customer.pk}/")
    page.get_by_role("button", name="Create a follow-up").click()
    form = page.locator("#quick-task")
    form.locator("input[name=title]").fill("送新品样品")
    form.locator("select[name=assignee]").select_option(label="Na Li")
    shoot(page, "workflow-followup-assign-1440-en-light", full_page=False)
    form.locator("button[type=submit]").click()
    expect(page.locator("#timeline")).to_contain_text("送新品样品")
    task = Task.objects.get(title="送新品样品")
    assert (task.assignee, task.assigned_by) == (mate, boss)

    for language, theme, (width, height) in (("en", "light", (1440, 900)),
                                             ("zh-hans", "dark", (390, 844))):
        set_look(mate, language, theme)
        other = new_page()
        other.set_viewport_size({"width": width, "height": height})
        login(other, "mate")
        open_page(other, f"{base}/inbox/")
        new = other.locator("[data-group=new]")
        expect(new).to_contain_text("送新品样品")
        expect(new).to_contain_text("由 Wei Zhang 分配给您" if language != "en"
                                    else "Assigned to you by Wei Zhang")
        shoot(other, f"workflow-inbox-new-{width}-{short(language)}-{theme}")
        if language == "en":
            continue
        new.get_by_role("button", name="知道了").click()
        expect(other.locator("[data-group=new]")).to_have_count(0)
        task.refresh_from_db()
        assert task.assignment_seen_at is not None
