"""Value filters, sorts, presets, the value card and the model report."""

import datetime as dt

import pytest

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.customers.visibility import visible_customers
from valuecrm.insights import selectors
from valuecrm.insights.models import CustomerValue
from valuecrm.insights.services import score_now

from .test_scoring import AS_OF, every


@pytest.fixture
def scored(make_customer, add_orders, rep_north):
    for i in range(30):
        c = make_customer(f"bg{i}", owner=rep_north if i < 3 else None)
        add_orders(c, every(10 + 3 * i, 400 - 5 * i, (i * 11) % 90), amount=60 + 5 * i)
    make_customer("Prospect", owner=rep_north)
    run = score_now(as_of=AS_OF)
    assert run.status == "succeeded", run.error
    return run


def ids(queryset):
    return set(queryset.values_list("pk", flat=True))


def test_filters_by_tier_stage_segment_and_ranges(scored):
    all_customers = Customer.objects.all()
    values = CustomerValue.objects
    assert ids(selectors.apply_value_filters(all_customers, {"tier": "A"})) == set(
        values.filter(tier="A").values_list("customer_id", flat=True))
    assert len(ids(selectors.apply_value_filters(all_customers, {"tier": "A,B"}))) == 6 + 9 + 0  # 30 buyers: 6 A, 9 B
    assert ids(selectors.apply_value_filters(all_customers, {"stage": "prospect"})) == set(
        Customer.objects.filter(name="Prospect").values_list("pk", flat=True))
    seg = values.exclude(segment="").values_list("segment", flat=True).first()
    assert ids(selectors.apply_value_filters(all_customers, {"segment": seg})) == set(
        values.filter(segment=seg).values_list("customer_id", flat=True))
    high = selectors.apply_value_filters(all_customers, {"clv_min": "100", "p_alive_max": "0.9"})
    assert ids(high) == set(values.filter(clv__gte=100, p_alive__lte=0.9).values_list("customer_id", flat=True))
    risky = selectors.apply_value_filters(all_customers, {"churn_risk_min": "0.5", "value_customer": "0"})
    assert ids(risky) == set(values.filter(churn_risk__gte=0.5, is_value_customer=False)
                             .values_list("customer_id", flat=True))


def test_bad_filter_values_name_the_field(scored):
    with pytest.raises(ValidationFailed) as info:
        selectors.apply_value_filters(Customer.objects.all(), {
            "tier": "Z", "p_alive_min": "1.5", "clv_max": "lots", "stage_since_after": "soon", "preset": "nope"})
    assert set(info.value.errors) == {"tier", "p_alive_min", "clv_max", "stage_since_after", "preset"}


def test_filters_compose_with_visibility(scored, rep_north):
    visible = selectors.apply_value_filters(visible_customers(rep_north), {"stage": "prospect,growing,at_risk,"
                                                                           "churned,new,loyal,reactivated"})
    assert ids(visible) <= ids(visible_customers(rep_north))
    assert len(ids(visible)) == 4


def test_sort_by_value_at_risk(scored):
    ordered = list(selectors.apply_value_sort(selectors.with_value(Customer.objects.all()), "-value_at_risk")
                   .values_list("value_at_risk", flat=True))
    assert ordered == sorted(ordered, reverse=True)
    with pytest.raises(ValidationFailed):
        selectors.apply_value_sort(Customer.objects.all(), "name; drop table")


def test_presets_are_named_filter_dicts(scored):
    names = [p["key"] for p in selectors.presets()]
    assert names == ["high_value_at_risk", "new_this_month", "champions", "win_back_candidates"]
    assert selectors.preset_filters("high_value_at_risk") == {"tier": "A,B", "stage": "at_risk"}
    month_start = selectors.preset_filters("new_this_month")["stage_since_after"]
    assert dt.date.fromisoformat(month_start).day == 1
    winback = selectors.apply_value_filters(Customer.objects.all(), {"preset": "win_back_candidates"})
    # churned (the stage) AND a value customer (docs/metrics.md)
    assert ids(winback) == set(CustomerValue.objects.filter(stage="churned", is_value_customer=True)
                               .values_list("customer_id", flat=True))


def test_customer_value_card(scored, rep_north, rep_south):
    customer = Customer.objects.filter(owner=rep_north).exclude(name="Prospect").first()
    card = selectors.customer_value(rep_north, customer.pk)
    assert card["current"]["as_of"] == AS_OF
    assert card["current"]["stage"] == card["stage_path"][-1]["to"]
    assert [p["as_of"] for p in card["history"]] == [AS_OF]
    assert card["current"]["next_best_action"]["code"]
    with pytest.raises(NotFound):
        selectors.customer_value(rep_south, customer.pk)


def test_model_report(scored, monkeypatch):
    assert selectors.model_report()["holdout_comparison"] == []  # 30 buyers: too few for a holdout
    monkeypatch.setattr("valuecrm.insights.services.fitting.MIN_BUYERS_FOR_HOLDOUT", 20)
    run = score_now(as_of=AS_OF)
    report = selectors.model_report()
    assert report["run_id"] == run.pk
    assert {p["name"] for p in report["params"]} >= {"r", "alpha"}
    assert report["holdout_comparison"][0]["model"] == report["transaction_model"]
    assert report["tracking"]["actual"] and len(report["tracking"]["actual"]) == len(report["tracking"]["expected"])
    assert report["data_window"]["end"] <= AS_OF
    assert report["counts"]["buyers"] == 30
