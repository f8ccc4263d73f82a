"""The wizard through the test client: upload → map → preview → review → import → result."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

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
