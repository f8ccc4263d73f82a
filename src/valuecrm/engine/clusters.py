"""Customer clustering on value features, with plain-language cluster profiles.

Method
------
1. Features (default: days since last purchase, frequency, monetary value) are
   transformed: ``log1p`` for the skewed, non-negative count and money columns
   (frequency, monetary, and any other non-negative column whose sample skewness
   exceeds 1), then standardised to mean 0 and unit variance.
2. k-means (k-means++ initialisation, ``n_init`` restarts) for each k in
   ``k_range``; the k with the highest mean silhouette coefficient wins
   (Rousseeuw 1987). For large n the silhouette is computed on a random sample of
   ``silhouette_sample`` customers (it is O(n²)).
3. Centres are mapped back to original units (inverse standardisation, then
   ``expm1`` for log columns).
4. Profile: each cluster's median of each feature is placed in the overall
   distribution by its mid-rank percentile ``p``; ``p > 0.6`` is "high",
   ``p < 0.4`` "low", otherwise "mid". Percentiles, not ratios, because the
   overall median of frequency is often 0. The words are chosen per feature role
   (recency: fewer days = "bought recently").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

__all__ = ["ClusterResult", "cluster_customers", "describe_cluster"]

DEFAULT_FEATURES = ("recency_days", "frequency", "monetary")

# role -> level -> (English, Chinese)
_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "frequency": {
        "high": ("Frequent", "高频"),
        "mid": ("Occasional", "中频"),
        "low": ("Infrequent", "低频"),
    },
    "monetary": {
        "high": ("high spenders", "高消费"),
        "mid": ("mid spenders", "中等消费"),
        "low": ("low spenders", "低消费"),
    },
    "recency": {
        "high": ("lapsed for a long time", "久未购买"),
        "mid": ("bought a while ago", "近期偶有购买"),
        "low": ("bought recently", "近期活跃"),
    },
}


@dataclass
class ClusterResult:
    """Output of :func:`cluster_customers`.

    Attributes
    ----------
    labels : ndarray of int, one cluster id (0..k-1) per input row; clusters are
        numbered by decreasing median monetary value (or size when there is none).
    k : chosen number of clusters.
    centers : DataFrame (k × features) of cluster centres in original units.
    profiles : DataFrame per cluster: size, share, feature medians, levels,
        ``profile_en`` and ``profile_zh``.
    silhouette : Series of silhouette score by k tried.
    """

    labels: np.ndarray
    k: int
    centers: pd.DataFrame
    profiles: pd.DataFrame
    silhouette: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


def _role(column: str) -> str | None:
    name = column.lower()
    if "recen" in name or "days_since" in name:
        return "recency"
    if "freq" in name or "orders" in name or "count" in name:
        return "frequency"
    if "monet" in name or "spend" in name or "revenue" in name or "value" in name:
        return "monetary"
    return None


def _midrank_percentile(sorted_values: np.ndarray, x: float) -> float:
    lo = np.searchsorted(sorted_values, x, side="left")
    hi = np.searchsorted(sorted_values, x, side="right")
    return float((lo + 0.5 * (hi - lo)) / sorted_values.shape[0])


def describe_cluster(levels: dict[str, str]) -> tuple[str, str]:
    """English and Chinese phrase for a cluster from its feature levels.

    ``levels`` maps feature name to "high"/"mid"/"low". Known roles (frequency,
    monetary, recency) get natural phrases, e.g. ``{"frequency": "high",
    "monetary": "high", "recency_days": "low"}`` → ("Frequent high spenders,
    bought recently", "高频高消费，近期活跃"); other features are listed as
    "high <name>" / "<name>高".
    """
    by_role: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for column, level in levels.items():
        role = _role(column)
        if role is not None and role not in by_role:
            by_role[role] = level
        else:
            others.append((column, level))
    en_head: list[str] = []
    zh_head = ""
    if "frequency" in by_role:
        en, zh = _WORDS["frequency"][by_role["frequency"]]
        en_head.append(en)
        zh_head += zh
    if "monetary" in by_role:
        en, zh = _WORDS["monetary"][by_role["monetary"]]
        en_head.append(en)
        zh_head += zh
    elif en_head:
        en_head.append("buyers")
    en_parts = [" ".join(en_head)] if en_head else []
    zh_parts = [zh_head] if zh_head else []
    if "recency" in by_role:
        en, zh = _WORDS["recency"][by_role["recency"]]
        en_parts.append(en)
        zh_parts.append(zh)
    zh_level = {"high": "高", "mid": "中等", "low": "低"}
    for column, level in others:
        en_parts.append(f"{level} {column}")
        zh_parts.append(f"{column}{zh_level[level]}")
    en_text = ", ".join(en_parts)
    if en_text:
        en_text = en_text[0].upper() + en_text[1:]
    return en_text, "，".join(zh_parts)


def cluster_customers(
    features: pd.DataFrame,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 8),
    random_state: int = 0,
    *,
    columns: list[str] | None = None,
    log_columns: list[str] | None = None,
    n_init: int = 4,
    silhouette_sample: int = 5000,
) -> ClusterResult:
    """k-means segmentation of customers on standardised value features.

    Parameters
    ----------
    features : DataFrame, one row per customer, numeric feature columns.
    k : fixed number of clusters; ``None`` chooses k in ``k_range`` (inclusive) by
        the mean silhouette coefficient.
    k_range : (k_min, k_max) tried when ``k`` is None.
    random_state : seeds k-means and the silhouette sample.
    columns : feature columns to use; default ``recency_days, frequency, monetary``
        where present, else all numeric columns.
    log_columns : columns to ``log1p``; default: frequency/monetary-role columns and
        non-negative columns with skewness > 1.
    n_init : k-means restarts per k.
    silhouette_sample : sample size for the silhouette score when n is larger.
    """
    if columns is None:
        columns = [c for c in DEFAULT_FEATURES if c in features.columns]
        if not columns:
            columns = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features has no column(s) {missing}")
    if not columns:
        raise ValueError("no numeric feature columns to cluster on")
    raw = features[columns].to_numpy(dtype=float)
    if np.isnan(raw).any():
        bad = [c for c in columns if features[c].isna().any()]
        raise ValueError(f"features contain NaN in column(s) {bad}")
    n = raw.shape[0]
    if log_columns is None:
        log_columns = []
        for j, c in enumerate(columns):
            col = raw[:, j]
            nonneg = (col >= 0).all()
            if nonneg and (_role(c) in ("frequency", "monetary") or (n > 2 and skew(col) > 1)):
                log_columns.append(c)
    for c in log_columns:
        if c not in columns:
            raise ValueError(f"log column {c!r} is not a feature column")
        if (features[c].to_numpy(dtype=float) < 0).any():
            raise ValueError(f"log column {c!r} has negative values")
    is_log = np.array([c in log_columns for c in columns])
    x = raw.copy()
    x[:, is_log] = np.log1p(x[:, is_log])
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std

    if k is not None:
        ks = [int(k)]
    else:
        k_lo, k_hi = k_range
        ks = list(range(max(2, k_lo), k_hi + 1))
    ks = [kk for kk in ks if kk <= n - 1] or [min(max(1, n - 1), ks[0])]
    if n < 2:
        raise ValueError("need at least two customers to cluster")

    rng = np.random.default_rng(random_state)
    sample = rng.choice(n, size=silhouette_sample, replace=False) if n > silhouette_sample else None
    z_sample = z if sample is None else z[sample]
    fits: dict[int, KMeans] = {}
    scores: dict[int, float] = {}
    for kk in ks:
        km = KMeans(n_clusters=kk, n_init=n_init, random_state=random_state).fit(z)
        fits[kk] = km
        if len(ks) > 1:
            lab = km.labels_ if sample is None else km.labels_[sample]
            scores[kk] = float(silhouette_score(z_sample, lab)) if len(np.unique(lab)) > 1 else -1.0
    best_k = ks[0] if len(ks) == 1 else max(scores, key=lambda kk: (scores[kk], -kk))
    km = fits[best_k]

    # Stable numbering: by decreasing median money (or size), so label 0 is the "top" cluster.
    money_cols = [j for j, c in enumerate(columns) if _role(c) == "monetary"]
    raw_labels = km.labels_
    keys = []
    for c_id in range(best_k):
        members = raw_labels == c_id
        key = np.median(raw[members, money_cols[0]]) if money_cols else members.sum()
        keys.append((-key, -members.sum(), c_id))
    order = [c_id for _, _, c_id in sorted(keys)]
    relabel = np.empty(best_k, dtype=int)
    relabel[order] = np.arange(best_k)
    labels = relabel[raw_labels]

    centers_x = km.cluster_centers_[order] * std + mean
    centers_x[:, is_log] = np.expm1(centers_x[:, is_log])
    centers = pd.DataFrame(centers_x, columns=columns)
    centers.index.name = "cluster"

    sorted_cols = [np.sort(raw[:, j]) for j in range(len(columns))]
    rows = []
    for c_id in range(best_k):
        members = labels == c_id
        row: dict[str, object] = {
            "cluster": c_id,
            "size": int(members.sum()),
            "share": float(members.mean()),
        }
        levels: dict[str, str] = {}
        for j, c in enumerate(columns):
            med = float(np.median(raw[members, j]))
            p = _midrank_percentile(sorted_cols[j], med)
            level = "high" if p > 0.6 else "low" if p < 0.4 else "mid"
            row[f"{c}_median"] = med
            row[f"{c}_level"] = level
            levels[c] = level
        row["profile_en"], row["profile_zh"] = describe_cluster(levels)
        rows.append(row)
    profiles = pd.DataFrame(rows).set_index("cluster")
    return ClusterResult(
        labels=labels,
        k=best_k,
        centers=centers,
        profiles=profiles,
        silhouette=pd.Series(scores, name="silhouette", dtype=float).rename_axis("k"),
    )
