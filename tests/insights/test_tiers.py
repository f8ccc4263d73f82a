"""Value tiers by share of CLV, and value-customer reasons."""

import numpy as np

from valuecrm.insights.models import TierPolicy
from valuecrm.insights.services.tiers import assign_tiers, value_reasons


def test_default_tiers_are_top_20_next_30_rest():
    clv = np.array([10.0, 90, 50, 70, 30, 100, 20, 80, 60, 40])
    ids = np.arange(1, 11)
    tiers = assign_tiers(clv, ids, TierPolicy())
    assert list(tiers) == ["C", "A", "C", "B", "C", "A", "C", "B", "B", "C"]


def test_ties_are_broken_by_customer_id():
    tiers = assign_tiers(np.array([5.0, 5, 5, 5, 5]), np.array([5, 4, 3, 2, 1]), TierPolicy())
    # one A (5 × 0.2) and 2 B (5 × 0.5 = 2.5 rounds half up to 3, minus the A), lowest ids first
    assert list(tiers) == ["C", "C", "B", "B", "A"]


def test_tier_shares_are_configurable():
    policy = TierPolicy(share_a=0.5, share_b=0.5)
    assert list(assign_tiers(np.array([1.0, 2, 3, 4]), np.arange(4), policy)) == ["B", "B", "A", "A"]


def test_value_reasons():
    reasons = value_reasons(
        f_score=np.array([5, 1, 4, 2, 1]),
        revenue=np.array([1000.0, 10, 20, 30, 40]),
        margin=np.array([500.0, 1, 2, 3, 4]),
        n_orders=np.array([6, 1, 3, 2, 1]),
        tenure_days=np.array([500, 10, 366, 800, 30]),
        referrer=np.array([False, False, True, False, False]),
        loyal_min_orders=3, loyal_min_tenure_days=365,
    )
    assert reasons == [
        ["frequency", "spend", "margin", "loyalty"],
        [],
        ["frequency", "loyalty", "referrals"],
        [],
        ["spend", "margin"],
    ]


def test_margin_reason_is_left_out_without_costs():
    reasons = value_reasons(
        f_score=np.array([1, 1]), revenue=np.array([1.0, 2]), margin=None, n_orders=np.array([1, 1]),
        tenure_days=np.array([1, 1]), referrer=np.array([False, False]),
        loyal_min_orders=3, loyal_min_tenure_days=365,
    )
    assert reasons == [[], ["spend"]]
