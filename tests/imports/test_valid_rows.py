"""Imports without dead ends: "import the valid rows" of a failed all-or-nothing run,
row errors in the reader's language, notes and interactions from a column, and "See the
customers" opening exactly that import's customers."""

import csv
import io
from datetime import timedelta

from django.urls import reverse
from django.utils import translation

from valuecrm.customers.filters import filter_specs, parse_filters
from valuecrm.customers.models import Customer, Interaction, Note
from valuecrm.customers.selectors import customer_list
from valuecrm.imports import services
from valuecrm.imports.models import ImportRowError, ImportRun, ImportStatus
from valuecrm.imports.row_errors import MESSAGES, RowProblem, render

ROWS = [["姓名", "手机号", "城市", "备注"],
        ["张三", "13800138000", "上海", "老客户，喜欢红茶"],
        ["李四", "12345", "北京", "电话打不通"],
        ["王五", "13900139000", "苏州", ""]]


def failed_run(run_import, write_csv, **kw):
    run = run_import(write_csv("c.csv", ROWS), **kw)
    assert (run.status, run.failed_count, run.created_count) == (ImportStatus.FAILED, 1, 0)
    return run


def test_the_valid_rows_of_a_failed_run_in_one_click(
        client, admin_user, data_dir, run_import, write_csv, django_capture_on_commit_callbacks):
    run = failed_run(run_import, write_csv)
    assert Customer.objects.count() == 0
    client.force_login(admin_user)
    page = client.get(reverse("import-detail", args=[run.pk])).content.decode()
    assert "Import the 2 valid rows" in page and reverse("import-retry", args=[run.pk]) in page

    with django_capture_on_commit_callbacks(execute=True):  # the worker runs it
        response = client.post(reverse("import-retry", args=[run.pk]))
    retry = ImportRun.objects.exclude(pk=run.pk).get()
    assert response.url == reverse("import-detail", args=[retry.pk])
    assert (retry.retry_of_id, retry.mode, retry.file_path, retry.mapping) == (
        run.pk, "partial", run.file_path, run.mapping)
    assert (retry.status, retry.created_count, retry.failed_count) == (ImportStatus.SUCCEEDED, 2, 1)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "王五"]
    # The failed run keeps its error file; the new one reports the same bad row.
    assert [e.row_number for e in run.row_errors.all()] == [3]
    assert [e.row_number for e in retry.row_errors.all()] == [3]
    assert client.get(reverse("import-errors", args=[run.pk])).status_code == 200

    # Both pages say how they are linked; a second click does not import twice.
    page = client.get(reverse("import-detail", args=[run.pk])).content.decode()
    assert "Import the 2 valid rows" not in page and f"import #{retry.pk}</a>" in page
    page = client.get(reverse("import-detail", args=[retry.pk])).content.decode()
    assert f"import #{run.pk}</a>, which failed as all-or-nothing" in page
    client.post(reverse("import-retry", args=[run.pk]))
    assert ImportRun.objects.count() == 2 and Customer.objects.count() == 2


def test_valid_rows_only_for_a_failed_all_or_nothing_run(admin_user, data_dir, run_import,
                                                         write_csv):
    from valuecrm.common.errors import Conflict

    ok = run_import(write_csv("ok.csv", [["name"], ["张三"]]))
    partial = run_import(write_csv("p.csv", ROWS), mode="partial")
    for run in (ok, partial):
        assert not services.retry_possible(run)
        try:
            services.import_retry_valid_rows(actor=admin_user, run=run)
        except Conflict as exc:
            assert "failed on row errors" in exc.detail
        else:
            raise AssertionError("a retry of a run that did not fail on row errors")


def test_valid_rows_need_the_stored_file(admin_user, data_dir, run_import, write_csv):
    from valuecrm.common.errors import Conflict

    run = failed_run(run_import, write_csv)
    ImportRun.objects.filter(pk=run.pk).update(finished_at=run.finished_at - timedelta(days=31))
    services.imports_clean_up()
    run.refresh_from_db()
    try:
        services.import_retry_valid_rows(actor=admin_user, run=run)
    except Conflict as exc:
        assert exc.detail == "The uploaded file is no longer stored. Upload it again."
    else:
        raise AssertionError("a retry without the file")


