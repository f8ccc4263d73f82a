import io
import json
import subprocess
import sys
import zipfile

from openpyxl import load_workbook

from valuecrm.exports.exports import account_export


def _login(client, user):
    client.force_login(user)
    return client


def test_xlsx_export_has_the_visible_filtered_rows(client, make_customer, rep_north, rep_south):
    mine = make_customer(actor=rep_north, name="=HYPERLINK(\"x\")", email="a@example.com", tags=["vip", "b2b"])
    make_customer(actor=rep_north, name="Zed", email="z@example.com")
    make_customer(actor=rep_south, name="Someone else's")
    response = _login(client, rep_north).get("/customers/export.xlsx?q=example.com&sort=name")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert header[0] == "ID" and "Name" in header and "Tags" in header
    name_col, tag_col = header.index("Name"), header.index("Tags")
    assert [r[name_col] for r in rows[1:]] == ['=HYPERLINK("x")', "Zed"]
    assert rows[1][0] == mine.pk
    assert rows[1][tag_col] == "b2b, vip"
    # stored as text, not as a formula
    book = load_workbook(io.BytesIO(b"".join(_login(client, rep_north).get(
        "/customers/export.xlsx?sort=name").streaming_content)))
    assert book.active.cell(row=2, column=name_col + 1).data_type == "s"


def test_xlsx_export_rejects_bad_list_settings(client, rep_north):
    response = _login(client, rep_north).get("/customers/export.xlsx?sort=bogus")
    assert response.status_code == 400
    assert "sort" in response.content.decode()


def test_account_export_writes_one_jsonl_per_table(tmp_path, make_customer, fill_customer, admin_user):
    org = make_customer(name="Acme", kind="organization", email="acme@example.com", tags=["vip"])
    fill_customer(org, tag="acme", wechat="acme_wx", order_id="o-1")
    make_customer(name="Solo")
    counts = account_export(tmp_path)
    expected = {"teams": 0, "users": 1, "custom_field_definitions": 0, "tags": 3, "customers": 3,
                "customer_tags": 2, "contact_points": 2, "addresses": 1, "interactions": 1, "tasks": 1,
                "notes": 1, "products": 0, "orders": 1, "order_lines": 1}
    assert counts == expected
    for name, n in expected.items():
        lines = (tmp_path / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == n
    users = [json.loads(x) for x in (tmp_path / "users.jsonl").read_text().splitlines()]
    assert users[0]["username"] == "root" and "password" not in users[0]
    customers = [json.loads(x) for x in (tmp_path / "customers.jsonl").read_text().splitlines()]
    assert customers[0]["name"] == "Acme" and customers[0]["owner_id"] == admin_user.pk
    lines = [json.loads(x) for x in (tmp_path / "order_lines.jsonl").read_text().splitlines()]
    assert lines[0]["unit_price"] == "10.00" and lines[0]["quantity"] == "2.000"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tables"] == expected


def test_account_export_download_is_admin_only(client, admin_user, manager_north, make_customer):
    make_customer(name="One")
    assert _login(client, manager_north).post("/integrations/export/").status_code == 403
    response = _login(client, admin_user).post("/integrations/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {"customers.jsonl", "orders.jsonl", "users.jsonl", "manifest.json"} <= names
    assert len(archive.read("customers.jsonl").decode().splitlines()) == 1


def test_cli_export_account(tmp_path):
    # A fresh database in a temporary data dir: the command migrates nothing, so migrate first.
    env = {"VALUECRM_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    bin_dir = sys.executable.rsplit("/", 1)[0]
    subprocess.run([f"{bin_dir}/valuecrm", "migrate"], env=env, check=True, capture_output=True)
    out = tmp_path / "out"
    result = subprocess.run([f"{bin_dir}/valuecrm", "export", "account", str(out)], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "teams.jsonl", "users.jsonl", "custom_field_definitions.jsonl", "tags.jsonl",
         "customers.jsonl", "customer_tags.jsonl", "contact_points.jsonl", "addresses.jsonl",
         "interactions.jsonl", "tasks.jsonl", "notes.jsonl", "products.jsonl", "orders.jsonl",
         "order_lines.jsonl"])
    assert json.loads((out / "manifest.json").read_text())["tables"]["customers"] == 0
