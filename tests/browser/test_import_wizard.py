"""The import wizard in a real browser, in English and in 中文: upload a messy GBK file with
Chinese headers, check the suggested mapping, see the bad row flagged, watch the whole-file
check run in the worker, upload a corrected file, decide on a duplicate, import, and find
the new customers in the list.

Every step is saved as import-wizard-<step>-<en|zh>.png.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.ui import open_page

HEADER = "姓名,手机,邮箱,城市\n"
# Row numbers are the file's line numbers (the header is row 1).
MESSY = HEADER + (
    "张伟,13800138000,zhang.wei@example.com,上海\n"
    "李娜,12345,li.na@example.com,北京\n"              # row 3: not a phone number
    "王芳,139 1234 5678,WANG.FANG@example.com,杭州\n"  # row 4: e-mail of an existing customer → update
    "刘洋,136-0013-6000,liu.yang@example.com,深圳\n"
    "陈静,135 0013 5000,chen.jing@example.com,广州\n"  # row 6: phone of an existing customer → ask
)
FIXED = MESSY.replace("李娜,12345,", "李娜,13700137000,")

TEXT = {
    "en": {
        "suffix": "en", "cookie": "en", "imports": "Imports", "new": "New import",
        "checking": "Checking the whole file…", "continue": "Continue",
        "bad_phone": "“12345” is not a valid phone number.",
        "same_phone": "same phone", "action": "create", "action_label": "Create anyway",
        "see": "See the customers", "succeeded": "Succeeded", "upload_again": "upload it again",
        "back": "Back",
        "review": {"Rows": "5", "New": "3", "Updates": "2", "Unchanged": "0", "Skipped": "0",
                   "Rows with errors": "0"},
        "counts": {"Created": "4", "Updated": "1", "Unchanged": "0", "Skipped": "0", "Rows with errors": "0"},
        "names": ["刘洋", "张伟", "李娜", "王芳", "陈静", "陈静"],
        # "See the customers" lists this import's: not the 陈静 who was there before.
        "listed": ["刘洋", "张伟", "李娜", "王芳", "陈静"],
    },
    "zh": {
        "suffix": "zh", "cookie": "zh-hans", "imports": "导入", "new": "新建导入",
        "checking": "正在检查整个文件…", "continue": "继续",
        "bad_phone": "“12345”不是有效的电话号码。",
        "same_phone": "电话相同", "action": "skip", "action_label": "跳过",
        "see": "查看客户", "succeeded": "成功", "upload_again": "重新上传", "back": "返回",
        "review": {"行数": "5", "新建": "3", "更新": "2", "未变": "0", "跳过": "0", "错误行": "0"},
        "counts": {"新建": "3", "更新": "1", "未变": "0", "跳过": "1", "错误行": "0"},
        "names": ["刘洋", "张伟", "李娜", "王芳", "陈静"],
        "listed": ["刘洋", "张伟", "李娜", "王芳"],  # 陈静's row was skipped
    },
}


@pytest.fixture
def uploads_dir(tmp_path, settings):
    """Uploaded files go to a temporary data directory, not the developer's."""
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def existing(admin_user):
    """王芳 is known by e-mail (the file updates her); 陈静 by phone (the file may be her)."""
    from valuecrm.customers.services import customer_create

    return {
        "王芳": customer_create(actor=admin_user, data={"name": "王芳", "email": "wang.fang@example.com",
                                                      "city": "杭州"}),
        "陈静": customer_create(actor=admin_user, data={"name": "陈静", "phone": "+8613500135000",
                                                      "email": "chen.jing@old.example.com"}),
    }


ANALYSIS_POLL = re.compile(r"/imports/\d+/analysis/$")


@pytest.fixture
def held_checks(monkeypatch):
    """The whole-file check is queued for the worker but waits, so the page shows its
    progress; release() runs it. (Tests run Huey jobs at once, which would skip the step.)"""
    from valuecrm.imports import services, tasks

    class Held(list):
        def release(self):
            while self:
                services.import_analyse_execute(*self.pop(0))

    held = Held()
    monkeypatch.setattr(tasks, "import_analyse_task", lambda *args: held.append(args))
    return held


