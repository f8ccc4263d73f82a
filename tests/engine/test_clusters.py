import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from valuecrm.engine.clusters import cluster_customers, describe_cluster


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread():
    # k-means uses OpenMP; with other test workers busy, spinning threads oversubscribe.
    with threadpool_limits(limits=1, user_api="openmp"):
        yield



def _three_groups(seed=1, n=(300, 500, 1200)):
    rng = np.random.default_rng(seed)
    groups = [
        # (recency_days, frequency, monetary) centres: top, middle, lapsed
        (5.0, 20.0, 200.0),
        (60.0, 5.0, 60.0),
        (250.0, 1.0, 15.0),
    ]
    frames = []
    for g, ((rec, freq, money), size) in enumerate(zip(groups, n, strict=True)):
        frames.append(
            pd.DataFrame(
                {
                    "recency_days": rng.normal(rec, rec * 0.1, size).clip(0),
                    "frequency": np.round(rng.normal(freq, freq * 0.1, size)).clip(0),
                    "monetary": rng.lognormal(np.log(money), 0.1, size),
                    "truth": g,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_cluster_customers_finds_three_groups_and_describes_them():
    data = _three_groups()
    result = cluster_customers(data.drop(columns="truth"), random_state=0)
    assert result.k == 3
    assert set(result.silhouette.index) == set(range(2, 9))
    assert result.silhouette.idxmax() == 3
    assert adjusted_rand_score(data["truth"], result.labels) == pytest.approx(1.0)
    # numbered by decreasing median money: cluster 0 is the top group
    assert (result.labels[data["truth"].to_numpy() == 0] == 0).all()
    assert (result.labels[data["truth"].to_numpy() == 2] == 2).all()
    profiles = result.profiles
    assert profiles["size"].tolist() == [300, 500, 1200]
    assert profiles["share"].sum() == pytest.approx(1.0)
    assert profiles.loc[0, "profile_en"] == "Frequent high spenders, bought recently"
    assert profiles.loc[0, "profile_zh"] == "高频高消费，近期活跃"
    assert profiles.loc[2, "profile_en"] == "Infrequent low spenders, lapsed for a long time"
    assert profiles.loc[2, "profile_zh"] == "低频低消费，久未购买"
    # middle group sits between the 40th and 60th percentiles in money? it is 25 %
    # of customers above the 60 % lapsed ones -> its median percentile is ~0.725: high
    assert profiles.loc[1, "monetary_level"] == "high"
    # centres are back in original units (log1p undone for frequency and money)
    assert result.centers.loc[0, "frequency"] == pytest.approx(20.0, rel=0.05)
    assert result.centers.loc[0, "monetary"] == pytest.approx(200.0, rel=0.05)
    assert result.centers.loc[2, "recency_days"] == pytest.approx(250.0, rel=0.05)


def test_cluster_customers_fixed_k_and_sampled_silhouette_is_reproducible():
    data = _three_groups(seed=2).drop(columns="truth")
    fixed = cluster_customers(data, k=2, random_state=0)
    assert fixed.k == 2
    assert fixed.silhouette.empty
    assert sorted(np.unique(fixed.labels).tolist()) == [0, 1]
    a = cluster_customers(data, k_range=(2, 4), silhouette_sample=500, random_state=3)
    b = cluster_customers(data, k_range=(2, 4), silhouette_sample=500, random_state=3)
    assert a.k == b.k == 3
    assert (a.labels == b.labels).all()


def test_cluster_customers_rejects_bad_input():
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        cluster_customers(pd.DataFrame({"frequency": [1, 2, 3]}), columns=["nope"])
    with pytest.raises(ValueError, match=r"NaN in column\(s\) \['monetary'\]"):
        cluster_customers(pd.DataFrame({"frequency": [1, 2, 3], "monetary": [1.0, None, 2.0]}))
    with pytest.raises(ValueError, match="negative"):
        cluster_customers(
            pd.DataFrame({"frequency": [1, 2, 3], "margin": [-1.0, 2.0, 3.0]}),
            columns=["frequency", "margin"],
            log_columns=["margin"],
        )


def test_describe_cluster_with_other_features():
    en, zh = describe_cluster({"frequency": "low", "tickets": "high"})
    assert en == "Infrequent buyers, high tickets"
    assert zh == "低频，tickets高"


def test_cluster_customers_on_cdnow(cdnow_summary):
    feats = pd.DataFrame(
        {
            "recency_days": (cdnow_summary["T"] - cdnow_summary["recency"]) * 7,
            "frequency": cdnow_summary["frequency"],
            "monetary": cdnow_summary["monetary_value"],
        }
    )
    result = cluster_customers(feats, k_range=(2, 6), random_state=0)
    assert 2 <= result.k <= 6
    assert result.profiles["size"].sum() == len(feats)
    # the top cluster (0) buys more often than the customer base as a whole
    assert result.profiles.loc[0, "frequency_median"] > feats["frequency"].median()
    assert result.profiles["profile_en"].str.len().min() > 0
