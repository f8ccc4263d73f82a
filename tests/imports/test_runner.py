"""The import engine end to end on messy files: counts, precise row errors,
all-or-nothing, partial mode, upsert, duplicates, idempotent orders and undo."""

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from valuecrm.customers.models import ContactPoint, Customer, CustomerKind
from valuecrm.imports import services
from valuecrm.imports.models import ImportChange, ImportStatus
from valuecrm.imports.selectors import error_csv_lines
from valuecrm.orders.models import Order

CN_HEADER = ["姓名", "手机号", "邮箱", "城市", "生日", "标签", "公司"]


def messy_customers():
    return [
        CN_HEADER,
        ["张三", "138 0013 8000", "ZHANG＠Example.com", "上海", "2024年3月5日", "VIP、新客", "华为"],
        ["李四", "+86 139-0013-9000", "li@x.cn", "北京", "1990/3/5", "", ""],
        ["王五", "１３７００１３７０００", "wang@x.cn", "广州", "19851201", "VIP", "华为"],
        ["Amy Lee", "13600136000", "amy@x.cn", "深圳", "45356", "", ""],
    ]


def errors_of(run):
    return [(e.row_number, e.column, e.reason) for e in run.row_errors.all()]


def test_gbk_chinese_headers_mixed_dates(write_csv, run_import):
    path = write_csv("gbk.csv", messy_customers(), encoding="gbk")
    run = run_import(path)
    assert run.status == ImportStatus.SUCCEEDED, run.detail
    assert (run.total_rows, run.created_count, run.failed_count) == (4, 4, 0)
    zhang = Customer.objects.get(name="张三")
    assert (zhang.phone, zhang.email, zhang.city) == ("+8613800138000", "zhang@example.com", "上海")
    assert zhang.birthday == dt.date(2024, 3, 5)
    assert sorted(zhang.tags.values_list("name", flat=True)) == ["VIP", "新客"]
    assert zhang.company.name == "华为" and zhang.company.kind == CustomerKind.ORGANIZATION
    assert Customer.objects.get(name="王五").company_id == zhang.company_id
    assert Customer.objects.get(name="王五").phone == "+8613700137000"
    assert Customer.objects.get(name="Amy Lee").birthday == dt.date(2024, 3, 5)
    assert set(ContactPoint.objects.filter(customer=zhang).values_list("kind", "value")) == {
        ("email", "zhang@example.com"), ("phone", "+8613800138000")}
    assert zhang.owner_id == run.created_by_id
    assert zhang.history.count() == 0  # bulk imports are audited by the run, not per row


def test_bad_rows_are_reported_precisely_and_nothing_is_written(write_csv, run_import):
    rows = messy_customers()
    rows[2][1] = "12345"                 # bad phone, file line 3
    rows[3][4] = "2024-02-30"            # impossible date, line 4
    rows[4][2] = "amy at x"              # bad email, line 5
    path = write_csv("bad.csv", rows, encoding="utf-8-sig")
    before = Customer.objects.count()
    run = run_import(path)
    assert run.status == ImportStatus.FAILED
    assert Customer.objects.count() == before
    assert (run.created_count, run.failed_count) == (0, 3)
    assert errors_of(run) == [
        (3, "手机号", "“12345” is not a valid phone number."),
        (4, "生日", "2024-02-30 is not a calendar date."),
        (5, "邮箱", "“amy at x” is not a valid email address."),
    ]
    lines = "".join(error_csv_lines(run)).lstrip("\ufeff").splitlines()
    assert lines[0] == "row,姓名,手机号,邮箱,城市,生日,标签,公司,error"
    assert lines[1] == "3,李四,12345,li@x.cn,北京,1990/3/5,,,手机号: “12345” is not a valid phone number."
    assert len(lines) == 4


def test_partial_mode_imports_the_valid_rows(write_csv, run_import):
    rows = messy_customers()
    rows[2][1] = "12345"
    path = write_csv("bad.csv", rows)
    run = run_import(path, mode="partial")
    assert run.status == ImportStatus.SUCCEEDED
    assert (run.created_count, run.failed_count) == (3, 1)
    assert not Customer.objects.filter(name="李四").exists()


