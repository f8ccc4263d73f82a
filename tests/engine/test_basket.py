import numpy as np
import pytest

from valuecrm.engine import basket


def test_lift_finds_the_pair_bought_together_and_ranks_it_first():
    # 1 and 2 always together; 3 is popular with everyone.
    baskets, items = [], []
    for b in range(100):
        baskets += [b, b]
        items += [3, 4 + b % 7]
        if b < 30:
            baskets += [b, b]
            items += [1, 2]
    model = basket.fit(baskets, items)
    recs = basket.recommend(model, [1], k=3)
    assert recs[0][0] == 2
    assert recs[0][1] == pytest.approx(100 / 30)  # lift = 30·100 / (30·30)
    assert 1 not in [r for r, _ in recs]
    assert basket.recommend(model, [999]) == []


def test_recommendations_beat_popularity_on_a_time_split():
    rng = np.random.default_rng(0)
    # Customers have a taste (one of 10 groups of 5 items) plus one popular item.
    train_b, train_i, test = [], [], {}
    for c in range(600):
        group = rng.integers(10)
        taste = list(range(group * 5, group * 5 + 5))
        bought = set(rng.choice(taste, 2, replace=False).tolist()) | {99}
        for i in bought:
            train_b.append(c)
            train_i.append(i)
        test[c] = set(taste) - bought
    result = basket.hit_rate_at_k(train_b, train_i, test, k=3)
    assert result["n"] == 600
    assert result["hit_rate"] >= 1.2 * result["popularity_hit_rate"]
    assert result["hit_rate"] > 0.9
