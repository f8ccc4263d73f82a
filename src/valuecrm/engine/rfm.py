"""RFM scores (recency, frequency, monetary quintiles) and RFM segments.

Scores
------
Each of R, F and M is a quintile score 1..5 where 5 is best: recently bought
(few days since the last purchase), many purchases, high spend.

The scoring rule is rank based and tie-safe::

    p_i   = (#{j : v_j < v_i} + ½ · #{j : v_j = v_i}) / n      # mid-rank percentile
    score = min(5, 1 + floor(5 · p_i))

with two pins: the tie group holding the worst value always scores 1 and the tie
group holding the best value always scores 5 (when there are at least two
distinct values; a constant column scores 3 for everybody). NaN scores 0 ("not
scorable") and is excluded from the ranking.

Why: a plain ``qcut`` fails or needs arbitrary tie-breaking when a value is
shared by many customers (in CDNOW ~60 % of customers have ``frequency = 0``).
Arbitrary tie-breaking gives identical customers different scores. With the
mid-rank rule identical values always get identical scores, scores are monotone
in the value, and the pins keep the natural meaning of the extremes: one-time
buyers are F = 1 even when they are the majority (their mid-rank alone would say
F = 2), and customers who bought on the last day are R = 5 however many they are.

Segments
--------
The segment comes from the (R, F) cell, as in the product design table:

=============  =================================  ======================
R \\ F         cells                              segment
=============  =================================  ======================
R 5            F 4-5                              champions  核心客户
R 3-4          F 4-5                              loyal  忠诚客户
R 4-5          F 2-3                              potential_loyalists  潜力客户
R 5            F 1                                new  新客户
R 4            F 1                                promising  有希望
R 3            F 3                                need_attention  需关注
R 3            F 1-2                              about_to_sleep  即将沉睡
R 1-2          F 3-4                              at_risk  风险客户
R 1-2          F 5                                cant_lose  不能失去
R 1-2          F 1-2                              hibernating  沉睡客户
=============  =================================  ======================

These ten rules partition the 25 cells exactly (every cell matches exactly one
rule; ``tests/engine/test_rfm.py`` checks it), so no fallback is needed. The
full grid is ``SEGMENT_GRID[r - 1][f - 1]``. M is reported alongside (it drives
value tiers, not segments).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "SEGMENTS",
    "SEGMENT_RULES",
    "SEGMENT_GRID",
    "quintile_scores",
    "rfm_scores",
    "rfm_segment",
]

SEGMENTS: Mapping[str, Mapping[str, str]] = {
    "champions": {"en": "Champions", "zh": "核心客户"},
    "loyal": {"en": "Loyal", "zh": "忠诚客户"},
    "potential_loyalists": {"en": "Potential loyalists", "zh": "潜力客户"},
    "new": {"en": "New", "zh": "新客户"},
    "promising": {"en": "Promising", "zh": "有希望"},
    "need_attention": {"en": "Need attention", "zh": "需关注"},
    "about_to_sleep": {"en": "About to sleep", "zh": "即将沉睡"},
    "at_risk": {"en": "At risk", "zh": "风险客户"},
    "cant_lose": {"en": "Can't lose them", "zh": "不能失去"},
    "hibernating": {"en": "Hibernating", "zh": "沉睡客户"},
}

# (segment, R range inclusive, F range inclusive) — the DESIGN.md table verbatim.
SEGMENT_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new", (5, 5), (1, 1)),
    ("promising", (4, 4), (1, 1)),
    ("need_attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("at_risk", (1, 2), (3, 4)),
    ("cant_lose", (1, 2), (5, 5)),
    ("hibernating", (1, 2), (1, 2)),
)


def _build_grid() -> tuple[tuple[str, ...], ...]:
    grid: list[list[str | None]] = [[None] * 5 for _ in range(5)]
    for code, (r_lo, r_hi), (f_lo, f_hi) in SEGMENT_RULES:
        for r in range(r_lo, r_hi + 1):
            for f in range(f_lo, f_hi + 1):
                if grid[r - 1][f - 1] is not None:
                    raise AssertionError(f"RFM cell R{r} F{f} matched twice")
                grid[r - 1][f - 1] = code
    for r in range(5):
        for f in range(5):
            if grid[r][f] is None:
                raise AssertionError(f"RFM cell R{r + 1} F{f + 1} not covered")
    return tuple(tuple(row) for row in grid)  # type: ignore[arg-type]


SEGMENT_GRID: tuple[tuple[str, ...], ...] = _build_grid()
_GRID_ARRAY = np.array(SEGMENT_GRID, dtype=object)


def quintile_scores(values, higher_is_better: bool = True) -> np.ndarray:
    """Tie-safe quintile scores 1..5 (5 = best) by the mid-rank rule (module docstring).

    Parameters
    ----------
    values : array-like of float
        One value per customer; NaN scores 0.
    higher_is_better : bool
        False for "days since last purchase", where fewer days is better.

    Returns
    -------
    numpy.ndarray of int8
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {v.shape}")
    out = np.zeros(v.shape[0], dtype=np.int8)
    ok = ~np.isnan(v)
    x = v[ok] if higher_is_better else -v[ok]
    n = x.shape[0]
    if n == 0:
        return out
    uniq, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if uniq.shape[0] == 1:
        out[ok] = 3
        return out
    below = np.concatenate(([0], np.cumsum(counts)[:-1]))
    p = (below + 0.5 * counts) / n
    group_score = np.minimum(5, 1 + np.floor(5.0 * p)).astype(np.int8)
    group_score[0] = 1
    group_score[-1] = 5
    out[ok] = group_score[inverse]
    return out


