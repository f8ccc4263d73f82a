"""Who sees which deal, on every path: the board, the list, the record page, the API, search and the export."""

import json

import pytest

from valuecrm.deals.models import Deal


@pytest.fixture
def world(rep_north, rep_south, north_customer, south_customer, make_deal, manager_north, admin_user, make_user,
          team_north):
    n = make_deal(rep_north, north_customer, name="NorthDeal", amount="100")
    s = make_deal(rep_south, south_customer, name="SouthDeal", amount="300")
    return {"north": n, "south": s, "viewer": make_user("viewer_n", role="read_only", team=team_north)}


ROLES = {  # user fixture → the deals it sees
    "rep_north": {"NorthDeal"}, "rep_south": {"SouthDeal"}, "manager_north": {"NorthDeal"},
    "admin_user": {"NorthDeal", "SouthDeal"}, "viewer": {"NorthDeal"},
}


def _user(request, world, name):
    return world["viewer"] if name == "viewer" else request.getfixturevalue(name)


@pytest.mark.parametrize("who", sorted(ROLES))
def test_every_path_shows_the_same_deals(request, world, who, client, api_client_for, pipeline):
    user = _user(request, world, who)
    expected = ROLES[who]
    client.force_login(user)
    board = client.get(f"/deals/?pipeline={pipeline.pk}").content.decode()
    assert {name for name in ("NorthDeal", "SouthDeal") if name in board} == expected
    listing = client.get("/deals/list/").content.decode()
    assert {name for name in ("NorthDeal", "SouthDeal") if name in listing} == expected
    searched = client.get("/deals/list/?q=Deal").content.decode()
    assert {name for name in ("NorthDeal", "SouthDeal") if name in searched} == expected
    export = client.get("/deals/export.csv").content.decode("utf-8-sig")
    assert {name for name in ("NorthDeal", "SouthDeal") if name in export} == expected
    for deal in (world["north"], world["south"]):
        page = client.get(f"/deals/{deal.pk}/")
        assert page.status_code == (200 if deal.name in expected else 404)
    api = api_client_for(user)
    items = api.get("/api/v1/deals").json()["items"]
    assert {d["name"] for d in items} == expected
    for deal in (world["north"], world["south"]):
        assert api.get(f"/api/v1/deals/{deal.pk}").status_code == (200 if deal.name in expected else 404)
        assert api.get(f"/api/v1/deals/{deal.pk}/stage-log").status_code == (200 if deal.name in expected else 404)


def test_board_totals(client, rep_north, north_customer, make_deal, pipeline, stages):
    make_deal(rep_north, north_customer, name="A", amount="1000")
    make_deal(rep_north, north_customer, name="B", amount="500", probability=0.5)
    client.force_login(rep_north)
    from valuecrm.deals.selectors import DealFilters, board

    cols = {c.stage.name: c for c in board(user=rep_north, pipeline=pipeline, filters=DealFilters())}
    q = cols["Qualified"]
    assert (q.count, q.total, str(q.weighted)) == (2, 1500, "350.0")  # 1000 × 0.1 + 500 × 0.5
    assert q.avg_days is not None and 0 <= q.avg_days < 0.01
    assert cols["Proposal"].count == 0
    html = client.get(f"/deals/?pipeline={pipeline.pk}&amount_min=600").content.decode()
    assert 'data-col-count>1<' in html and "Amount at least" in html  # the chip


def test_refused_move_answers_a_problem_and_keeps_the_stage(client, make_user, team_north, rep_north,
                                                            north_customer, make_deal, stages):
    deal = make_deal(rep_north, north_customer)
    viewer = make_user("ro", role="read_only", team=team_north)
    client.force_login(viewer)
    r = client.post(f"/deals/{deal.pk}/move/", {"stage_id": stages["Proposal"].pk})
    assert r.status_code == 403 and r["Content-Type"] == "application/problem+json"
    assert Deal.objects.get(pk=deal.pk).stage_id == stages["Qualified"].pk
    client.force_login(rep_north)
    r = client.post(f"/deals/{deal.pk}/move/", {"stage_id": stages["Lost"].pk})
    assert r.status_code == 422 and "lost_reason_id" in r.json()["errors"]
    r = client.post(f"/deals/{deal.pk}/move/", {"stage_id": stages["Proposal"].pk})
    assert r.status_code == 200 and json.loads(r.content)["stage_id"] == stages["Proposal"].pk


def test_api_create_patch_and_forecast(api_client_for, rep_north, north_customer, pipeline, stages):
    api = api_client_for(rep_north)
    r = api.post("/api/v1/deals", {"customer_id": north_customer.pk, "pipeline_id": pipeline.pk, "name": "API",
                                   "amount": "2000", "expected_close_date": "2027-02-10"},
                 content_type="application/json")
    assert r.status_code == 201, r.content
    deal = r.json()
    assert (deal["status"], deal["probability"], deal["forecast_category"]) == ("open", None, "pipeline")
    r = api.patch(f"/api/v1/deals/{deal['id']}", {"stage_id": stages["Negotiation"].pk, "forecast_category": "commit"},
                  content_type="application/json")
    assert r.status_code == 200 and r.json()["stage_id"] == stages["Negotiation"].pk
    f = api.get("/api/v1/forecast?period=2027-Q1").json()
    total = f["rows"][-1]
    assert (f["start"], f["end"]) == ("2027-01-01", "2027-04-01")
    assert (total["weighted"], total["commit"], total["n_open"]) == ("1400.00", "2000.00", 1)
    assert api.get("/api/v1/forecast?period=2027-Q5").status_code == 422
    bad = api.post("/api/v1/deals", {"customer_id": north_customer.pk, "name": "x", "probability": 3},
                   content_type="application/json")
    assert bad.status_code == 422


def test_api_pool_claim_release(api_client_for, admin_user, rep_north):
    from valuecrm.customers.services import customer_create

    c = customer_create(actor=admin_user, data={"name": "Pool Co", "owner_id": None})
    api = api_client_for(rep_north)
    assert [i["name"] for i in api.get("/api/v1/pool").json()["items"]] == ["Pool Co"]
    assert api.post(f"/api/v1/pool/{c.pk}/claim").status_code == 200
    assert api.post(f"/api/v1/pool/{c.pk}/claim").status_code == 404
    assert api.get("/api/v1/pool").json()["items"] == []
    r = api.post(f"/api/v1/pool/{c.pk}/release", {"reason": ""}, content_type="application/json")
    assert r.status_code == 422
    assert api.post(f"/api/v1/pool/{c.pk}/release", {"reason": "no fit"},
                    content_type="application/json").status_code == 200


@pytest.mark.parametrize("url", ["/deals/", "/deals/list/", "/deals/forecast/", "/deals/dashboard/", "/pool/",
                                 "/deals/new/"])
def test_pages_render_in_chinese(client, rep_north, north_customer, make_deal, url, settings):
    make_deal(rep_north, north_customer, name="中文商机")
    client.force_login(rep_north)
    r = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 200
    from django.utils import translation

    with translation.override("zh-hans"):
        assert translation.gettext("Deals") == "商机"