def test_retention_keeps_a_file_a_later_run_still_reads(
        admin_user, data_dir, run_import, write_csv, django_capture_on_commit_callbacks):
    from pathlib import Path

    run = failed_run(run_import, write_csv)
    with django_capture_on_commit_callbacks(execute=True):
        retry = services.import_retry_valid_rows(actor=admin_user, run=run)
    retry.refresh_from_db()
    assert retry.status == ImportStatus.SUCCEEDED
    ImportRun.objects.filter(pk=run.pk).update(finished_at=run.finished_at - timedelta(days=31))
    services.imports_clean_up()
    run.refresh_from_db()
    assert run.file_removed_at is not None and Path(retry.file_path).is_file()
    ImportRun.objects.filter(pk=retry.pk).update(finished_at=run.finished_at - timedelta(days=31))
    services.imports_clean_up()
    assert not Path(retry.file_path).is_file()


def test_row_errors_are_codes_rendered_in_the_viewers_language(
        client, admin_user, make_user, data_dir, run_import, write_csv):
    with translation.override("en"):
        run = failed_run(run_import, write_csv)  # started by an English-speaking user
    error = run.row_errors.get()
    assert (error.code, error.params, error.reason) == (
        "not_phone", {"value": "12345"}, "“12345” is not a valid phone number.")
    assert run.detail_code == "nothing_imported" and run.detail_params == {"n": 1}

    admin_user.language = "zh-hans"
    admin_user.save()
    client.force_login(admin_user)
    page = client.get(reverse("import-detail", args=[run.pk])).content.decode()
    assert "“12345”不是有效的电话号码。" in page
    assert "is not a valid phone number" not in page
    assert "未导入任何数据：1 行有错误。" in page  # the outcome too
    body = b"".join(client.get(reverse("import-errors", args=[run.pk])).streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1][-1] == "手机号: “12345”不是有效的电话号码。"

    admin_user.language = "en"
    admin_user.save()
    body = b"".join(client.get(reverse("import-errors", args=[run.pk])).streaming_content)
    assert "手机号: “12345” is not a valid phone number." in body.decode("utf-8-sig")


def test_every_error_code_renders_in_both_languages():
    params = {"n": 3, "min": 1900, "max": 2200, "value": "x", "choices": "a, b", "field": "name",
              "error": "e", "found": 2, "expected": 3, "keys": "k", "key": "email"}
    for code in MESSAGES:
        with translation.override("en"):
            english = render(code, params)
        with translation.override("zh-hans"):
            chinese = render(code, params)
        assert english and chinese and english != chinese, code
        assert "%(" not in english + chinese, code
    assert str(RowProblem("not_amount", value="abc")) == "“abc” is not an amount."
    assert render("no-such-code", {}, "stored text") == "stored text"


def test_old_text_only_errors_still_show(admin_user, data_dir, run_import, write_csv):
    run = failed_run(run_import, write_csv)
    ImportRowError.objects.filter(run=run).update(code="", params={}, reason="stored text")
    assert run.row_errors.get().message == "stored text"


def test_a_column_mapped_to_a_note_or_an_interaction(admin_user, data_dir, run_import,
                                                     write_csv):
    rows = [["姓名", "邮箱", "备注", "跟进记录", "跟进方式", "跟进时间"],
            ["张三", "z@x.cn", "喜欢红茶", "问了新品", "微信", "2026-03-05 10:00"],
            ["李四", "l@x.cn", "", "", "", ""]]
    run = run_import(write_csv("n.csv", rows), key="email")
    assert run.mapping["备注"] == "note" and run.mapping["跟进记录"] == "interaction"
    assert run.status == ImportStatus.SUCCEEDED, run.detail
    zhang = Customer.objects.get(name="张三")
    assert list(Note.objects.values_list("customer_id", "body", "author_id")) == [
        (zhang.pk, "喜欢红茶", admin_user.pk)]
    interaction = Interaction.objects.get()
    assert (interaction.customer_id, interaction.kind, interaction.body,
            interaction.occurred_at.isoformat()) == (zhang.pk, "chat", "问了新品",
                                                     "2026-03-05T02:00:00+00:00")

    # The same file again updates nobody and adds no second note; a new remark is added.
    again = run_import(write_csv("n.csv", rows), key="email")
    assert Note.objects.count() == 1 and Interaction.objects.count() == 1
    rows[1][2] = "改喝绿茶"
    third = run_import(write_csv("n.csv", rows), key="email")
    assert sorted(Note.objects.values_list("body", flat=True)) == ["喜欢红茶", "改喝绿茶"]
    assert again.status == third.status == ImportStatus.SUCCEEDED

    services.import_undo(actor=admin_user, run=third)  # undo removes what it added
    assert list(Note.objects.values_list("body", flat=True)) == ["喜欢红茶"]


