"""Contact persons on a deal: people of the deal's customer, with a role, on the page and the API."""

import json

import pytest

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.deals import selectors, services
from valuecrm.deals.models import DealContact


@pytest.fixture
def company(rep_north):
    from valuecrm.customers.services import customer_create

    org = customer_create(actor=rep_north, data={"name": "华北机械", "kind": "organization"})
    people = [customer_create(actor=rep_north, data={"name": n, "company_id": org.pk}) for n in ("张伟", "李娜")]
    stranger = customer_create(actor=rep_north, data={"name": "王芳"})  # no company
    return org, people, stranger


def test_a_contact_of_the_customer_joins_with_a_role_and_can_change_it(rep_north, company, make_deal):
    org, (zhang, li), _s = company
    deal = make_deal(rep_north, org, name="Lathes")
    services.deal_contact_set(actor=rep_north, deal=deal, person_id=li.pk, role="user")
    services.deal_contact_set(actor=rep_north, deal=deal, person_id=zhang.pk, role="influencer")
    services.deal_contact_set(actor=rep_north, deal=deal, person_id=zhang.pk, role="decision_maker")
    services.deal_contact_set(actor=rep_north, deal=deal, person_id=zhang.pk, role="decision_maker")  # no change
    rows = selectors.deal_contacts(user=rep_north, deal=deal)
    assert [(r.person.name, r.role) for r in rows] == [("张伟", "decision_maker"), ("李娜", "user")]
    assert OutboxEvent.objects.filter(name="deal.updated", payload__changed_fields=["contacts"]).count() == 3
    assert [p.name for p in selectors.contact_candidates(user=rep_north, deal=deal)] == []
    services.deal_contact_remove(actor=rep_north, deal=deal, person_id=li.pk)
    assert [p.name for p in selectors.contact_candidates(user=rep_north, deal=deal)] == ["李娜"]
    with pytest.raises(NotFound):
        services.deal_contact_remove(actor=rep_north, deal=deal, person_id=li.pk)


def test_only_people_of_the_deals_customer_and_known_roles(rep_north, company, make_deal):
    org, (zhang, _li), stranger = company
    deal = make_deal(rep_north, org, name="Lathes")
    for person in (stranger, org):
        with pytest.raises(ValidationFailed) as exc:
            services.deal_contact_set(actor=rep_north, deal=deal, person_id=person.pk, role="user")
        assert exc.value.errors == {"person_id": ["Choose a contact person of this deal's customer."]}
    with pytest.raises(ValidationFailed) as exc:
        services.deal_contact_set(actor=rep_north, deal=deal, person_id=zhang.pk, role="boss")
    assert exc.value.errors == {"role": ["Not a valid choice."]}
    assert DealContact.objects.count() == 0


def test_moving_the_deal_to_another_customer_drops_the_old_contacts(rep_north, company, make_deal, north_customer):
    org, (zhang, _li), _s = company
    deal = make_deal(rep_north, org, name="Lathes")
    services.deal_contact_set(actor=rep_north, deal=deal, person_id=zhang.pk, role="user")
    services.deal_update(actor=rep_north, deal=deal, data={"customer_id": north_customer.pk})
    assert DealContact.objects.count() == 0


def test_page_shows_and_edits_contacts(client, rep_north, company, make_deal):
    org, (zhang, li), stranger = company
    deal = make_deal(rep_north, org, name="Lathes")
    client.force_login(rep_north)
    r = client.post(f"/deals/{deal.pk}/", {"contact_set": "1", "person_id": zhang.pk, "role": "decision_maker"})
    assert r.status_code == 302
    page = client.get(f"/deals/{deal.pk}/").content.decode()
    assert f'data-contact="{zhang.pk}"' in page and f'<option value="{li.pk}">李娜</option>' in page
    r = client.post(f"/deals/{deal.pk}/", {"contact_set": "1", "person_id": stranger.pk, "role": "user"})
    assert r.status_code == 422
    assert "Choose a contact person of this deal&#x27;s customer." in r.content.decode()
    r = client.post(f"/deals/{deal.pk}/", {"contact_remove": "1", "person_id": zhang.pk})
    assert r.status_code == 302 and DealContact.objects.count() == 0


def test_api_contacts(api_client_for, rep_north, rep_south, company, make_deal):
    org, (zhang, _li), stranger = company
    deal = make_deal(rep_north, org, name="Lathes")
    api = api_client_for(rep_north)
    url = f"/api/v1/deals/{deal.pk}/contacts"
    r = api.post(url, json.dumps({"person_id": stranger.pk, "role": "user"}), content_type="application/json")
    assert r.status_code == 422 and r["Content-Type"] == "application/problem+json"
    assert list(r.json()["errors"]) == ["person_id"]
    r = api.post(url, json.dumps({"person_id": zhang.pk, "role": "influencer"}), content_type="application/json")
    assert r.status_code == 200 and r.json() == {"person_id": zhang.pk, "name": "张伟", "role": "influencer"}
    assert api.get(url).json() == [{"person_id": zhang.pk, "name": "张伟", "role": "influencer"}]
    assert api_client_for(rep_south).get(url).status_code == 404
    assert api.delete(f"{url}/{zhang.pk}").status_code == 204
    assert api.delete(f"{url}/{zhang.pk}").status_code == 404