def check_whole_file(pg, held, t, shot=None):
    """From the preview: queue the check, see its progress, let the worker run it and
    land on the review step."""
    with pg.expect_navigation():
        pg.click("form[method=post] button.btn-primary")
    assert pg.url.endswith("/review/")
    progress = pg.locator("#import-analysis")
    expect(progress).to_contain_text(t["checking"])
    expect(progress.locator(".spinner-border")).to_be_visible()
    expect(progress.locator(".fs-4")).to_have_text(["0", "0"])  # rows checked, with errors
    expect(pg.locator("[aria-current=step]")).to_contain_text("4 · ")
    assert len(held) == 1
    if shot:
        shot()

    # The worker runs the check while the page's next poll is held back, so the check and
    # the live server never use the shared test database at the same time.
    def worker_runs_it(route):
        held.release()
        route.continue_()

    pg.route(ANALYSIS_POLL, worker_runs_it, times=1)
    expect(progress).to_have_count(0, timeout=10_000)  # the poll sent the browser on
    pg.wait_for_load_state("networkidle")
    assert pg.url.endswith("/review/") and held == []


def upload(pg, name: str, text: str):
    pg.set_input_files("#file", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode("gbk")}])
    with pg.expect_navigation():
        pg.click("form[enctype='multipart/form-data'] button[type=submit]")
    pg.wait_for_load_state("networkidle")
    assert "/map/" in pg.url, pg.url


def assert_suggested_mapping(pg):
    expected = {"姓名": "name", "手机": "phone", "邮箱": "email", "城市": "city"}
    for index, (header, target) in enumerate(expected.items()):
        expect(pg.locator(f"label[for=col-{index}]")).to_have_text(header)
        expect(pg.locator(f"#col-{index}")).to_have_value(target)