def _listed(user, raw):
    active, errors = parse_filters(raw, user=user, specs=filter_specs(), ignore_unknown=True)
    assert not errors, errors
    rows, _cursor = customer_list(user=user, filters=active, limit=200)
    return sorted(c.name for c in rows)


def test_see_the_customers_lists_exactly_that_imports_customers(
        client, admin_user, rep_north, data_dir, run_import, write_csv):
    Customer.objects.create(name="老客户", owner=admin_user, email="old@x.cn")
    Customer.objects.create(name="无关", owner=admin_user)
    Customer.objects.create(name="没变", owner=admin_user, email="same@x.cn", city="上海")
    first = run_import(write_csv("a.csv", [["name", "email", "city"],
                                           ["新客户", "new@x.cn", "上海"],
                                           ["老客户", "old@x.cn", "苏州"],  # updated
                                           ["没变", "same@x.cn", "上海"]]), key="email")
    first.refresh_from_db()
    second = run_import(write_csv("b.csv", [["name", "email"], ["另一个", "b@x.cn"]]), key="email")
    assert _listed(admin_user, {"import_run": str(first.pk)}) == ["新客户", "老客户"]
    assert _listed(admin_user, {"import_run": str(second.pk)}) == ["另一个"]

    client.force_login(admin_user)
    page = client.get(reverse("import-detail", args=[first.pk])).content.decode()
    url = f"{reverse('customer-list')}?import_run={first.pk}"
    assert f'href="{url}"' in page
    listing = client.get(url).content.decode()
    assert "新客户" in listing and "老客户" in listing and "无关" not in listing
    assert "没变" not in listing  # matched but not changed: the import did nothing to it
    assert f"#{first.pk} · a.csv" in listing  # the filter chip

    # Someone who cannot see the import gets a named error, not its customers.
    active, errors = parse_filters({"import_run": str(first.pk)}, user=rep_north,
                                   specs=filter_specs())
    assert errors == {"import_run": [f"No import #{first.pk} that you can see."]}
    active, errors = parse_filters({"import_run": "abc"}, user=admin_user, specs=filter_specs())
    assert errors == {"import_run": ["Enter the number of an import."]}


def test_see_the_customers_of_an_order_import(admin_user, data_dir, run_import, write_csv):
    Customer.objects.create(name="买家", owner=admin_user, email="buyer@x.cn")
    Customer.objects.create(name="没买", owner=admin_user, email="no@x.cn")
    run = run_import(write_csv("o.csv", [["订单号", "邮箱", "下单时间", "实付金额"],
                                         ["A1", "buyer@x.cn", "2026-01-02", "10"]]),
                     kind="orders")
    assert run.status == ImportStatus.SUCCEEDED, run.detail
    assert _listed(admin_user, {"import_run": str(run.pk)}) == ["买家"]


def test_valid_rows_through_the_api(api_client_for, admin_user, rep_north, data_dir, run_import,
                                    write_csv, django_capture_on_commit_callbacks):
    run = failed_run(run_import, write_csv)
    client = api_client_for(admin_user)
    detail = client.get(f"/api/v1/imports/{run.pk}").json()
    assert detail["detail"].startswith("Nothing was imported: 1 rows have errors.")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/imports/{run.pk}/valid-rows")
    assert response.status_code == 201
    body = response.json()
    assert (body["retry_of"], body["options"]["mode"]) == (run.pk, "partial")
    retry = ImportRun.objects.get(pk=body["id"])
    assert (retry.status, retry.created_count) == (ImportStatus.SUCCEEDED, 2)
    # Asking again gives the same run; someone else's import is not theirs to retry.
    again = client.post(f"/api/v1/imports/{run.pk}/valid-rows")
    assert (again.status_code, again.json()["id"]) == (201, retry.pk)
    other = api_client_for(rep_north).post(f"/api/v1/imports/{run.pk}/valid-rows")
    assert other.status_code == 404
    ok = client.post(f"/api/v1/imports/{retry.pk}/valid-rows")
    assert ok.status_code == 409