def test_the_fixed_error_file_imports(write_csv, run_import, data_dir):
    rows = messy_customers()
    rows[2][1] = "12345"
    first = run_import(write_csv("bad.csv", rows), mode="partial")
    fixed = "".join(error_csv_lines(first)).replace("12345", "13900139000")
    path = data_dir / "fixed.csv"
    path.write_text(fixed, encoding="utf-8")
    mapping = {h: t for h, t in first.mapping.items()}
    mapping.update({"row": "", "error": ""})
    second = run_import(path, mapping=mapping)
    assert (second.status, second.created_count) == (ImportStatus.SUCCEEDED, 1)
    assert Customer.objects.get(name="李四").phone == "+8613900139000"


def test_reimport_with_key_is_idempotent_and_upsert_updates(write_csv, run_import):
    path = write_csv("c.csv", messy_customers())
    run_import(path, key="phone")
    count = Customer.objects.count()
    again = run_import(path, key="phone")
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 4)
    assert Customer.objects.count() == count
    rows = messy_customers()
    rows[1][3] = "杭州"
    third = run_import(write_csv("c2.csv", rows), key="phone")
    assert (third.created_count, third.updated_count, third.unchanged_count) == (0, 1, 3)
    assert Customer.objects.get(name="张三").city == "杭州"
    assert ImportChange.objects.get(run=third).before == {"city": "上海"}


def test_duplicates_within_the_file(write_csv, run_import):
    rows = messy_customers()
    rows.append(["张三 (again)", "13800138000", "other@x.cn", "上海", "", "", ""])
    rows.append(list(rows[2]))
    run = run_import(write_csv("dup.csv", rows), key="phone")
    assert (run.created_count, run.skipped_count) == (4, 2)
    in_file = [(d["row"], d["earlier_row"]) for d in run.review if d["kind"] == "in_file"]
    assert in_file == [(6, 2), (7, 3)]


def test_duplicates_against_the_database_merge_by_default_on_exact_contact(
    write_csv, run_import, admin_user
):
    existing = Customer.objects.create(name="张三", phone="+8613800138000", city="上海",
                                       owner=admin_user)
    run = run_import(write_csv("c.csv", messy_customers()), key="email")
    assert run.status == ImportStatus.SUCCEEDED
    (candidate,) = [d for d in run.review if d["kind"] == "existing"]
    assert (candidate["row"], candidate["match_id"], candidate["reason"], candidate["action"]) == (
        2, existing.pk, "phone", "merge")
    existing.refresh_from_db()
    # merged: empty fields filled, the existing city kept
    assert (existing.email, existing.city, existing.birthday) == (
        "zhang@example.com", "上海", dt.date(2024, 3, 5))
    assert (run.created_count, run.updated_count) == (3, 1)


def test_review_decisions_create_or_skip(write_csv, run_import, admin_user):
    Customer.objects.create(name="张三", phone="+8613800138000", owner=admin_user)
    Customer.objects.create(name="李四", city="北京", owner=admin_user)
    run = run_import(write_csv("c.csv", messy_customers()), key="email",
                     decisions={"2": "create", "3": "skip"})
    assert (run.created_count, run.skipped_count) == (3, 1)
    assert Customer.objects.filter(name="张三").count() == 2
    assert Customer.objects.filter(name="李四").count() == 1
    fuzzy = [d for d in run.review if d["row"] == 3][0]
    assert (fuzzy["reason"], fuzzy["action"]) == ("name", "skip")


def test_dry_run_writes_nothing_but_counts(write_csv, run_import):
    run = run_import(write_csv("c.csv", messy_customers()), dry_run=True)
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 4)
    assert Customer.objects.count() == 0


