"""Value tiers by share of predicted CLV, and the value-customer flag with its reasons."""

from __future__ import annotations

import numpy as np

from valuecrm.engine.rfm import quintile_scores
from valuecrm.insights.models import Tier, TierPolicy, ValueReason


def assign_tiers(clv: np.ndarray, customer_ids: np.ndarray, policy: TierPolicy) -> np.ndarray:
    """A = the top ``share_a`` of buyers by CLV, B = the next ``share_b``, C = the rest.

    Ties are broken by customer id so the same data always gives the same tiers.
    """
    n = clv.size
    order = np.lexsort((customer_ids, -clv))  # CLV descending, then id ascending
    # Half-up rounding (Python's round() would send 2.5 to 2).
    n_a = int(np.floor(n * policy.share_a + 0.5))
    n_b = int(np.floor(n * (policy.share_a + policy.share_b) + 0.5)) - n_a
    tiers = np.full(n, Tier.C.value, dtype=object)
    tiers[order[:n_a]] = Tier.A.value
    tiers[order[n_a:n_a + n_b]] = Tier.B.value
    return tiers


def value_reasons(
    *,
    f_score: np.ndarray,
    revenue: np.ndarray,
    margin: np.ndarray | None,
    n_orders: np.ndarray,
    tenure_days: np.ndarray,
    referrer: np.ndarray,
    loyal_min_orders: int,
    loyal_min_tenure_days: int,
) -> list[list[str]]:
    """Reason codes per buyer (quintile 4-5 = "high"; margin only when costs are known)."""
    spend_high = quintile_scores(revenue) >= 4
    margin_high = quintile_scores(margin) >= 4 if margin is not None else np.zeros(revenue.size, bool)
    loyal = (n_orders >= loyal_min_orders) & (tenure_days >= loyal_min_tenure_days)
    flags = [
        (ValueReason.FREQUENCY.value, f_score >= 4),
        (ValueReason.SPEND.value, spend_high),
        (ValueReason.MARGIN.value, margin_high),
        (ValueReason.LOYALTY.value, loyal),
        (ValueReason.REFERRALS.value, referrer),
    ]
    reasons: list[list[str]] = [[] for _ in range(revenue.size)]
    for code, mask in flags:
        for i in np.flatnonzero(mask):
            reasons[i].append(code)
    return reasons


def too_little_history(frequency: np.ndarray, tenure_days: np.ndarray, usual_interval_days: float) -> np.ndarray:
    """Buyers the CLV ranking cannot judge yet: one purchase occasion, or a first order
    less than one usual inter-purchase interval (the store's median) ago.

    For them a BTYD model returns little more than the population prior, so they get
    tier N ("new, not yet tiered") and a CLV range instead of a rank (docs/metrics.md).
    """
    return (np.asarray(frequency, float) < 1) | (np.asarray(tenure_days, float) < usual_interval_days)


def assign_tiers_with_new(clv: np.ndarray, customer_ids: np.ndarray, policy: TierPolicy,
                          new: np.ndarray) -> np.ndarray:
    """Tier N for ``new``; A/B/C by :func:`assign_tiers` among everyone else (shares of them)."""
    tiers = np.full(clv.size, Tier.N.value, dtype=object)
    ranked = ~np.asarray(new, bool)
    if ranked.any():
        tiers[ranked] = assign_tiers(clv[ranked], customer_ids[ranked], policy)
    return tiers
