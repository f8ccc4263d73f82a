""""Bought A, also bought B": item-item co-occurrence with lift, on sparse matrices.

Pure (numpy, scipy.sparse). Input: parallel arrays of (basket id, item id) — a basket
is a customer's purchase history (or one order). Output: for each item, the items
bought with it in at least ``min_count`` baskets, scored by lift
P(A∧B) / (P(A)·P(B)); ``recommend`` ranks candidates for one basket by the summed
lift of what it holds, weighted by the candidate's margin, and drops what it holds.
``hit_rate_at_k`` evaluates on a time split against the popularity baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass
class CoOccurrence:
    items: np.ndarray  # item ids, index → id
    counts: np.ndarray  # baskets holding each item
    n_baskets: int
    lift: sparse.csr_matrix  # item × item, zero below min_count and on the diagonal

    def index_of(self, item_ids) -> np.ndarray:
        pos = np.searchsorted(self.items, item_ids)
        pos = np.clip(pos, 0, max(len(self.items) - 1, 0))
        ok = (len(self.items) > 0) & (self.items[pos] == np.asarray(item_ids))
        return pos[ok]


def fit(basket_ids, item_ids, *, min_count: int = 2) -> CoOccurrence:
    b = np.asarray(basket_ids)
    i = np.asarray(item_ids)
    items, col = np.unique(i, return_inverse=True)
    baskets, row = np.unique(b, return_inverse=True)
    x = sparse.csr_matrix((np.ones(len(row), dtype=np.float64), (row, col)),
                          shape=(len(baskets), len(items)))
    x.data[:] = 1.0
    x.sum_duplicates()
    x.data = np.minimum(x.data, 1.0)
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    co.data[co.data < min_count] = 0
    co.eliminate_zeros()
    counts = np.asarray(x.sum(axis=0)).ravel()
    n = len(baskets)
    coo = co.tocoo()
    lift_vals = coo.data * n / (counts[coo.row] * counts[coo.col])
    lift = sparse.csr_matrix((lift_vals, (coo.row, coo.col)), shape=co.shape)
    return CoOccurrence(items=items, counts=counts, n_baskets=n, lift=lift)


def recommend(model: CoOccurrence, held_item_ids, *, k: int = 10, margins: dict | None = None,
              exclude=()) -> list[tuple[object, float]]:
    """Top-k (item id, score) for a basket holding ``held_item_ids``; held items excluded."""
    held = model.index_of(np.asarray(list(held_item_ids)))
    if held.size == 0:
        return []
    scores = np.asarray(model.lift[held].sum(axis=0)).ravel()
    if margins:
        weight = np.array([max(float(margins.get(item, 1.0)), 0.0) for item in model.items])
        scores = scores * (1.0 + weight / (weight.max() or 1.0))
    scores[held] = 0
    skip = model.index_of(np.asarray(list(exclude))) if exclude else np.array([], dtype=int)
    scores[skip] = 0
    top = np.argsort(-scores, kind="stable")[:k]
    return [(model.items[j].item(), float(scores[j])) for j in top if scores[j] > 0]


def popular(model: CoOccurrence, held_item_ids, *, k: int = 10) -> list:
    held = set(model.index_of(np.asarray(list(held_item_ids))).tolist())
    order = np.argsort(-model.counts, kind="stable")
    return [model.items[j].item() for j in order if j not in held][:k]


def hit_rate_at_k(train_baskets, train_items, test: dict, *, k: int = 10, min_count: int = 2) -> dict:
    """``test`` maps basket id → set of items bought after the split that it did not hold
    before. A hit: at least one of them is in the top k. Returns both hit rates."""
    model = fit(train_baskets, train_items, min_count=min_count)
    history: dict = {}
    for b, i in zip(train_baskets, train_items, strict=True):
        history.setdefault(b, set()).add(i)
    hits = base = n = 0
    for basket, future in test.items():
        held = history.get(basket)
        if not held or not future:
            continue
        n += 1
        recs = {item for item, _s in recommend(model, held, k=k)}
        hits += bool(recs & future)
        base += bool(set(popular(model, held, k=k)) & future)
    return {"n": n, "hit_rate": hits / n if n else 0.0, "popularity_hit_rate": base / n if n else 0.0}
