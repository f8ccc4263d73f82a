import datetime as dt

import pytest
from django.utils import timezone

from valuecrm.loyalty import services
from valuecrm.loyalty.models import Account

pytestmark = pytest.mark.django_db


def test_program_get_and_update(api_client_for, admin_user, rep_north):
    client = api_client_for(admin_user)
    body = client.get("/api/v1/loyalty/program").json()
    assert (body["points_per_cny"], body["escrow_days"], body["enabled"]) == ("1", 7, True)  # the defaults, nothing saved yet
    resp = client.patch("/api/v1/loyalty/program", {"points_per_cny": "2.5", "expiry_days": 180,
                                                     "escrow_days": 14, "enabled": True},
                        content_type="application/json")
    assert resp.status_code == 200
    assert (resp.json()["points_per_cny"], resp.json()["expiry_days"], resp.json()["escrow_days"]) == (
        "2.500", 180, 14)
    denied = api_client_for(rep_north).patch("/api/v1/loyalty/program", {"escrow_days": 1},
                                             content_type="application/json")
    assert denied.status_code == 403
    assert denied["Content-Type"] == "application/problem+json"
    bad = client.patch("/api/v1/loyalty/program", {"escrow_days": -1}, content_type="application/json")
    assert bad.status_code == 422


def test_account_ledger_redeem_adjust(api_client_for, admin_user, program, customer, place_order):
    c = customer()
    place_order(c, "250", placed_at=timezone.now() - dt.timedelta(days=9))
    services.escrow_release()
    client = api_client_for(admin_user)
    account = client.get(f"/api/v1/loyalty/accounts/{c.pk}").json()
    assert {k: account[k] for k in ("balance", "pending", "tier", "lifetime_earned", "expiring_30d")} == {
        "balance": 250, "pending": 0, "tier": "standard", "lifetime_earned": 250, "expiring_30d": 0}

    payload = {"customer_id": c.pk, "points": 200, "reference": "POS-88"}
    first = client.post("/api/v1/loyalty/redeem", payload, content_type="application/json")
    again = client.post("/api/v1/loyalty/redeem", payload, content_type="application/json")
    assert (first.status_code, again.status_code, first.json()["id"]) == (201, 200, again.json()["id"])
    short = client.post("/api/v1/loyalty/redeem", {**payload, "reference": "POS-89"},
                        content_type="application/json")
    assert short.status_code == 409
    assert (short["Content-Type"], short.json()["title"]) == ("application/problem+json",
                                                             "Not enough points: 50 available.")

    no_reason = client.post("/api/v1/loyalty/adjust", {"customer_id": c.pk, "points": 5, "reason": " "},
                            content_type="application/json")
    assert no_reason.status_code == 422
    assert "reason" in no_reason.json()["errors"]
    ok = client.post("/api/v1/loyalty/adjust", {"customer_id": c.pk, "points": -70, "reason": "错误积分"},
                     content_type="application/json")
    assert (ok.status_code, ok.json()["points"]) == (201, -70)
    assert Account.objects.get(customer=c).balance == -20

    page = client.get(f"/api/v1/loyalty/ledger?customer_id={c.pk}&limit=2").json()
    assert [row["kind"] for row in page["items"]] == ["adjust", "redeem"]
    rest = client.get(f"/api/v1/loyalty/ledger?customer_id={c.pk}&cursor={page['next_cursor']}").json()
    assert [row["kind"] for row in rest["items"]] == ["release", "earn"]
    assert rest["next_cursor"] is None
    assert client.get("/api/v1/loyalty/ledger?customer_id=99999").status_code == 404


def test_referrals_api(api_client_for, admin_user, program, customer, place_order):
    ann, bob = customer("Ann"), customer("Bob")
    place_order(ann, "10")
    code = Account.objects.get(customer=ann).referral_code
    client = api_client_for(admin_user)
    made = client.post("/api/v1/loyalty/referrals", {"customer_id": bob.pk, "code": code},
                       content_type="application/json")
    assert made.status_code == 201
    assert made.json()["status"] == "registered"
    listed = client.get(f"/api/v1/loyalty/referrals?customer_id={ann.pk}").json()
    assert [(r["referrer_customer_id"], r["referee_customer_id"]) for r in listed] == [(ann.pk, bob.pk)]
    unknown = client.post("/api/v1/loyalty/referrals", {"customer_id": bob.pk, "code": "NOPE"},
                          content_type="application/json")
    assert (unknown.status_code, unknown.json()["errors"]) == (422, {"code": ["Unknown referral code."]})
