"""Early-warning rules on constructed customers."""

import datetime as dt

import numpy as np
import pandas as pd
from django.utils import translation

from valuecrm.insights.models import WarningPolicy
from valuecrm.insights.services.playbook import reason_text
from valuecrm.insights.services.warnings import detect

AS_OF = dt.date(2025, 6, 30)


def frame(**columns):
    base = {
        "tier": "A", "first_purchase": pd.Timestamp(AS_OF - dt.timedelta(days=700)),
        "last_purchase": pd.Timestamp(AS_OF - dt.timedelta(days=10)), "interval_days": 30.0,
        "p_alive": 0.9, "prev_p_alive": 0.9, "spend_last": 1000.0, "spend_before": 2600.0,
    }
    rows = [{**base, **{k: v[i] for k, v in columns.items()}} for i in range(len(next(iter(columns.values()))))]
    return pd.DataFrame(rows, index=range(1, len(rows) + 1))


def test_slowing_against_own_rhythm():
    buyers = frame(last_purchase=[pd.Timestamp(AS_OF - dt.timedelta(days=94)),
                                  pd.Timestamp(AS_OF - dt.timedelta(days=31))],
                   interval_days=[21.0, 21.0])
    found = detect(buyers, AS_OF, WarningPolicy(), 180)
    assert [(w.customer_id, w.kind, w.episode_key) for w in found] == [(1, "slowing", "silence:2025-03-28")]
    assert found[0].params == {"code": "slowing", "gap_days": 94, "interval_days": 21}
    assert reason_text(found[0].params) == "last order 94 days ago; usually orders every 21 days"


def test_only_watched_tiers():
    buyers = frame(tier=["C", "B"], last_purchase=[pd.Timestamp(AS_OF - dt.timedelta(days=94))] * 2,
                   interval_days=[21.0, 21.0])
    assert [w.customer_id for w in detect(buyers, AS_OF, WarningPolicy(tiers="AB"), 180)] == [2]
    assert detect(buyers, AS_OF, WarningPolicy(enabled=False), 180) == []


def test_p_alive_crossing_the_threshold():
    buyers = frame(p_alive=[0.45, 0.45, 0.55], prev_p_alive=[0.6, 0.4, 0.6])
    found = detect(buyers, AS_OF, WarningPolicy(), 180)
    # customer 2 was already below 0.5 last time: no new crossing
    assert [(w.customer_id, w.kind) for w in found] == [(1, "p_alive_drop")]
    # never scored before counts as a crossing
    assert [w.customer_id for w in detect(frame(p_alive=[0.3], prev_p_alive=[np.nan]), AS_OF,
                                          WarningPolicy(), 180)] == [1]


def test_spend_below_own_baseline():
    # 700 days of tenure: 520 days before the current 180-day window; baseline per window
    # = 2600 × 180 / 520 = 900; 500 spent now is > 40 % below it, 600 is not.
    buyers = frame(spend_last=[500.0, 600.0])
    found = detect(buyers, AS_OF, WarningPolicy(), 180)
    assert [(w.customer_id, w.kind, w.episode_key) for w in found] == [(1, "spend_drop", "spend:2025H1")]
    assert found[0].params == {"code": "spend_drop", "last": 500.0, "baseline": 900.0, "window_days": 180}


def test_reason_text_in_chinese():
    with translation.override("zh-hans"):
        text = reason_text({"code": "slowing", "gap_days": 94, "interval_days": 21})
    assert text == "上次下单在 94 天前；通常每 21 天下单一次"
