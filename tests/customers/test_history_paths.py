"""Every path that changes a customer leaves a line on its Change history tab:
who, how (web, API, import, merge, bulk), and before → after.

The customers start as the bulk paths leave them (no history row at all, as after
an import or the demo): that was why an edit made on the form did not show.
"""

import csv
import io

import pytest
from django.urls import reverse

from valuecrm.customers import services
from valuecrm.customers.history import customer_history
from valuecrm.customers.models import Customer
from valuecrm.duplicates.merge import customer_merge, customer_merge_undo
from valuecrm.imports import services as imports

from .helpers import client_for


def _bulk_created(name, owner=None, **fields) -> Customer:
    """A customer as imports write them: a plain INSERT, no history."""
    team = owner.team if owner else None
    (customer,) = Customer.objects.bulk_create([Customer(name=name, owner=owner, team=team, **fields)])
    assert not Customer.history.filter(id=customer.pk).exists()
    return Customer.objects.get(pk=customer.pk)


def _changes(customer, reason_prefix=""):
    """[(who, via, [(field, before, after)])] of the changed entries, newest first."""
    return [
        (e.who, e.via, [(c.field, c.before, c.after) for c in e.changes])
        for e in customer_history(customer=customer)
        if e.action == "~" and e.reason.startswith(reason_prefix)
    ]


def test_form_edit_of_a_bulk_created_customer_shows_on_the_tab(manager_north, rep_north):
    customer = _bulk_created("王芳", rep_north, city="上海")
    client = client_for(manager_north)
    form = client.get(reverse("customer-edit", args=[customer.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(name="王芳", kind="person", city="苏州")
    response = client.post(reverse("customer-edit", args=[customer.pk]), data)
    assert response.status_code in (200, 302), response.content[:500]
    assert Customer.objects.get(pk=customer.pk).city == "苏州"

    assert _changes(customer) == [(manager_north.display_name, "on the web", [("city", "上海", "苏州")])]
    # The stored row before the first change is kept as the record's creation.
    created = [e for e in customer_history(customer=customer) if e.action == "+"]
    assert len(created) == 1 and created[0].reason == "baseline"
    page = client.get(reverse("customer-detail", args=[customer.pk]), {"tab": "history"})
    assert "苏州" in page.content.decode() and "上海" in page.content.decode()


def test_api_edit_says_through_the_api(admin_user, api_client_for):
    customer = _bulk_created("李雷", city="北京")
    response = api_client_for(admin_user).patch(
        f"/api/v1/customers/{customer.pk}", {"city": "天津"}, content_type="application/json")
    assert response.status_code == 200
    assert _changes(customer) == [(admin_user.display_name, "through the API", [("city", "北京", "天津")])]
    body = api_client_for(admin_user).get(f"/api/v1/customers/{customer.pk}/history").json()
    assert body[0]["reason"] == "api" and body[0]["changes"][0]["after"] == "天津"


def test_bulk_assign_records_the_owner_change(admin_user, rep_north, rep_south):
    customer = _bulk_created("韩梅梅", rep_north)
    services.customers_bulk_assign(actor=admin_user, customer_ids=[customer.pk], owner=rep_south)
    (entry,) = _changes(customer)
    assert entry[0] == admin_user.display_name
    assert ("owner", rep_north.display_name, rep_south.display_name) in entry[2]


@pytest.fixture
def import_file(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"

    def _write(rows):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([["姓名", "手机", "城市"], *rows])
        path = tmp_path / "update.csv"
        path.write_bytes(buffer.getvalue().encode())
        return path

    return _write


def _import(actor, path):
    with open(path, "rb") as handle:
        run = imports.import_upload(actor=actor, kind="customers", name=path.name, chunks=[handle.read()])
    run = imports.import_configure(actor=actor, run=run, mapping=None, options={"key": "phone"})
    return imports.import_run_now(actor=actor, run=run)


def test_import_update_and_its_undo_show_with_the_run(admin_user, import_file, huey_immediate):
    customer = services.customer_create(actor=admin_user, data={"name": "张三", "phone": "13800138000",
                                                                  "city": "上海"})
    run = _import(admin_user, import_file([["张三", "13800138000", "杭州"]]))
    assert run.updated_count == 1

    assert _changes(customer, "import:") == [
        (admin_user.display_name, f"by import #{run.pk}", [("city", "上海", "杭州")])]

    imports.import_undo(actor=admin_user, run=run)
    assert _changes(customer, "import-undo:") == [
        (admin_user.display_name, f"undo of import #{run.pk}", [("city", "杭州", "上海")])]


def test_import_update_of_a_bulk_created_customer_gets_a_baseline(admin_user, import_file, huey_immediate):
    customer = _bulk_created("赵四", phone="+8613900139000", city="沈阳")
    from valuecrm.customers.models import ContactPoint

    ContactPoint.objects.create(customer=customer, kind="phone", value="+8613900139000", is_primary=True)
    run = _import(admin_user, import_file([["赵四", "13900139000", "大连"]]))
    assert run.updated_count == 1
    assert _changes(customer, "import:") == [
        (admin_user.display_name, f"by import #{run.pk}", [("city", "沈阳", "大连")])]


def test_merge_and_undo_show_on_the_survivor(admin_user):
    survivor = _bulk_created("Acme", city="")
    merged = _bulk_created("ACME Co", city="Shanghai")
    customer_merge(actor=admin_user, survivor=survivor, merged=merged, field_choices={"city": "merged"})
    assert _changes(survivor, "merge:") == [
        (admin_user.display_name, f"merged with #{merged.pk}", [("city", "—", "Shanghai")])]

    from valuecrm.duplicates.models import CustomerMerge

    customer_merge_undo(actor=admin_user, merge=CustomerMerge.objects.get())
    assert _changes(survivor, "merge-undo:") == [
        (admin_user.display_name, f"undo of the merge with #{merged.pk}", [("city", "Shanghai", "—")])]
    # The merged customer comes back with a line saying so.
    assert [e.via for e in customer_history(customer=merged) if e.reason.startswith("merge-undo:")] == [
        f"undo of the merge with #{survivor.pk}"]
