"""The pages that show recovery, in a real browser, in English and 中文, light and dark,
at 1440×900 and 390×844: an undo running in the worker (polled until it is done), an
import whose worker died, and the value pages with a scoring run whose worker died and
a run that skipped customers deleted mid-run.

Saved as recovery-<page>-<en|zh>-<light|dark>-<wide|phone>.png.
"""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.ui import open_page

SIZES = {"wide": (1440, 900), "phone": (390, 844)}
TEXT = {
    "en": {"cookie": "en", "undoing": "Undoing: 2 of 6 records", "undone": "Undone",
           "died": "The background worker stopped during the import",
           "score_died": "The background worker stopped during this run",
           "skipped": "2 customers deleted or merged during the run were skipped",
           "gone": "2 gone during the run"},
    "zh": {"cookie": "zh-hans", "undoing": "正在撤销：2 / 6 条记录", "undone": "已撤销",
           "died": "导入过程中后台进程已停止",
           "score_died": "评分过程中后台进程已停止",
           "skipped": "评分期间有 2 位客户被删除或合并，已跳过", "gone": "评分期间 2 位已删除"},
}


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


def _imported(admin_user, tmp_path, name="c.csv"):
    from valuecrm.imports import services

    path = tmp_path / name
    stem = name.split(".")[0]
    path.write_text("name,email\n" + "".join(f"{n} {stem},{n.lower()}.{stem}@example.com\n"
                                             for n in ("Ada", "Bo", "Cy")))
    with open(path, "rb") as handle:
        run = services.import_upload(actor=admin_user, kind="customers", name=name,
                                     chunks=[handle.read()])
    run = services.import_configure(actor=admin_user, run=run)
    return services.import_run_now(actor=admin_user, run=run)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_undo_in_the_worker_and_a_dead_import(live_server, new_page, login, shoot, admin_user,
                                              tmp_path, data_dir, lang, theme, django_user_model):
    from valuecrm.common import heartbeat
    from valuecrm.imports import services
    from valuecrm.imports.models import ImportRun, ImportStatus

    t = TEXT[lang]
    django_user_model.objects.filter(pk=admin_user.pk).update(theme=theme)
    dead = _imported(admin_user, tmp_path, "first.csv")
    ImportRun.objects.filter(pk=dead.pk).update(status=ImportStatus.RUNNING, worker="gone:1",
                                                heartbeat_at=timezone.now() - dt.timedelta(minutes=5))
    run = _imported(admin_user, tmp_path, "second.csv")
    # The worker (this process) is undoing it and has written its progress.
    ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.UNDOING,
                                               worker=heartbeat.worker_name(),
                                               heartbeat_at=timezone.now())
    heartbeat.beat("import", run.pk)
    services.progress_write(run.pk, undo_done=2, undo_total=6)

    for size, (width, height) in SIZES.items():
        pg = new_page(cookies={"django_language": t["cookie"]}, base_url=live_server.url)
        pg.set_viewport_size({"width": width, "height": height})
        login(pg, "root")
        open_page(pg, f"{live_server.url}/imports/{run.pk}/")
        expect(pg.locator("[data-import=undo-progress]")).to_have_text(t["undoing"])
        expect(pg.locator("html")).to_have_attribute("data-bs-theme", theme)
        shoot(pg, f"recovery-undoing-{lang}-{theme}-{size}")

        open_page(pg, f"{live_server.url}/imports/{dead.pk}/")
        expect(pg.locator("[data-import=detail]")).to_contain_text(t["died"])
        shoot(pg, f"recovery-import-worker-died-{lang}-{theme}-{size}")
        pg.context.close()

    # The worker finishes the undo; the open page's poll shows it without a reload.
    pg = new_page(cookies={"django_language": t["cookie"]}, base_url=live_server.url)
    login(pg, "root")
    open_page(pg, f"{live_server.url}/imports/{run.pk}/")
    services.progress_clear(run.pk)
    with heartbeat.beating("import", run.pk):
        services._undo(admin_user, ImportRun.objects.get(pk=run.pk), status=ImportStatus.UNDOING)
    expect(pg.locator("#import-progress .badge").first).to_have_text(t["undone"], timeout=15_000)
    expect(pg.locator("[data-import=undo-progress]")).to_have_count(0)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_value_pages_with_a_dead_and_a_skipping_run(live_server, new_page, login, shoot,
                                                    admin_user, data_dir, lang, theme,
                                                    django_user_model):
    from valuecrm.insights.models import RunStatus, ScoreRun

    t = TEXT[lang]
    django_user_model.objects.filter(pk=admin_user.pk).update(theme=theme)
    now = timezone.now()
    ScoreRun.objects.create(as_of=dt.date(2026, 11, 30), status=RunStatus.SUCCEEDED,
                            started_at=now - dt.timedelta(hours=2), n_customers=1200,
                            finished_at=now - dt.timedelta(hours=2), duration_seconds=12.5,
                            n_skipped_gone=2)
    ScoreRun.objects.create(as_of=dt.date(2026, 12, 1), status=RunStatus.RUNNING,
                            started_at=now - dt.timedelta(minutes=3), worker="gone:1",
                            heartbeat_at=now - dt.timedelta(minutes=3), progress=40,
                            current_step="churn")
    for size, (width, height) in SIZES.items():
        pg = new_page(cookies={"django_language": t["cookie"]}, base_url=live_server.url)
        pg.set_viewport_size({"width": width, "height": height})
        login(pg, "root")
        open_page(pg, f"{live_server.url}/value/model/")
        strip = pg.locator("#vc-run-status")
        # The page's first poll fails the dead run; the strip stops polling.
        expect(strip).to_have_attribute("data-run-status", "failed", timeout=15_000)
        expect(strip).to_contain_text(t["score_died"])
        expect(strip.locator("[data-run=skipped-gone]")).to_have_text(t["skipped"])
        expect(pg.locator("[data-table=runs] [data-run=skipped-gone]")).to_have_text(t["gone"])
        expect(pg.locator("[data-action=run-scoring]")).to_be_enabled()
        shoot(pg, f"recovery-model-report-{lang}-{theme}-{size}")
        pg.context.close()