def counts_on(pg, scope: str) -> dict[str, str]:
    cards = pg.locator(f"{scope} .card-body")
    return {cards.nth(i).locator(".small").inner_text(): cards.nth(i).locator(".fs-4").inner_text()
            for i in range(cards.count())}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_import_wizard_end_to_end(lang, new_page, live_server, login, shoot, admin_user, existing, uploads_dir,
                                  held_checks):
    from valuecrm.customers.models import Customer
    from valuecrm.imports.models import ImportRun, ImportStatus

    t = TEXT[lang]
    base = live_server.url
    pg = new_page(cookies={"django_language": t["cookie"]}, base_url=base)
    login(pg, admin_user.username)
    expect(pg.locator("html")).to_have_attribute("lang", t["cookie"])

    def step(name):
        shoot(pg, f"import-wizard-{name}-{t['suffix']}")

    # -- 1. from the sidebar: the import history, then a new import
    pg.locator(".vc-sidebar .vc-nav-link", has_text=t["imports"]).click()
    pg.wait_for_url(f"{base}/imports/")
    step("history-empty")
    pg.get_by_role("link", name=t["new"]).click()
    pg.wait_for_url(f"{base}/imports/new/")
    expect(pg.locator("#kind-customers")).to_be_checked()
    step("upload")

    # -- 2. the messy file (GBK, Chinese headers)
    upload(pg, "客户-messy.csv", MESSY)
    expect(pg.locator("main")).to_contain_text("gb18030")  # the superset of GBK

    # -- 3. mapping: the suggestions are pre-selected
    assert_suggested_mapping(pg)
    step("map")
    with pg.expect_navigation():
        pg.click("form:not([action]) button[type=submit]")
    assert pg.url.endswith("/preview/")

    # -- 4. preview: row 3 is flagged in the phone column with the reason
    bad_row = pg.locator("tbody tr", has=pg.locator("th[scope=row]", has_text="3"))
    expect(bad_row).to_have_count(1)
    bad_cell = bad_row.locator("td.table-danger")
    expect(bad_cell).to_have_count(1)
    expect(bad_cell).to_contain_text(t["bad_phone"])
    column_of_bad_cell = bad_row.locator("td").evaluate_all(
        "tds => tds.findIndex(td => td.classList.contains('table-danger'))")
    expect(pg.locator("thead th").nth(column_of_bad_cell + 1)).to_contain_text("手机")
    expect(pg.locator("tbody td.table-danger")).to_have_count(1)  # and nothing else
    # the other rows show the stored (normalised) values
    expect(pg.locator("tbody")).to_contain_text("+8613912345678")
    expect(pg.locator(".alert-warning")).to_be_visible()  # and what to do about it
    step("preview-error")

    # The whole-file check runs in the worker, with its progress on the page; then it
    # lists the same error with row, column and reason.
    check_whole_file(pg, held_checks, t, shot=lambda: step("check-progress"))
    error_rows = pg.locator(".card.border-danger tbody tr")
    expect(error_rows).to_have_count(1)
    expect(error_rows.locator("td")).to_have_text(["3", "手机", t["bad_phone"]])
    step("check-error")

    # -- 5. fix it the way the preview suggests: back, correct the file, upload it again
    with pg.expect_navigation():
        pg.get_by_role("link", name=t["back"], exact=True).click()
    assert pg.url.endswith("/preview/")
    with pg.expect_navigation():
        pg.locator(".alert-warning").get_by_role("link", name=t["upload_again"]).click()
    assert pg.url == f"{base}/imports/new/?kind=customers"
    upload(pg, "客户-fixed.csv", FIXED)
    assert_suggested_mapping(pg)
    with pg.expect_navigation():
        pg.click("form:not([action]) button[type=submit]")
    assert pg.url.endswith("/preview/")
    expect(pg.locator("tbody tr")).to_have_count(5)
    expect(pg.locator("tbody .table-danger, tbody .text-danger")).to_have_count(0)
    expect(pg.locator("tbody")).to_contain_text("+8613700137000")
    expect(pg.locator(".alert-warning")).to_have_count(0)
    step("preview-clean")

    # -- 6. the whole-file check: 王芳 is an update (same e-mail, the matching key); 陈静 (row 6)
    # has the phone of an existing customer with another e-mail: the user decides. The counts
    # are those of the suggested decisions (merge 陈静 too, so two updates).
    check_whole_file(pg, held_checks, t)
    expect(pg.locator(".card.border-danger")).to_have_count(0)
    assert counts_on(pg, "main .row.g-3") == t["review"]
    candidate = pg.locator("tbody tr", has=pg.locator("input[name=decision-6]"))
    expect(candidate).to_have_count(1)
    expect(pg.locator("input[name^=decision-]")).to_have_count(3)  # one candidate, three choices
    expect(candidate.locator("td").nth(0)).to_have_text("6")
    expect(candidate.locator("td").nth(2).locator("a")).to_have_text("陈静")
    expect(candidate.locator("td").nth(2)).to_contain_text("chen.jing@old.example.com")
    expect(candidate).to_contain_text(t["same_phone"])
    expect(pg.locator("#merge-6")).to_be_checked()  # an exact phone match suggests merging
    candidate.get_by_text(t["action_label"], exact=True).click()
    expect(pg.locator(f"#{t['action']}-6")).to_be_checked()
    step("duplicates")

    # -- 7. import; the result page shows exactly what happened
    with pg.expect_navigation():
        pg.click("form[method=post] button.btn-primary[type=submit]")
    run = ImportRun.objects.order_by("-pk").first()
    pg.wait_for_url(f"{base}/imports/{run.pk}/")
    see = pg.get_by_role("link", name=t["see"])
    # Under test Huey runs the import at once; with a real worker the fragment polls until it ends.
    expect(see).to_be_visible(timeout=20_000)
    expect(pg.locator("#import-progress .badge").first).to_have_text(t["succeeded"])
    assert counts_on(pg, "#import-progress") == t["counts"]
    run.refresh_from_db()
    assert (run.status, run.failed_count) == (ImportStatus.SUCCEEDED, 0)
    wang_fang = Customer.objects.get(pk=existing["王芳"].pk)
    assert (wang_fang.phone, wang_fang.email) == ("+8613912345678", "wang.fang@example.com")
    chen_jings = Customer.objects.filter(name="陈静")
    assert chen_jings.count() == (2 if t["action"] == "create" else 1)
    assert Customer.objects.count() == len(t["names"])
    step("result")

    # -- 8. the customers are in the list; open one
    see.click()
    pg.wait_for_url(f"{base}/customers/?import_run={run.pk}")
    pg.wait_for_load_state("networkidle")
    names = pg.locator("#vc-results tbody .vc-customer-cell a")
    expect(names).to_have_count(len(t["listed"]))
    assert sorted(names.all_inner_texts()) == sorted(t["listed"])
    step("customers")
    names.filter(has_text="李娜").click()
    li_na = Customer.objects.get(name="李娜")
    pg.wait_for_url(f"{base}/customers/{li_na.pk}/")
    expect(pg.locator("h1")).to_contain_text("李娜")
    expect(pg.locator("main")).to_contain_text("li.na@example.com")
    assert (li_na.phone, li_na.city) == ("+8613700137000", "北京")
    step("customer")

    # the history lists both uploads: the finished import, and the abandoned draft (no results)
    # which, being the user's own, can be continued
    open_page(pg, f"{base}/imports/")
    expect(pg.locator("tbody tr")).to_have_count(2)
    expect(pg.locator("tbody tr").nth(1).get_by_role("link", name=t["continue"])).to_be_visible()
    expect(pg.locator("tbody tr").nth(0).locator("td.text-end")).to_have_text(
        ["5", t["counts"][next(iter(t["counts"]))], "1", "0", "0"])
    expect(pg.locator("tbody tr").nth(1).locator("td.text-end")).to_have_text(["5", "—", "—", "—", "1"])
    step("history")


