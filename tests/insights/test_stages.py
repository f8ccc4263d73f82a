"""Lifecycle stages follow the DESIGN.md rules, judged by each customer's own rhythm."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from valuecrm.insights.models import LifecycleRules
from valuecrm.insights.services.stages import assign_stages

AS_OF = dt.date(2025, 6, 30)


def buyer(first_ago, last_ago, frequency, n_orders=None, interval=None, p_alive=0.9,
          spend_last=100.0, spend_prev=100.0, prev_stage="", prev_since=None):
    return {
        "frequency": frequency,
        "n_orders": n_orders if n_orders is not None else frequency + 1,
        "first_purchase": pd.Timestamp(AS_OF - dt.timedelta(days=first_ago)),
        "last_purchase": pd.Timestamp(AS_OF - dt.timedelta(days=last_ago)),
        "interval_days": np.nan if interval is None else float(interval),
        "p_alive": p_alive,
        "spend_last": spend_last,
        "spend_prev": spend_prev,
        "prev_stage": prev_stage,
        "prev_since": None if prev_since is None else pd.Timestamp(prev_since),
    }


def stage_of(rules=None, **kw):
    frame = pd.DataFrame([buyer(**kw)], index=[1])
    out = assign_stages(frame, AS_OF, rules or LifecycleRules())
    return out.iloc[0]


def test_new_customer_is_first_order_within_90_days_without_repeat():
    row = stage_of(first_ago=30, last_ago=30, frequency=0)
    assert row.stage == "new"
    assert row.reason == {"code": "first_order", "gap_days": 30, "interval_days": 90}


def test_one_time_buyer_past_the_new_window_is_at_risk():
    row = stage_of(first_ago=120, last_ago=120, frequency=0)
    assert row.stage == "at_risk"
    assert row.reason == {"code": "no_second_order", "gap_days": 120}


def test_repeat_buyer_in_rhythm_with_short_tenure_is_growing():
    assert stage_of(first_ago=200, last_ago=30, frequency=2, interval=85).stage == "growing"


def test_three_orders_and_a_year_of_tenure_is_loyal():
    assert stage_of(first_ago=400, last_ago=20, frequency=4, n_orders=5, interval=95).stage == "loyal"
    # two orders over a year is not enough for loyal: still growing
    assert stage_of(first_ago=400, last_ago=20, frequency=1, n_orders=2, interval=380).stage == "growing"


def test_gap_over_twice_own_interval_is_at_risk():
    row = stage_of(first_ago=300, last_ago=94, frequency=10, interval=21)
    assert row.stage == "at_risk"
    assert row.reason == {"code": "gap", "gap_days": 94, "interval_days": 21}
    # 40 days is within 2 × 21: not at risk
    assert stage_of(first_ago=300, last_ago=40, frequency=10, interval=21).stage == "growing"


def test_p_alive_below_half_is_at_risk():
    row = stage_of(first_ago=300, last_ago=10, frequency=3, interval=60, p_alive=0.4)
    assert row.stage == "at_risk"
    assert row.reason["code"] == "p_alive"


def test_spend_down_more_than_half_is_at_risk():
    row = stage_of(first_ago=300, last_ago=10, frequency=3, interval=60, spend_last=400, spend_prev=1000)
    assert row.stage == "at_risk"
    assert row.reason == {"code": "spend_down", "drop_pct": 60}
    # exactly 50 % down is not "more than 50 %"
    assert stage_of(first_ago=300, last_ago=10, frequency=3, interval=60,
                    spend_last=500, spend_prev=1000).stage == "growing"


def test_churned_by_long_gap_or_low_p_alive():
    assert stage_of(first_ago=800, last_ago=366, frequency=3, interval=30).stage == "churned"
    # a slow buyer: 4 × 100 days beats 365
    assert stage_of(first_ago=900, last_ago=390, frequency=3, interval=100, p_alive=0.6).stage == "at_risk"
    assert stage_of(first_ago=900, last_ago=401, frequency=3, interval=100, p_alive=0.6).stage == "churned"
    row = stage_of(first_ago=300, last_ago=10, frequency=3, interval=60, p_alive=0.05)
    assert row.stage == "churned"
    assert row.reason["code"] == "p_alive_low"


def test_buying_again_after_at_risk_is_reactivated_for_90_days():
    since = AS_OF - dt.timedelta(days=60)
    row = stage_of(first_ago=400, last_ago=5, frequency=4, interval=90,
                   prev_stage="at_risk", prev_since=since)
    assert row.stage == "reactivated"
    assert row.stage_since == AS_OF
    # no purchase since entering at-risk: stays by the normal rules
    assert stage_of(first_ago=400, last_ago=70, frequency=4, interval=30,
                    prev_stage="at_risk", prev_since=since).stage == "at_risk"
    # reactivated 80 days ago: still reactivated; 91 days ago: back to the normal rules
    kept = stage_of(first_ago=400, last_ago=5, frequency=4, interval=90, prev_stage="reactivated",
                    prev_since=AS_OF - dt.timedelta(days=80))
    assert (kept.stage, kept.stage_since) == ("reactivated", AS_OF - dt.timedelta(days=80))
    assert stage_of(first_ago=400, last_ago=5, frequency=4, interval=90, prev_stage="reactivated",
                    prev_since=AS_OF - dt.timedelta(days=91)).stage == "loyal"


def test_stage_since_is_kept_while_the_stage_is_unchanged():
    since = dt.date(2025, 1, 1)
    row = stage_of(first_ago=200, last_ago=30, frequency=2, interval=85, prev_stage="growing", prev_since=since)
    assert row.stage_since == since
    moved = stage_of(first_ago=200, last_ago=30, frequency=2, interval=85, prev_stage="new", prev_since=since)
    assert moved.stage_since == AS_OF


@pytest.mark.django_db
def test_rules_are_configurable():
    rules = LifecycleRules.current()
    rules.new_days = 150
    assert stage_of(rules=rules, first_ago=120, last_ago=120, frequency=0).stage == "new"
