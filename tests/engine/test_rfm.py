import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuecrm.engine.rfm import (
    SEGMENT_GRID,
    SEGMENT_RULES,
    SEGMENTS,
    quintile_scores,
    rfm_scores,
    rfm_segment,
)


def test_every_rf_cell_matches_exactly_one_design_rule():
    for r in range(1, 6):
        for f in range(1, 6):
            matches = [
                code
                for code, (r_lo, r_hi), (f_lo, f_hi) in SEGMENT_RULES
                if r_lo <= r <= r_hi and f_lo <= f <= f_hi
            ]
            assert len(matches) == 1, (r, f, matches)
            assert SEGMENT_GRID[r - 1][f - 1] == matches[0]


def test_segment_codes_have_english_and_chinese_labels():
    used = {code for row in SEGMENT_GRID for code in row}
    assert used == set(SEGMENTS)
    assert len(SEGMENTS) == 10
    for labels in SEGMENTS.values():
        assert set(labels) == {"en", "zh"}
        assert labels["en"] and labels["zh"]
    assert SEGMENTS["cant_lose"] == {"en": "Can't lose them", "zh": "不能失去"}


def test_rfm_segment_design_table_cells():
    r = [5, 5, 4, 3, 5, 4, 3, 3, 2, 1, 1, 2, 1, 4, 4, 3]
    f = [5, 4, 5, 4, 2, 3, 3, 1, 3, 4, 5, 5, 1, 1, 2, 2]
    expected = [
        "champions", "champions", "loyal", "loyal", "potential_loyalists",
        "potential_loyalists", "need_attention", "about_to_sleep", "at_risk", "at_risk",
        "cant_lose", "cant_lose", "hibernating", "promising", "potential_loyalists",
        "about_to_sleep",
    ]  # fmt: skip
    assert list(rfm_segment(r, f)) == expected
    assert rfm_segment([5], [1])[0] == "new"


def test_rfm_segment_rejects_out_of_range_and_passes_through_unscorable():
    with pytest.raises(ValueError, match="1..5"):
        rfm_segment([6], [1])
    assert list(rfm_segment([0, 5], [3, 0])) == [None, None]


def test_quintile_scores_distinct_values_are_equal_quintiles():
    scores = quintile_scores(np.arange(100.0))
    assert np.bincount(scores, minlength=6)[1:].tolist() == [20, 20, 20, 20, 20]
    assert scores[0] == 1 and scores[19] == 1 and scores[20] == 2 and scores[99] == 5


def test_quintile_scores_heavy_ties_keep_identical_values_together():
    # 60 one-time buyers (frequency 0), then a tail: the classic CDNOW shape.
    freq = np.array([0] * 60 + [1] * 15 + [2] * 10 + [3] * 5 + [5] * 5 + [9] * 5, float)
    scores = quintile_scores(freq)
    assert set(scores[:60]) == {1}  # pinned: worst tie group is 1 though its mid-rank says 2
    # frequency 1: mid-rank percentile (60 + 7.5) / 100 = 0.675 -> 1 + floor(3.375) = 4
    assert set(scores[60:75]) == {4}
    # frequency 2: (75 + 5) / 100 = 0.80 -> 1 + floor(4.0) = 5
    assert set(scores[75:]) == {5}


def test_quintile_scores_lower_is_better_and_constant_and_nan():
    days = np.array([0.0, 0.0, 0.0, 10.0, 50.0, 300.0, np.nan])
    scores = quintile_scores(days, higher_is_better=False)
    assert scores.tolist() == [5, 5, 5, 3, 2, 1, 0]
    assert quintile_scores([7.0, 7.0, 7.0]).tolist() == [3, 3, 3]
    assert quintile_scores([]).tolist() == []


def test_rfm_scores_from_summary():
    summary = pd.DataFrame(
        {
            "frequency": [0, 0, 1, 3, 8],
            "recency": [0.0, 0.0, 10.0, 30.0, 38.0],
            "T": [38.0, 5.0, 38.0, 38.0, 38.0],
            "monetary_value": [0.0, 0.0, 20.0, 35.0, 60.0],
        },
        index=pd.Index([11, 12, 13, 14, 15], name="customer_id"),
    )
    scores = rfm_scores(summary)
    assert scores.index.tolist() == [11, 12, 13, 14, 15]
    # days since last purchase: 38, 5, 28, 8, 0
    assert scores["r_score"].tolist() == [1, 4, 2, 3, 5]
    assert scores["f_score"].tolist() == [1, 1, 3, 4, 5]
    assert scores["m_score"].tolist() == [1, 1, 3, 4, 5]
    assert scores["rfm"].tolist() == ["111", "411", "233", "344", "555"]
    assert scores["segment"].tolist() == [
        "hibernating", "promising", "at_risk", "loyal", "champions",
    ]  # fmt: skip


def test_rfm_scores_from_arrays_validates_input():
    with pytest.raises(ValueError, match="same length"):
        rfm_scores(recency_days=[1, 2], frequency=[1], monetary=[1, 2])
    with pytest.raises(ValueError, match=">= 0"):
        rfm_scores(recency_days=[-1, 2], frequency=[1, 2], monetary=[1, 2])
    with pytest.raises(ValueError, match="no column 'monetary_value'"):
        rfm_scores(pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [2.0]}))


def test_rfm_scores_on_cdnow_sample_are_sensible(cdnow_summary):
    scores = rfm_scores(cdnow_summary)
    assert len(scores) == 2357
    one_timers = cdnow_summary["frequency"].to_numpy() == 0
    assert (scores["f_score"].to_numpy()[one_timers] == 1).all()
    assert (scores["f_score"].to_numpy()[~one_timers] >= 2).all()
    assert set(scores["segment"]) <= set(SEGMENTS)
    counts = scores["segment"].value_counts()
    assert counts.sum() == 2357
    assert counts["hibernating"] > counts["champions"] > 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(0, 6).map(float), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=300,
    )
)
def test_quintile_scores_invariants(values):
    v = np.array(values)
    scores = quintile_scores(v)
    assert scores.min() >= 1 and scores.max() <= 5
    order = np.argsort(v, kind="stable")
    assert (np.diff(scores[order].astype(int)) >= 0).all()  # monotone in the value
    for value in np.unique(v):  # identical values, identical scores
        assert len(set(scores[v == value])) == 1
    if len(np.unique(v)) >= 2:
        assert scores[v == v.min()][0] == 1 and scores[v == v.max()][0] == 5
    else:
        assert set(scores) == {3}
    # "lower is better" is exactly scoring the negated values
    assert (quintile_scores(-v) == quintile_scores(v, higher_is_better=False)).all()
