from valuecrm.customers.models import Customer
from valuecrm.duplicates.models import CandidateStatus, CustomerMerge, DuplicateCandidate


def test_duplicates_page_scan_dismiss_merge_and_undo(client, admin_user, make_customer):
    a = make_customer(name="Wang Fang", phone="13800138000", city="Shanghai")
    b = make_customer(name="Fang Wang", phone="13800138000", email="wf@example.com")
    client.force_login(admin_user)
    assert client.post("/duplicates/scan/").status_code == 302
    page = client.get("/duplicates/")
    assert page.status_code == 200
    assert "Wang Fang" in page.content.decode() and "same phone" in page.content.decode()

    review = client.get(f"/duplicates/merge/?survivor={a.pk}&merged={b.pk}")
    html = review.content.decode()
    assert review.status_code == 200
    assert 'name="choice-email"' in html and 'name="choice-name"' in html
    assert 'name="choice-phone"' not in html  # equal values need no choice

    response = client.post("/duplicates/merge/", {"survivor": a.pk, "merged": b.pk,
                                                  "choice-name": "merged", "choice-email": "merged"})
    assert response.status_code == 302 and response["Location"] == f"/customers/{a.pk}/"
    survivor = Customer.objects.get(pk=a.pk)
    assert (survivor.name, survivor.email, survivor.city) == ("Fang Wang", "wf@example.com", "Shanghai")
    assert not Customer.objects.filter(pk=b.pk).exists()
    merge = CustomerMerge.objects.get()
    assert "Undo merge" in client.get("/merges/").content.decode()

    assert client.post(f"/merges/{merge.pk}/undo/").status_code == 302
    assert Customer.objects.get(pk=b.pk).email == "wf@example.com"
    assert Customer.objects.get(pk=a.pk).name == "Wang Fang"
    # the pair is back for review
    pair = DuplicateCandidate.objects.get()
    assert pair.status == CandidateStatus.OPEN
    client.post(f"/duplicates/{pair.pk}/dismiss/")
    assert DuplicateCandidate.objects.get().status == CandidateStatus.DISMISSED


def test_reps_cannot_use_duplicate_pages(client, rep_north, make_customer):
    a = make_customer(actor=rep_north, name="A")
    b = make_customer(actor=rep_north, name="B")
    client.force_login(rep_north)
    assert client.get("/duplicates/").status_code == 403
    assert client.get(f"/duplicates/merge/?survivor={a.pk}&merged={b.pk}").status_code == 403
    assert client.post("/duplicates/merge/", {"survivor": a.pk, "merged": b.pk}).status_code == 403
    assert Customer.objects.filter(pk__in=[a.pk, b.pk]).count() == 2
    assert "/duplicates/" not in client.get("/customers/").content.decode()


def test_manager_cannot_merge_outside_visibility(client, manager_north, rep_south, make_customer):
    a = make_customer(actor=manager_north, name="Mine")
    b = make_customer(actor=rep_south, name="Theirs")
    client.force_login(manager_north)
    assert client.get(f"/duplicates/merge/?survivor={a.pk}&merged={b.pk}").status_code == 404


def test_duplicates_api(admin_user, rep_north, make_customer, api_client_for):
    a = make_customer(name="Li Na", email="li.na@example.com")
    b = make_customer(name="Li Na", email="li.na@example.com")
    client = api_client_for(admin_user)
    scan = client.post("/api/v1/duplicates/scan")
    assert scan.status_code == 200 and scan.json()["found"] == 1
    listing = client.get("/api/v1/duplicates").json()
    assert listing["total"] == 1
    item = listing["items"][0]
    assert (item["customer_a"]["id"], item["customer_b"]["id"]) == (a.pk, b.pk)
    assert item["matched_on"] == ["email", "name"] and item["score"] == 73  # same e-mail 50 + same name 23
    assert api_client_for(rep_north).get("/api/v1/duplicates").status_code == 403
    assert api_client_for(rep_north).post("/api/v1/duplicates/scan").status_code == 403