def test_undo_deletes_created_and_restores_updated(write_csv, run_import, admin_user):
    first = run_import(write_csv("c.csv", messy_customers()), key="phone")
    rows = messy_customers()
    rows[1][3] = "杭州"
    rows[1][2] = "zhang.new@x.cn"
    rows.append(["New Person", "13500135000", "", "", "", "", ""])
    second = run_import(write_csv("c2.csv", rows), key="phone")
    assert (second.created_count, second.updated_count) == (1, 1)
    with pytest.raises(Exception) as caught:
        services.import_undo(actor=admin_user, run=first)
    assert "most recent" in str(caught.value)
    services.import_undo(actor=admin_user, run=second)
    zhang = Customer.objects.get(name="张三")
    assert (zhang.city, zhang.email) == ("上海", "zhang@example.com")
    assert not ContactPoint.objects.filter(value="zhang.new@x.cn").exists()
    assert ContactPoint.objects.get(customer=zhang, kind="email").is_primary
    assert not Customer.objects.filter(name="New Person").exists()
    services.import_undo(actor=admin_user, run=first)
    assert Customer.objects.count() == 0


def test_xlsx_with_title_row(data_dir, run_import):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["客户名单"])
    sheet.merge_cells("A1:C1")
    sheet.append(["姓名", "手机", "生日"])
    sheet.append(["张三", 13800138000, dt.datetime(1990, 5, 1)])
    sheet.append(["李四", "bad", "1990-01-01"])
    path = data_dir / "c.xlsx"
    book.save(path)
    run = run_import(path, mode="partial")
    assert (run.created_count, errors_of(run)) == (
        1, [(4, "手机", "“bad” is not a valid phone number.")])
    assert Customer.objects.get(name="张三").birthday == dt.date(1990, 5, 1)


def test_truncated_csv_fails_whole_import(write_csv, run_import):
    path = write_csv("cut.csv", messy_customers(), raw_tail="赵六,1380".encode())
    run = run_import(path)
    assert run.status == ImportStatus.FAILED
    assert errors_of(run)[0][0] == 6
    assert Customer.objects.count() == 0


def test_read_only_role_cannot_import(write_csv, run_import, make_user):
    viewer = make_user("viewer", role="read_only")
    with pytest.raises(Exception) as caught:
        run_import(write_csv("c.csv", messy_customers()), actor=viewer)
    assert caught.value.status == 403


# ---------------------------------------------------------------- orders

ORDER_HEADER = ["订单号", "客户编号", "下单时间", "实付金额", "订单状态"]


def make_customers(admin_user):
    for n in range(1, 4):
        Customer.objects.create(name=f"C{n}", source="import", external_id=f"C{n}",
                                email=f"c{n}@x.cn", owner=admin_user)


def test_orders_are_linked_and_reimport_is_unchanged(write_csv, run_import, admin_user):
    make_customers(admin_user)
    rows = [ORDER_HEADER,
            ["A-1", "C1", "2024/3/5 14:30", "￥1,234.50", "已付款"],
            ["A-2", "C2", "2024年3月6日", "RMB 99", "交易成功"],
            ["A-3", "C3", "20240307", "$5", ""]]
    path = write_csv("orders.csv", rows, encoding="gbk")
    run = run_import(path, kind="orders")
    assert (run.status, run.created_count) == (ImportStatus.SUCCEEDED, 3), run.detail
    order = Order.objects.get(external_id="A-1")
    assert (order.customer.external_id, order.total_amount, order.status) == (
        "C1", Decimal("1234.50"), "paid")
    assert timezone.localtime(order.placed_at).hour == 14 and order.source == "import"
    assert Order.objects.get(external_id="A-2").status == "fulfilled"
    again = run_import(path, kind="orders")
    assert (again.created_count, again.unchanged_count, again.status) == (
        0, 3, ImportStatus.SUCCEEDED)
    assert Order.objects.count() == 3


