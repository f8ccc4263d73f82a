"""Uplift targeting end to end: train on an earlier campaign's hold-out, evaluate by a
Qini curve on a later one, store the model, and launch a campaign to the top N by
predicted uplift × CLV."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from valuecrm.common.errors import ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.insights.models import CustomerValue
from valuecrm.marketing import selectors, services
from valuecrm.marketing.models import CampaignMember, Group, UpliftModel
from valuecrm.orders.models import Order

pytestmark = pytest.mark.django_db


def _order(rows, customer, at, amount, tag):
    rows.append(Order(customer=customer, source="t", external_id=f"{customer.pk}-{tag}", placed_at=at,
                      total_amount=Decimal(amount), total_cost=Decimal(0), status="paid"))


@pytest.fixture
def history(marketer, make_customers, email_template):
    """400 customers; the even-numbered half are repeat buyers and only they respond."""
    customers = make_customers(400)
    now = timezone.now()
    repeat = {c.pk for i, c in enumerate(customers) if i % 2 == 0}
    rows = []
    for c in customers:
        if c.pk in repeat:
            _order(rows, c, now - dt.timedelta(days=200), 80, "h1")
            _order(rows, c, now - dt.timedelta(days=120), 90, "h2")
        else:
            _order(rows, c, now - dt.timedelta(days=150), 85, "h1")
    CustomerValue.objects.bulk_create([CustomerValue(customer=c, as_of=now.date(), clv=Decimal(500 + c.pk % 7))
                                       for c in customers])
    campaigns = []
    for k, days_ago in enumerate((60, 30)):
        launched = now - dt.timedelta(days=days_ago)
        campaign = services.campaign_create(actor=marketer, data={
            "name": f"past {k}", "template_id": email_template.pk, "holdout_percent": 40})
        campaign = services.campaign_launch(actor=marketer, campaign=campaign, queue=False, now=launched)
        groups = dict(CampaignMember.objects.filter(campaign=campaign).values_list("customer_id", "group"))
        for i, c in enumerate(customers):
            treated = groups[c.pk] == Group.TREATMENT
            if c.pk in repeat and treated:
                _order(rows, c, launched + dt.timedelta(days=3), 120, f"c{k}")
            elif i % 5 == 1:  # background buying, the same in both groups
                _order(rows, c, launched + dt.timedelta(days=4), 60, f"b{k}")
        campaigns.append(campaign)
    Order.objects.bulk_create(rows)
    return {"customers": customers, "repeat": repeat, "campaigns": campaigns, "now": now}


def test_train_needs_two_finished_campaigns_and_writes_nothing_otherwise(marketer, make_customers,
                                                                         email_template):
    make_customers(80)
    campaign = services.campaign_create(actor=marketer, data={"name": "one", "template_id": email_template.pk,
                                                              "holdout_percent": 50})
    services.campaign_launch(actor=marketer, campaign=campaign, queue=False,
                             now=timezone.now() - dt.timedelta(days=30))
    state = selectors.uplift_readiness()
    assert state["ready"] is False and len(state["campaigns"]) == 1 and state["evaluation"] is None
    with pytest.raises(ValidationFailed) as exc:
        services.uplift_train(actor=marketer)
    assert list(exc.value.errors) == ["campaigns"]
    assert "at least 30 treated and 30 control" in exc.value.errors["campaigns"][0]
    assert UpliftModel.objects.count() == 0
    assert not OutboxEvent.objects.filter(name="uplift_model.trained").exists()


def test_train_evaluates_on_the_later_campaign_and_targets_top_n(client, marketer, history, email_template,
                                                                 api_client_for):
    first, later = history["campaigns"]
    client.force_login(marketer)
    page = client.get("/marketing/uplift/").content.decode()
    assert 'data-uplift="no-model"' in page and 'data-uplift="not-ready"' not in page
    assert client.post("/marketing/uplift/train/").status_code == 302  # the page's button
    model = UpliftModel.objects.get()
    assert model.version == 1
    assert model.training_campaign_ids == [first.pk] and model.evaluation_campaign_id == later.pk
    assert model.n_train_treatment + model.n_train_control == 400
    assert model.n_eval_treatment + model.n_eval_control == 400
    assert model.feature_source == "current"  # no score run older than the launches
    # Repeat buyers (half) bring +¥120 when treated (60 % are): a perfect ranking's curve
    # rises to ¥36 per customer at the 50 % mark and stays, 0.25 × 36 = ¥9 above the
    # random line's area; chance would give about 0.
    assert 4 < model.qini_coefficient <= 9.5
    assert model.auuc > model.qini_coefficient
    curve = model.qini_curve
    assert curve["fractions"][0] == 0.0 and curve["fractions"][-1] == 1.0
    assert len(curve["curve"]) == len(curve["fractions"]) == len(curve["random"])
    event = OutboxEvent.objects.get(name="uplift_model.trained")
    assert event.payload["version"] == 1 and event.payload["evaluation_campaign_id"] == later.pk
    page = client.get("/marketing/uplift/").content.decode()
    assert 'data-uplift="version">v1<' in page and 'id="uplift-qini"' in page
    assert f"¥{model.qini_coefficient:,.2f}" in page
    assert "On the later campaign the ranking beat a random choice." in page
    api = api_client_for(marketer).get("/api/v1/marketing/uplift")
    assert api.status_code == 200
    body = api.json()
    assert (body["version"], body["training_campaign_ids"], body["evaluation_campaign_id"]) == (1, [first.pk], later.pk)
    assert (body["qini_coefficient"], body["auuc"]) == (model.qini_coefficient, model.auuc)
    assert body["qini_curve"]["model"] == curve["curve"] and body["qini_curve"]["fractions"] == curve["fractions"]
    assert body["trained_by"] == marketer.username and body["feature_source"] == "current"
    assert services.uplift_train(actor=marketer).version == 2
    assert api_client_for(marketer).get("/api/v1/marketing/uplift").json()["version"] == 2

    ids = [c.pk for c in history["customers"]]
    top = services.uplift_top(ids, model, 100)
    assert top == services.uplift_top(list(reversed(ids)), model, 100)  # reproducible, order-free
    assert len(top) == 100 and set(top) <= history["repeat"]

    campaign = services.campaign_create(actor=marketer, data={
        "name": "targeted", "template_id": email_template.pk, "holdout_percent": 10, "target_top_n": 100})
    campaign = services.campaign_launch(actor=marketer, campaign=campaign, queue=False)
    members = sorted(CampaignMember.objects.filter(campaign=campaign).values_list("customer_id", flat=True))
    assert members == services.uplift_top(ids, UpliftModel.objects.get(version=2), 100)
    assert campaign.uplift_model.version == 2


def test_top_n_option_is_validated_and_needs_a_model(marketer, make_customers, email_template):
    make_customers(5)
    with pytest.raises(ValidationFailed) as exc:
        services.campaign_create(actor=marketer, data={"name": "x", "template_id": email_template.pk,
                                                       "target_top_n": "0"})
    assert list(exc.value.errors) == ["target_top_n"]
    campaign = services.campaign_create(actor=marketer, data={"name": "x", "template_id": email_template.pk,
                                                              "target_top_n": 3})
    with pytest.raises(ValidationFailed) as exc:
        services.campaign_launch(actor=marketer, campaign=campaign, queue=False)
    assert list(exc.value.errors) == ["target_top_n"]
    assert CampaignMember.objects.filter(campaign=campaign).count() == 0


def test_uplift_page_says_what_is_missing(client, marketer, api_client_for):
    client.force_login(marketer)
    missing = api_client_for(marketer).get("/api/v1/marketing/uplift")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/problem+json")
    assert missing.json()["title"] == "No uplift model has been trained yet." and missing.json()["status"] == 404
    page = client.get("/marketing/uplift/").content.decode()
    assert 'data-uplift="not-ready"' in page and "at least 30 treated and 30 control" in page
    assert client.post("/marketing/uplift/train/").status_code == 302
    assert UpliftModel.objects.count() == 0
