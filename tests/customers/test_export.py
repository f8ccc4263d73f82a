import csv
import io

from django.urls import reverse

from valuecrm.customers.models import Customer, CustomFieldDefinition, Tag

from .helpers import client_for, make


def download(client, **params):
    response = client.get(reverse("customer-export"), params)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def parse(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_export_is_utf8_with_bom_and_a_header(admin_user):
    make("王小明", email="wang@example.com", phone="+8613800138000", city="上海")
    response, body = download(client_for(admin_user))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    assert body.startswith(b"\xef\xbb\xbf")
    rows = parse(body)
    assert rows[0][:6] == ["ID", "Name", "Kind", "Company", "Email", "Phone"]
    assert rows[1][1] == "王小明" and rows[1][5] == "+8613800138000"
    assert len(rows) == 2


def test_export_contains_only_visible_customers(rep_north, rep_south):
    make("Mine", rep_north)
    make("Theirs", rep_south)
    _, body = download(client_for(rep_north))
    assert [row[1] for row in parse(body)[1:]] == ["Mine"]


def test_export_respects_search_filters_and_sort(admin_user):
    vip = Tag.objects.create(name="vip")
    for name in ["Cora", "Abe", "Bea"]:
        make(name, city="Shanghai").tags.add(vip)
    make("Dan", city="Shanghai")
    make("Eve", city="Beijing").tags.add(vip)

    _, body = download(client_for(admin_user), city="Shanghai", tag="vip", sort="name")
    assert [row[1] for row in parse(body)[1:]] == ["Abe", "Bea", "Cora"]
    _, body = download(client_for(admin_user), q="e", sort="-name")
    assert [row[1] for row in parse(body)[1:]] == ["Eve", "Bea", "Abe"]


def test_export_streams_every_row_across_batches(admin_user):
    Customer.objects.bulk_create([Customer(name=f"C{i:04d}") for i in range(1234)])
    _, body = download(client_for(admin_user), sort="name")
    names = [row[1] for row in parse(body)[1:]]
    assert names == [f"C{i:04d}" for i in range(1234)]


def test_export_includes_custom_fields_and_tags(admin_user):
    CustomFieldDefinition.objects.create(key="vip_level", label="VIP level", label_zh="会员等级",
                                         field_type="number", position=1)
    CustomFieldDefinition.objects.create(key="newsletter", label="Newsletter", field_type="boolean",
                                         position=2)
    c = make("Li", custom_fields={"vip_level": 3, "newsletter": True})
    c.tags.add(Tag.objects.create(name="a"), Tag.objects.create(name="b"))

    rows = parse(download(client_for(admin_user))[1])
    header, row = rows[0], rows[1]
    assert header[-2:] == ["VIP level", "Newsletter"]
    assert row[-2:] == ["3", "Yes"]
    assert row[header.index("Tags")] == "a, b"


def test_export_defuses_spreadsheet_formulas(admin_user):
    make("=HYPERLINK(\"http://evil\")", city="@SUM(A1)", phone="+8613800138000")
    row = parse(download(client_for(admin_user))[1])[1]
    assert row[1] == "'=HYPERLINK(\"http://evil\")"
    assert row[5] == "+8613800138000"  # a phone number is data, left alone


def test_export_with_bad_filter_is_a_400_naming_it(admin_user):
    response, body = download(client_for(admin_user), created_from="yesterday")
    assert response.status_code == 400
    assert b"created_from" in body


def test_export_header_in_chinese(admin_user):
    admin_user.language = "zh-hans"
    admin_user.save()
    make("A")
    header = parse(download(client_for(admin_user))[1])[0]
    assert header[:2] == ["ID", "名称"]