def test_bad_order_rows(write_csv, run_import, admin_user):
    make_customers(admin_user)
    rows = [ORDER_HEADER,
            ["A-1", "C1", "2024-03-05", "-5", ""],
            ["A-2", "C9", "2024-03-05", "10", ""],
            ["A-3", "C2", "someday", "abc", ""],
            ["A-4", "C2", "2024-03-05", "10", "lost"]]
    run = run_import(write_csv("o.csv", rows), kind="orders")
    assert run.status == ImportStatus.FAILED and Order.objects.count() == 0
    assert errors_of(run) == [
        (2, "实付金额", "The amount must not be negative (-5)."),
        (3, "客户编号", "No customer with C9."),
        (4, "下单时间", "“someday” is not a date (use e.g. 2024-03-05 or 2024年3月5日)."),
        (4, "实付金额", "“abc” is not an amount."),
        (5, "订单状态", "“lost” is not one of: pending, paid, fulfilled, cancelled, refunded."),
    ]


def test_orders_by_email_or_phone_and_duplicate_ids_in_file(write_csv, run_import, admin_user):
    make_customers(admin_user)
    rows = [["order_id", "email", "date", "amount"],
            ["B-1", "C1@X.CN", "2024-01-01", "1"],
            ["B-1", "c1@x.cn", "2024-01-01", "1"],
            ["B-2", "c2@x.cn", "2024-01-02", "2"]]
    run = run_import(write_csv("o.csv", rows), kind="orders")
    assert (run.created_count, run.skipped_count) == (2, 1)
    assert Order.objects.get(external_id="B-1").customer.email == "c1@x.cn"


def test_orders_of_invisible_customers_are_refused(write_csv, run_import, rep_north, rep_south):
    Customer.objects.create(name="Theirs", source="import", external_id="T1", owner=rep_south)
    rows = [["order_id", "customer_id", "date", "amount"], ["X-1", "T1", "2024-01-01", "1"]]
    run = run_import(write_csv("o.csv", rows), kind="orders", actor=rep_north)
    assert errors_of(run) == [(2, "customer_id", "The customer T1 is not visible to you.")]


def test_undo_orders(write_csv, run_import, admin_user):
    make_customers(admin_user)
    rows = [ORDER_HEADER, ["A-1", "C1", "2024-03-05", "1", ""]]
    run = run_import(write_csv("o.csv", rows), kind="orders")
    services.import_undo(actor=admin_user, run=run)
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 3


def test_products_upsert_on_sku(write_csv, run_import):
    rows = [["货号", "商品名称", "售价"], ["SKU1", "茶叶", "¥88"], ["SKU2", "茶杯", "20"]]
    run = run_import(write_csv("p.csv", rows), kind="products")
    assert run.created_count == 2
    rows[1][2] = "99"
    again = run_import(write_csv("p2.csv", rows), kind="products")
    assert (again.updated_count, again.unchanged_count) == (1, 1)


def test_interactions(write_csv, run_import, admin_user):
    make_customers(admin_user)
    rows = [["客户编号", "类型", "时间", "内容"], ["C1", "电话", "2024-03-05 10:00", "回访"]]
    run = run_import(write_csv("i.csv", rows), kind="interactions")
    assert run.created_count == 1
    interaction = Customer.objects.get(external_id="C1").interactions.get()
    assert (interaction.kind, interaction.body) == ("call", "回访")


def test_utf16_semicolon_file_imports(write_csv, run_import):
    path = write_csv("c.csv", messy_customers(), encoding="utf-16", delimiter=";")
    run = run_import(path)
    assert (run.status, run.created_count, run.encoding, run.delimiter) == (
        ImportStatus.SUCCEEDED, 4, "utf-16", ";")


def test_bytes_in_another_encoding_after_the_sample_fail_cleanly(data_dir, run_import):
    lines = ["name,city\n"] + [f"Person {n},Paris\n" for n in range(5000)]
    path = data_dir / "late.csv"
    path.write_bytes("".join(lines).encode() + "张三,上海\n".encode("gbk"))
    run = run_import(path)
    assert run.status == ImportStatus.FAILED
    assert "not valid utf-8 text" in run.detail
    assert Customer.objects.count() == 0


def test_upload_name_is_sanitised(data_dir, admin_user):
    run = services.import_upload(actor=admin_user, kind="customers", name="../../etc/x\x00.csv",
                                 chunks=[b"name,email\nA,a@x.cn\n"])
    assert run.original_name == "x.csv"
    assert str(data_dir / "data" / "imports" / "files") in run.file_path
