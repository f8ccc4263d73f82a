"""Uplift modelling: who buys *because of* a campaign, learned from randomized hold-outs.

A two-model (T-learner) estimate: one ridge regression (penalty by leave-one-out
cross-validation) of the attribution-window revenue on value features among treated
customers, one among the hold-out; the
predicted uplift of a customer is the difference of the two predictions. Ridge
(scikit-learn, already a dependency) on standardised features keeps it stable on
the few hundred hold-out customers a campaign has; the coefficients are plain
numbers, stored on the model row and applied here with numpy — no pickles.

Evaluation is a Qini curve on a campaign *later* than the ones the model learned
from: customers sorted by predicted uplift (highest first); at each share φ of them,

    Q(φ) = (Y_t(φ) − Y_c(φ) · N_t(φ) / N_c(φ)) / N

the incremental revenue per audience customer gained by targeting only that top
share (Y, N: summed revenue and count of treated (t) and hold-out (c) customers
among them). A random order gives the straight line φ · Q(1). The Qini coefficient
is the area between the curve and that line (¥ per customer; > 0: the ranking finds
the responsive customers, ≈ 0: no better than chance); AUUC is the area under the
curve itself.

This module is pure (arrays in, arrays out); marketing.services reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Order matters: the stored coefficients follow it.
FEATURES = (
    "frequency",        # revenue orders before the moment
    "recency_days",     # days since the last of them
    "t_days",           # days since the first of them (customer age)
    "monetary",         # mean order value
    "clv",              # predicted 12-month CLV
    "churn_risk",
    "p_alive",
    "tier_a", "tier_b", "tier_c",  # value tier (N: all three 0)
    "r_score", "f_score", "m_score",
    "consent_email", "consent_sms", "consent_wechat",
)

MIN_PER_GROUP = 30  # treated and hold-out customers with outcomes needed to train or to evaluate
QINI_POINTS = 50


@dataclass(frozen=True)
class TwoModel:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef_t: np.ndarray
    intercept_t: float
    coef_c: np.ndarray
    intercept_c: float
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted uplift (¥ of window revenue) per row of ``x``."""
        z = (np.asarray(x, dtype=float) - self.mean) / self.scale
        return (z @ self.coef_t + self.intercept_t) - (z @ self.coef_c + self.intercept_c)

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef_t": self.coef_t.tolist(), "intercept_t": self.intercept_t,
                "coef_c": self.coef_c.tolist(), "intercept_c": self.intercept_c, "alpha": self.alpha}

    @classmethod
    def from_json(cls, data: dict) -> TwoModel:
        return cls(features=tuple(data["features"]), mean=np.array(data["mean"], dtype=float),
                   scale=np.array(data["scale"], dtype=float), coef_t=np.array(data["coef_t"], dtype=float),
                   intercept_t=float(data["intercept_t"]), coef_c=np.array(data["coef_c"], dtype=float),
                   intercept_c=float(data["intercept_c"]), alpha=float(data["alpha"]))


ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 11))


def fit(x: np.ndarray, treated: np.ndarray, y: np.ndarray, *, alpha: float | None = None,
        features: tuple[str, ...] = FEATURES) -> TwoModel:
    """Fit the T-learner. ``treated`` is boolean; ``y`` the outcome (window revenue).

    Each arm's ridge penalty is chosen by efficient leave-one-out cross-validation over
    ALPHAS (RidgeCV) unless ``alpha`` is given: the hold-out arm is small and its revenue
    heavy-tailed, so a fixed light penalty lets a few big buyers steer the ranking."""
    from sklearn.linear_model import Ridge, RidgeCV

    x = np.asarray(x, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature (e.g. nobody has SMS consent) adds nothing
    z = (x - mean) / scale
    arms = []
    chosen = []
    for mask in (treated, ~treated):
        reg = Ridge(alpha=alpha) if alpha is not None else RidgeCV(alphas=ALPHAS)
        reg.fit(z[mask], y[mask])
        arms.append((np.asarray(reg.coef_, dtype=float), float(reg.intercept_)))
        chosen.append(float(alpha if alpha is not None else reg.alpha_))
    (ct, it), (cc, ic) = arms
    return TwoModel(features=tuple(features), mean=mean, scale=scale, coef_t=ct, intercept_t=it,
                    coef_c=cc, intercept_c=ic, alpha=max(chosen))


@dataclass(frozen=True)
class Qini:
    fractions: list[float]
    curve: list[float]
    random: list[float]
    coefficient: float  # area between the curve and the random line
    auuc: float  # area under the curve
    n_treatment: int
    n_control: int


def rank(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Indices sorting highest score first, ties by ascending id: stable and reproducible."""
    return np.lexsort((np.asarray(ids), -np.asarray(scores, dtype=float)))


def qini(uplift: np.ndarray, treated: np.ndarray, y: np.ndarray, *, ids: np.ndarray | None = None,
         points: int = QINI_POINTS) -> Qini:
    uplift = np.asarray(uplift, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    n = len(y)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    order = rank(uplift, ids)
    t, out = treated[order], y[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(np.where(t, out, 0.0)), np.cumsum(np.where(~t, out, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled_c = np.where(n_c > 0, y_c * n_t / np.maximum(n_c, 1), 0.0)
    q = np.concatenate([[0.0], (y_t - scaled_c) / n])
    x = np.arange(n + 1) / n
    rand = x * q[-1]
    coefficient = float(np.trapezoid(q - rand, x))
    auuc = float(np.trapezoid(q, x))
    picks = np.unique(np.round(np.linspace(0, n, points + 1)).astype(int))
    return Qini(fractions=[round(float(x[i]), 4) for i in picks], curve=[round(float(q[i]), 4) for i in picks],
                random=[round(float(rand[i]), 4) for i in picks], coefficient=round(coefficient, 4),
                auuc=round(auuc, 4), n_treatment=int(treated.sum()), n_control=int((~treated).sum()))


def enough(treated: np.ndarray, minimum: int = MIN_PER_GROUP) -> bool:
    treated = np.asarray(treated, dtype=bool)
    return int(treated.sum()) >= minimum and int((~treated).sum()) >= minimum
