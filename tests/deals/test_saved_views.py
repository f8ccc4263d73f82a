"""Saved views of the deal board and list: private / team / everyone, a default, the page menu and the API."""

import json

import pytest

from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.deals import saved_views
from valuecrm.deals.models import DealView


@pytest.fixture
def views(rep_north, manager_north, rep_south):
    mine = saved_views.deal_view_create(actor=rep_north, name="Mine", filters={"amount_min": "5000"})
    team = saved_views.deal_view_create(actor=rep_north, name="North big", visibility="team",
                                        filters={"amount_min": "10000", "status": "open"})
    everyone = saved_views.deal_view_create(actor=manager_north, name="Closing soon", visibility="everyone",
                                            filters={"close_to": "2027-03-31"})
    south = saved_views.deal_view_create(actor=rep_south, name="South only", filters={"tier": "A"})
    return {"mine": mine, "team": team, "everyone": everyone, "south": south}


def _names(user):
    return [v.name for v in saved_views.deal_views_for(user)]


def test_who_sees_which_view(views, rep_north, rep_south, manager_north, admin_user, make_user, team_north):
    assert _names(rep_north) == ["Closing soon", "Mine", "North big"]
    assert _names(manager_north) == ["Closing soon", "North big"]              # team member, not the private one
    assert _names(rep_south) == ["Closing soon", "South only"]
    assert _names(admin_user) == ["Closing soon", "North big"]                 # sees every record: every team view
    assert _names(make_user("viewer_n", role="read_only", team=team_north)) == ["Closing soon", "North big"]
    assert views["team"].team_id == rep_north.team_id
    with pytest.raises(NotFound):
        saved_views.deal_view_get(user=rep_south, pk=views["mine"].pk)


def test_bad_input_names_the_field_and_writes_nothing(rep_north, make_user):
    with pytest.raises(ValidationFailed) as exc:
        saved_views.deal_view_create(actor=rep_north, name=" ", visibility="everyone",
                                     filters={"amount_min": "lots", "colour": "red", "close_from": "2027-13-01"})
    assert exc.value.errors == {
        "name": ["Enter a name."], "visibility": ["Only managers can share views with everyone."],
        "filters.colour": ["Unknown filter."], "filters.amount_min": ["Enter an amount."],
        "filters.close_from": ["Enter a date as YYYY-MM-DD."]}
    loner = make_user("loner", role="sales_rep")
    with pytest.raises(ValidationFailed) as exc:
        saved_views.deal_view_create(actor=loner, name="x", visibility="team", filters={})
    assert exc.value.errors == {"visibility": ["You are not in a team to share with."]}
    assert DealView.objects.count() == 0


def test_default_view_and_who_may_change(views, rep_north, manager_north, admin_user):
    assert saved_views.default_view_id(manager_north) is None
    # Anyone who sees a view may open with it; only the owner changes it.
    saved_views.deal_view_update(actor=manager_north, view=views["team"], data={"is_default": True})
    assert saved_views.default_view_id(manager_north) == views["team"].pk
    assert saved_views.default_view_id(rep_north) is None
    with pytest.raises(PermissionDenied):
        saved_views.deal_view_update(actor=manager_north, view=views["team"], data={"name": "Mine now"})
    with pytest.raises(PermissionDenied):
        saved_views.deal_view_delete(actor=manager_north, view=views["team"])
    # Made private by its owner, the manager's default no longer applies.
    saved_views.deal_view_update(actor=rep_north, view=views["team"], data={"visibility": "private"})
    assert saved_views.default_view_id(manager_north) is None
    saved_views.deal_view_delete(actor=admin_user, view=views["everyone"])  # admins tidy shared views
    assert _names(rep_north) == ["Mine", "North big"]


def test_pages_open_the_default_view_and_save_one(client, views, rep_north, pipeline):
    client.force_login(rep_north)
    assert client.get("/deals/").status_code == 200                           # no default: the plain board
    saved_views.deal_view_update(actor=rep_north, view=views["mine"], data={"is_default": True})
    r = client.get("/deals/list/")
    assert r.status_code == 302 and r["Location"] == f"/deals/list/?amount_min=5000&view={views['mine'].pk}"
    assert client.get("/deals/list/?view=0").status_code == 200               # "no view" stays plain
    r = client.get(f"/deals/?view={views['team'].pk}")
    assert r["Location"] == f"/deals/?status=open&amount_min=10000&view={views['team'].pk}"
    page = client.get(r["Location"]).content.decode()
    assert f'data-view-id="{views["team"].pk}"' in page and "Amount at least: 10000" in page

    r = client.post("/deals/views/", {"name": "Tier A", "visibility": "private", "make_default": "1",
                                      "query": f"tier=A&view={views['mine'].pk}&after=x", "next": "/deals/"})
    new = DealView.objects.get(name="Tier A")
    assert (new.filters, r.status_code, r["Location"]) == ({"tier": "A"}, 302, f"/deals/?tier=A&view={new.pk}")
    assert saved_views.default_view_id(rep_north) == new.pk
    # A view without filters is the plain page under its name, not a redirect loop.
    bare = saved_views.deal_view_create(actor=rep_north, name="Everything", filters={})
    assert client.get(f"/deals/?view={bare.pk}").status_code == 200
    r = client.post(f"/deals/views/{new.pk}/", {"action": "delete", "next": "/deals/"})
    assert r["Location"] == "/deals/?view=0" and not DealView.objects.filter(pk=new.pk).exists()


def test_api_crud(api_client_for, views, rep_north, rep_south):
    api = api_client_for(rep_north)
    listed = api.get("/api/v1/deals/views").json()
    assert [(v["name"], v["visibility"], v["is_default"]) for v in listed] == [
        ("Closing soon", "everyone", False), ("Mine", "private", False), ("North big", "team", False)]
    r = api.post("/api/v1/deals/views", json.dumps({"name": "Q1", "filters": {"close_from": "2027-01-01"},
                                                    "is_default": True}), content_type="application/json")
    assert r.status_code == 201
    body = r.json()
    assert (body["filters"], body["visibility"], body["is_default"]) == ({"close_from": "2027-01-01"}, "private", True)
    r = api.post("/api/v1/deals/views", json.dumps({"name": "Bad", "filters": {"owner": "me"}}),
                 content_type="application/json")
    assert r.status_code == 422 and list(r.json()["errors"]) == ["filters.owner"]
    url = f"/api/v1/deals/views/{body['id']}"
    r = api.patch(url, json.dumps({"name": "Q1 2027", "visibility": "team"}), content_type="application/json")
    assert r.status_code == 200 and (r.json()["name"], r.json()["team_id"]) == ("Q1 2027", rep_north.team_id)
    assert api.patch(url, json.dumps({"name": None}), content_type="application/json").status_code == 422
    assert api_client_for(rep_south).get(url).status_code == 404
    assert api_client_for(rep_south).delete(url).status_code == 404
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
