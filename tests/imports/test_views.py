"""The wizard through the test client: upload → map → preview → check (in the worker) →
review → import → result; the history and runs whose file the retention rules removed."""

import os
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from valuecrm.customers.models import Customer
from valuecrm.imports.models import ImportRun, ImportStatus, MappingPreset

CSV = "姓名,手机号,邮箱,城市\n张三,13800138000,z@x.cn,上海\n李四,12345,l@x.cn,北京\n".encode()


def login(client, user):
    client.force_login(user)
    return client


def test_wizard_end_to_end(client, admin_user, data_dir, django_capture_on_commit_callbacks):
    login(client, admin_user)
    Customer.objects.create(name="张三", phone="+8613800138000", owner=admin_user)
    response = client.get(reverse("import-wizard"))
    assert response.status_code == 200
    response = client.post(reverse("import-wizard"), {
        "kind": "customers", "file": SimpleUploadedFile("c.csv", CSV)})
    run = ImportRun.objects.get()
    assert response.url == reverse("import-map", args=[run.pk])
    page = client.get(response.url).content.decode()
    assert '<option value="phone" selected>' in page  # 手机号 suggested as phone

    response = client.post(reverse("import-map", args=[run.pk]), {
        "col-0": "name", "col-1": "phone", "col-2": "email", "col-3": "city",
        "mode": "partial", "key": "email", "source": "shop", "preset_name": "shop export"})
    assert response.url == reverse("import-preview", args=[run.pk])
    assert MappingPreset.objects.get().mapping == {"姓名": "name", "手机号": "phone",
                                                   "邮箱": "email", "城市": "city"}
    page = client.get(response.url).content.decode()
    assert "“12345” is not a valid phone number." in page and "+8613800138000" in page

    with django_capture_on_commit_callbacks(execute=True):  # the check, in the worker
        response = client.post(reverse("import-preview", args=[run.pk]))
    assert response.url == reverse("import-review", args=[run.pk])
    assert Customer.objects.count() == 1  # the check wrote nothing
    page = client.get(response.url).content.decode()
    assert "same phone" in page and 'name="decision-2"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("import-review", args=[run.pk]), {"decision-2": "create"})
    assert response.url == reverse("import-detail", args=[run.pk])
    run.refresh_from_db()
    assert (run.status, run.created_count, run.failed_count) == (ImportStatus.SUCCEEDED, 1, 1)
    assert Customer.objects.filter(name="张三").count() == 2
    page = client.get(response.url).content.decode()
    assert reverse("import-errors", args=[run.pk]) in page and "Undo this import" in page
    assert client.get(reverse("import-history")).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):  # queued for the worker
        client.post(reverse("import-undo", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == ImportStatus.UNDONE
    assert Customer.objects.filter(name="张三").count() == 1


def test_bad_mapping_is_shown_on_the_form(client, admin_user, data_dir):
    login(client, admin_user)
    client.post(reverse("import-wizard"), {"kind": "customers",
                                           "file": SimpleUploadedFile("c.csv", CSV)})
    run = ImportRun.objects.get()
    response = client.post(reverse("import-map", args=[run.pk]),
                           {"col-0": "", "col-1": "phone", "mode": "all"})
    assert response.status_code == 422
    assert "Map a column to the required field “Name”." in response.content.decode()


def test_upload_errors_and_roles(client, admin_user, make_user, data_dir):
    login(client, admin_user)
    response = client.post(reverse("import-wizard"), {"kind": "customers",
                                                      "file": SimpleUploadedFile("e.csv", b"")})
    assert response.status_code == 422 and "The file is empty." in response.content.decode()
    login(client, make_user("viewer", role="read_only"))
    assert client.get(reverse("import-wizard")).status_code == 403


def test_chinese_pages(client, admin_user, data_dir):
    admin_user.language = "zh-hans"
    admin_user.save()
    login(client, admin_user)
    page = client.get(reverse("import-wizard"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "导入数据" in page


# ---------------------------------------------------------------- the whole-file check in the worker

def mapped_draft(client, user, csv=CSV):
    """Upload CSV as `user` and map it: a draft ready for the whole-file check."""
    login(client, user)
    client.post(reverse("import-wizard"), {"kind": "customers",
                                           "file": SimpleUploadedFile("c.csv", csv)})
    run = ImportRun.objects.filter(created_by=user).latest("pk")
    response = client.post(reverse("import-map", args=[run.pk]), {
        "col-0": "name", "col-1": "phone", "col-2": "email", "col-3": "city", "mode": "partial"})
    assert response.status_code == 302, response.content.decode()
    return run


def htmx_get(client, url):
    return client.get(url, HTTP_HX_REQUEST="true")


def test_check_is_queued_and_its_progress_polled_until_the_review(
        client, admin_user, data_dir, django_capture_on_commit_callbacks):
    from valuecrm.imports.progress import progress_path, progress_write

    run = mapped_draft(client, admin_user)
    review_url = reverse("import-review", args=[run.pk])
    analysis_url = reverse("import-analysis", args=[run.pk])
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse("import-preview", args=[run.pk]))
    assert (response.status_code, response.url) == (302, review_url)
    assert len(queued) == 1  # the task, sent to the worker after commit
    run.refresh_from_db()
    assert (run.status, run.total_rows, run.review) == (ImportStatus.ANALYSING, 0, [])

    page = client.get(review_url).content.decode()
    assert "Checking the whole file…" in page and f'hx-get="{analysis_url}"' in page
    assert 'aria-current="step">4 · Check and duplicates' in page
    assert 'name="decision-' not in page and "Possible duplicates" not in page

    # The worker's progress file feeds the polled block: rows so far, errors so far.
    progress_write(run.pk, processed=1500, created=1200, updated=0, unchanged=0, skipped=0,
                   failed=300)
    fragment = htmx_get(client, analysis_url)
    assert fragment.status_code == 200 and "HX-Redirect" not in fragment
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="import-analysis"') and "<html" not in html
    assert re.findall(r'small text-body-secondary">([^<]+)</div><div class="fs-4[^"]*">(\d+)<',
                      html) == [("Rows checked", "1500"), ("Rows with errors", "300")]

    # Meanwhile the mapping cannot change and the import cannot start: back to the check.
    assert client.get(reverse("import-map", args=[run.pk])).url == review_url
    assert client.get(reverse("import-detail", args=[run.pk])).url == review_url
    with django_capture_on_commit_callbacks() as again:
        assert client.post(reverse("import-preview", args=[run.pk])).url == review_url
        assert client.post(review_url, {"decision-2": "create"}).url == review_url
    assert again == []
    run.refresh_from_db()
    assert run.status == ImportStatus.ANALYSING

    queued[0]()  # the worker runs the check
    run.refresh_from_db()
    assert (run.status, run.detail, run.dry_run) == (ImportStatus.DRAFT, "", False)
    assert (run.total_rows, run.created_count, run.failed_count) == (2, 1, 1)
    assert [(e.row_number, e.column) for e in run.row_errors.all()] == [(3, "手机号")]
    assert not progress_path(run.pk).exists()
    assert Customer.objects.count() == 0  # nothing written

    fragment = htmx_get(client, analysis_url)
    assert (fragment.status_code, fragment["HX-Redirect"]) == (200, review_url)
    assert client.get(analysis_url).url == review_url  # without htmx: a plain redirect
    page = client.get(review_url).content.decode()
    assert "Checking the whole file…" not in page and "Rows with errors" in page
    assert "“12345” is not a valid phone number." in page


@pytest.mark.django_db(transaction=True)  # real commits, so the job is sent at once
def test_check_runs_at_once_when_the_worker_is_immediate(client, admin_user, data_dir):
    """Small files do not feel slower: with the job done by the time the browser follows
    the redirect (immediate Huey, or a quick worker) the review shows straight away."""
    run = mapped_draft(client, admin_user)
    response = client.post(reverse("import-preview", args=[run.pk]), follow=True)
    page = response.content.decode()
    assert response.redirect_chain == [(reverse("import-review", args=[run.pk]), 302)]
    assert "Checking the whole file…" not in page and "“12345” is not a valid phone number." in page


def test_a_check_that_crashes_returns_to_draft_with_the_reason(
        client, admin_user, data_dir, django_capture_on_commit_callbacks, monkeypatch):
    from valuecrm.imports import services

    class Broken:
        def __init__(self, run, actor, **kw):
            pass

        def execute(self):
            raise RuntimeError("disk on fire")

    run = mapped_draft(client, admin_user)
    review_url = reverse("import-review", args=[run.pk])
    with django_capture_on_commit_callbacks(execute=True):  # a first check that works
        client.post(reverse("import-preview", args=[run.pk]))
    run.refresh_from_db()
    assert (run.failed_count, run.row_errors.count()) == (1, 1)

    monkeypatch.setattr(services, "Engine", Broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("import-preview", args=[run.pk]))
    assert response.url == review_url
    run.refresh_from_db()
    assert run.status == ImportStatus.DRAFT
    assert run.detail == ("The check stopped on an unexpected error; nothing was written. "
                          "Check the whole file again, or upload the file again.")
    # The earlier check's counts are not passed off as this one's.
    assert (run.total_rows, run.failed_count, run.row_errors.count(), run.review) == (0, 0, 0, [])

    page = client.get(review_url).content.decode()
    assert "The whole file could not be checked." in page and run.detail in page
    assert "Check the whole file again" in page and "Possible duplicates" not in page
    assert f'action="{reverse("import-preview", args=[run.pk])}"' in page

    monkeypatch.undo()  # check again: it works, and the message goes
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-preview", args=[run.pk]))
    run.refresh_from_db()
    assert (run.status, run.detail, run.total_rows, run.failed_count) == (
        ImportStatus.DRAFT, "", 2, 1)
    assert "could not be checked" not in client.get(review_url).content.decode()


def test_a_check_of_a_vanished_file_says_so(
        client, admin_user, data_dir, django_capture_on_commit_callbacks):
    from pathlib import Path

    run = mapped_draft(client, admin_user)
    Path(run.file_path).unlink()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-preview", args=[run.pk]))
    run.refresh_from_db()
    assert (run.status, run.detail) == (
        ImportStatus.DRAFT, "The uploaded file can no longer be read. Upload it again.")
    page = client.get(reverse("import-review", args=[run.pk])).content.decode()
    assert "The uploaded file can no longer be read. Upload it again." in page
    # The preview says it too rather than failing.
    response = client.get(reverse("import-preview", args=[run.pk]))
    assert response.status_code == 200
    assert "The uploaded file is no longer stored. Upload it again." in response.content.decode()


def test_a_check_whose_worker_died_is_given_up_by_the_poll(
        client, admin_user, data_dir, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from valuecrm.imports.progress import progress_path, progress_write

    run = mapped_draft(client, admin_user)
    analysis_url = reverse("import-analysis", args=[run.pk])
    with django_capture_on_commit_callbacks():  # queued; the worker never runs it
        client.post(reverse("import-preview", args=[run.pk]))
    queued_at = timezone.now() - timedelta(minutes=16)
    ImportRun.objects.filter(pk=run.pk).update(updated_at=queued_at)

    progress_write(run.pk, processed=10, failed=0)  # …but it is still writing progress
    assert htmx_get(client, analysis_url).status_code == 200
    run.refresh_from_db()
    assert run.status == ImportStatus.ANALYSING

    stale = (timezone.now() - timedelta(minutes=20)).timestamp()
    os.utime(progress_path(run.pk), (stale, stale))  # nothing heard for 20 minutes
    response = htmx_get(client, analysis_url)
    assert response["HX-Redirect"] == reverse("import-review", args=[run.pk])
    run.refresh_from_db()
    assert run.status == ImportStatus.DRAFT
    assert "did not finish" in run.detail
    assert "did not finish" in client.get(reverse("import-review", args=[run.pk])).content.decode()

    # The late worker, if it ever runs, leaves the draft alone; a new check works.
    from valuecrm.imports.services import import_analyse_execute

    assert import_analyse_execute(run.pk, admin_user.pk).status == ImportStatus.DRAFT
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-preview", args=[run.pk]))
    run.refresh_from_db()
    assert (run.status, run.detail, run.total_rows) == (ImportStatus.DRAFT, "", 2)


def test_check_again_after_changing_the_mapping(
        client, admin_user, data_dir, django_capture_on_commit_callbacks):
    run = mapped_draft(client, admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-preview", args=[run.pk]))
    run.refresh_from_db()
    assert (run.failed_count, run.row_errors.count()) == (1, 1)

    # Back to the mapping: skip the phone column, so row 3 is fine now.
    response = client.post(reverse("import-map", args=[run.pk]), {
        "col-0": "name", "col-1": "", "col-2": "email", "col-3": "city", "mode": "partial"})
    assert response.url == reverse("import-preview", args=[run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-preview", args=[run.pk]))
    run.refresh_from_db()
    assert (run.status, run.total_rows, run.created_count, run.failed_count) == (
        ImportStatus.DRAFT, 2, 2, 0)
    assert run.row_errors.count() == 0
    assert "Rows with errors" in client.get(reverse("import-review", args=[run.pk])).content.decode()


def test_check_is_the_owners_business(
        client, rep_north, rep_south, admin_user, data_dir, django_capture_on_commit_callbacks):
    run = mapped_draft(client, rep_north)
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("import-preview", args=[run.pk]))
    assert len(queued) == 1

    login(client, rep_south)  # another rep: the run does not exist for them
    for url in ("import-review", "import-analysis", "import-preview"):
        assert client.get(reverse(url, args=[run.pk])).status_code == 404
    assert client.post(reverse("import-preview", args=[run.pk])).status_code == 404

    queued[0]()
    run.refresh_from_db()
    assert run.status == ImportStatus.DRAFT
    with django_capture_on_commit_callbacks() as again:
        assert client.post(reverse("import-preview", args=[run.pk])).status_code == 404
    assert again == []
    run.refresh_from_db()
    assert run.status == ImportStatus.DRAFT

    login(client, admin_user)  # a manager may check anyone's import, as before
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("import-preview", args=[run.pk])).status_code == 302
    run.refresh_from_db()
    assert (run.status, run.total_rows) == (ImportStatus.DRAFT, 2)


# ---------------------------------------------------------------- history and removed files

def test_history_hides_other_peoples_drafts(client, rep_north, admin_user, data_dir, run_import,
                                           write_csv):
    mine = mapped_draft(client, admin_user)
    theirs = mapped_draft(client, rep_north)
    done = run_import(write_csv("done.csv", [["name"], ["王五"]]), actor=rep_north)

    login(client, admin_user)
    page = client.get(reverse("import-history")).content.decode()
    detail = reverse("import-detail", args=[mine.pk])
    assert f'<a class="btn btn-link btn-sm" href="{detail}">Continue</a>' in page
    assert f'href="{reverse("import-detail", args=[done.pk])}">Open</a>' in page
    assert f'href="{reverse("import-detail", args=[theirs.pk])}"' not in page
    # Hidden from the list only: a manager can still open it, as before.
    assert client.get(reverse("import-detail", args=[theirs.pk])).status_code == 302

    login(client, rep_north)
    page = client.get(reverse("import-history")).content.decode()
    assert f'href="{reverse("import-detail", args=[theirs.pk])}">Continue</a>' in page
    assert f'href="{reverse("import-detail", args=[mine.pk])}"' not in page
    # "Continue" leads back into the wizard.
    assert client.get(reverse("import-detail", args=[theirs.pk])).url == reverse(
        "import-map", args=[theirs.pk])


def test_detail_of_a_run_whose_file_was_removed(client, admin_user, data_dir, run_import,
                                                write_csv):
    from valuecrm.imports.services import imports_clean_up

    path = write_csv("c.csv", [["name", "phone"], ["王五", "13800138000"], ["赵六", "12345"]])
    run = run_import(path, mode="partial")
    login(client, admin_user)
    detail_url = reverse("import-detail", args=[run.pk])
    assert "The uploaded file" not in client.get(detail_url).content.decode()

    ImportRun.objects.filter(pk=run.pk).update(
        finished_at=run.finished_at - timedelta(days=31))
    assert imports_clean_up()["files"] == 1
    response = client.get(detail_url)
    page = response.content.decode()
    assert response.status_code == 200
    removed = timezone.localdate().isoformat()
    assert (f"The uploaded file was removed on {removed}: files are kept for 30 days after an "
            "import. The counts and the failed rows stay available.") in page
    assert "Undo this import" in page and reverse("import-errors", args=[run.pk]) in page
    csv_text = b"".join(client.get(reverse("import-errors", args=[run.pk])).streaming_content)
    assert "赵六" in csv_text.decode("utf-8-sig")


def test_chinese_check_and_removed_file(
        client, admin_user, data_dir, run_import, write_csv, django_capture_on_commit_callbacks):
    from valuecrm.imports.services import imports_clean_up

    run = run_import(write_csv("c.csv", [["name"], ["王五"]]))
    ImportRun.objects.filter(pk=run.pk).update(finished_at=run.finished_at - timedelta(days=31))
    imports_clean_up()
    admin_user.language = "zh-hans"
    admin_user.save()
    draft = mapped_draft(client, admin_user)

    page = client.get(reverse("import-detail", args=[run.pk])).content.decode()
    removed = timezone.localdate().isoformat()
    assert f"上传的文件已于 {removed} 删除：导入结束后文件保留 30 天。各项计数和失败的行仍可查看。" in page
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("import-preview", args=[draft.pk]))
    page = client.get(reverse("import-review", args=[draft.pk])).content.decode()
    assert "正在检查整个文件…" in page and "已检查行数" in page and "检查期间不会写入任何数据。" in page
    page = client.get(reverse("import-history")).content.decode()
    assert "检查文件中" in page and ">继续</a>" in page

    # The worker checks in the language of the user who asked: the reasons are stored text.
    queued[0]()
    assert draft.row_errors.get().reason == "“12345”不是有效的电话号码。"