def rfm_segment(r, f) -> np.ndarray:
    """Segment codes (see ``SEGMENTS``) for arrays of R and F scores 1..5.

    A score of 0 (not scorable) in R or F gives ``None``.
    """
    r_arr = np.asarray(r, dtype=int)
    f_arr = np.asarray(f, dtype=int)
    if r_arr.shape != f_arr.shape:
        raise ValueError(f"r and f must have the same shape, got {r_arr.shape} and {f_arr.shape}")
    bad = ((r_arr < 0) | (r_arr > 5)) | ((f_arr < 0) | (f_arr > 5))
    if bad.any():
        raise ValueError("r and f scores must be integers in 1..5 (0 = not scorable)")
    missing = (r_arr == 0) | (f_arr == 0)
    codes = _GRID_ARRAY[np.clip(r_arr - 1, 0, 4), np.clip(f_arr - 1, 0, 4)]
    if missing.any():
        codes = codes.copy()
        codes[missing] = None
    return codes


def rfm_scores(
    summary: pd.DataFrame | None = None,
    *,
    recency_days=None,
    frequency=None,
    monetary=None,
    frequency_col: str = "frequency",
    monetary_col: str = "monetary_value",
    index=None,
) -> pd.DataFrame:
    """R, F, M quintile scores, the three-digit RFM code and the segment.

    Give either a customer ``summary`` (from ``summarize``: R is ``T - recency``, the
    time since the last purchase in the summary's unit — ranks do not depend on the
    unit — F is ``frequency_col`` and M is ``monetary_col``) or the three arrays
    ``recency_days`` (days since last purchase; lower is better), ``frequency`` and
    ``monetary``.

    Returns
    -------
    pandas.DataFrame
        Columns ``r_score``, ``f_score``, ``m_score`` (int 1..5), ``rfm`` (e.g. "545")
        and ``segment`` (a code of ``SEGMENTS``), indexed like ``summary`` or ``index``.
    """
    if summary is not None:
        if recency_days is not None or frequency is not None or monetary is not None:
            raise ValueError("pass either summary or the recency_days/frequency/monetary arrays")
        for col in ("recency", "T", frequency_col, monetary_col):
            if col not in summary.columns:
                raise ValueError(f"summary has no column {col!r}")
        recency_days = summary["T"].to_numpy(float) - summary["recency"].to_numpy(float)
        frequency = summary[frequency_col].to_numpy(float)
        monetary = summary[monetary_col].to_numpy(float)
        index = summary.index
    else:
        if recency_days is None or frequency is None or monetary is None:
            raise ValueError("recency_days, frequency and monetary are all required")
        recency_days = np.asarray(recency_days, dtype=float)
        frequency = np.asarray(frequency, dtype=float)
        monetary = np.asarray(monetary, dtype=float)
        if not (recency_days.shape == frequency.shape == monetary.shape):
            raise ValueError("recency_days, frequency and monetary must have the same length")
        if (recency_days[~np.isnan(recency_days)] < 0).any():
            raise ValueError("recency_days must be >= 0 (days since the last purchase)")
    r = quintile_scores(recency_days, higher_is_better=False)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    code = pd.Series(r.astype(str), dtype=object).str.cat([f.astype(str), m.astype(str)])
    return pd.DataFrame(
        {
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm": code.to_numpy(),
            "segment": rfm_segment(r, f),
        },
        index=index,
    )