FAILED_TEXT = {
    "en": {"failed": "The whole file could not be checked.", "again": "Check the whole file again",
           "removed": "The uploaded file was removed on", "rows": "Rows with errors"},
    "zh": {"failed": "无法检查整个文件。", "again": "重新检查整个文件", "removed": "上传的文件已于",
           "rows": "错误行"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_failed_check_and_removed_file(lang, new_page, live_server, login, shoot, admin_user,
                                       uploads_dir, held_checks, monkeypatch):
    """A check that crashes in the worker comes back to the review step with the reason and
    a way to check again; a finished import whose file the retention rules removed says so."""
    from datetime import timedelta

    from valuecrm.imports import services
    from valuecrm.imports.models import ImportRun, ImportStatus

    t, f = TEXT[lang], FAILED_TEXT[lang]
    base = live_server.url
    draft = services.import_configure(actor=admin_user, run=services.import_upload(
        actor=admin_user, kind="customers", name="客户.csv", chunks=[MESSY.encode()]))
    finished = services.import_upload(actor=admin_user, kind="customers", name="旧文件.csv",
                                      chunks=[FIXED.encode()])
    finished = services.import_run_now(actor=admin_user, run=services.import_configure(
        actor=admin_user, run=finished))
    ImportRun.objects.filter(pk=finished.pk).update(
        finished_at=finished.finished_at - timedelta(days=31))
    assert services.imports_clean_up()["files"] == 1

    pg = new_page(cookies={"django_language": t["cookie"]}, base_url=base)
    login(pg, admin_user.username)

    class BrokenEngine:
        def __init__(self, run, actor, **kw):
            pass

        def execute(self):
            raise RuntimeError("the worker ran out of memory")

    engine = services.Engine
    monkeypatch.setattr(services, "Engine", BrokenEngine)
    open_page(pg, f"{base}/imports/{draft.pk}/preview/")
    check_whole_file(pg, held_checks, t)
    alert = pg.locator(".alert-danger")
    expect(alert).to_contain_text(f["failed"])
    draft.refresh_from_db()
    assert draft.status == ImportStatus.DRAFT and draft.detail
    expect(alert).to_contain_text(draft.detail)
    expect(pg.locator("[aria-current=step]")).to_contain_text("4 · ")
    shoot(pg, f"import-check-failed-{t['suffix']}")

    monkeypatch.setattr(services, "Engine", engine)  # the worker is back: check again
    with pg.expect_navigation():
        pg.get_by_role("button", name=f["again"]).click()
    expect(pg.locator("#import-analysis")).to_contain_text(t["checking"])
    pg.route(ANALYSIS_POLL, lambda route: (held_checks.release(), route.continue_()), times=1)
    expect(pg.locator(".card.border-danger .card-header")).to_contain_text(f["rows"],
                                                                          timeout=10_000)
    expect(pg.locator(".alert-danger")).to_have_count(0)

    open_page(pg, f"{base}/imports/{finished.pk}/")
    expect(pg.locator("main")).to_contain_text(f["removed"])
    expect(pg.locator("#import-progress .badge").first).to_have_text(t["succeeded"])
    shoot(pg, f"import-file-removed-{t['suffix']}")
