"""Win probability of open deals, learned from closed ones (pure: numpy, pandas, scikit-learn).

Two learners are fitted on the earlier closed deals and scored on the later ones (a time
split, so the test period is truly unseen):

- ``NaiveBayesWinModel`` — Odoo's predictive lead scoring (``crm.lead._pls_get_naive_bayes_
  probabilities``): per field value, how often it occurred among won and among lost deals,
  with additive smoothing (0.1 / 0.2 as Odoo), multiplied under independence with the prior;
- ``LogisticWinModel`` — a sigmoid-calibrated logistic regression over the categorical fields
  (one-hot) and the numeric ones (standardised, amounts and CLV on a log scale).

``evaluate`` compares both with the stage-default probability on the test period by Brier
score and keeps the lower one. Each model explains a prediction as signed factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CATEGORICAL = ("stage", "source", "owner", "tier")
NUMERIC = ("age_days", "days_in_stage", "log_amount", "owner_win_rate", "activities_14d", "log_clv",
           "p_alive", "past_orders")
SMOOTH_NUM, SMOOTH_DEN = 0.1, 0.2


def brier(y, p) -> float:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def roc_auc(y, p) -> float | None:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int)
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, p))


def time_split(frame: pd.DataFrame, *, time_col: str = "closed_at", test_share: float = 0.25):
    """Earlier rows train, the latest `test_share` (by `time_col`) test; returns (train, test, split_at)."""
    ordered = frame.sort_values(time_col, kind="stable")
    n_test = max(1, int(round(len(ordered) * test_share))) if len(ordered) > 1 else 0
    train, test = ordered.iloc[: len(ordered) - n_test], ordered.iloc[len(ordered) - n_test:]
    split_at = test[time_col].iloc[0] if n_test else None
    return train, test, split_at


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived numeric columns from the raw ones (amount, clv)."""
    out = frame.copy()
    out["log_amount"] = np.log1p(out["amount"].astype(float).clip(lower=0))
    out["log_clv"] = np.log1p(out["clv"].astype(float).fillna(0).clip(lower=0))
    out["p_alive"] = out["p_alive"].astype(float).fillna(0.5)
    for col in CATEGORICAL:
        out[col] = out[col].fillna("").astype(str)
    for col in NUMERIC:
        out[col] = out[col].astype(float).fillna(0.0)
    return out


@dataclass
class NaiveBayesWinModel:
    fields: tuple[str, ...] = CATEGORICAL + ("age_band", "amount_band")
    prior_won: float = 0.5
    tables: dict = field(default_factory=dict)  # field → value → (won count, lost count)
    n_won: int = 0
    n_lost: int = 0
    name: str = "naive_bayes"

    @staticmethod
    def _bands(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["age_band"] = pd.cut(out["age_days"], [-1, 7, 30, 90, 180, 1e9], labels=False).astype(str)
        out["amount_band"] = np.floor(out["log_amount"]).astype(int).astype(str)
        return out

    def fit(self, frame: pd.DataFrame, y) -> NaiveBayesWinModel:
        y = np.asarray(y, dtype=int)
        frame = self._bands(frame)
        self.n_won, self.n_lost = int(y.sum()), int(len(y) - y.sum())
        self.prior_won = self.n_won / len(y) if len(y) else 0.5
        self.tables = {}
        for f in self.fields:
            counts = pd.crosstab(frame[f].to_numpy(), y)
            self.tables[f] = {str(v): (int(counts.loc[v].get(1, 0)), int(counts.loc[v].get(0, 0)))
                              for v in counts.index}
        return self

    def _log_ratios(self, frame: pd.DataFrame) -> np.ndarray:
        frame = self._bands(frame)
        cols = []
        for f in self.fields:
            table = self.tables.get(f, {})
            won = frame[f].map(lambda v, t=table: t.get(str(v), (0, 0))[0]).to_numpy(dtype=float)
            lost = frame[f].map(lambda v, t=table: t.get(str(v), (0, 0))[1]).to_numpy(dtype=float)
            p_won = (won + SMOOTH_NUM) / (self.n_won + SMOOTH_DEN)
            p_lost = (lost + SMOOTH_NUM) / (self.n_lost + SMOOTH_DEN)
            cols.append(np.log(p_won) - np.log(p_lost))
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        prior = min(max(self.prior_won, 1e-6), 1 - 1e-6)
        logit = math.log(prior / (1 - prior)) + self._log_ratios(frame).sum(axis=1)
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))

    def factors(self, frame: pd.DataFrame, top: int = 3) -> list[list[tuple[str, str, float]]]:
        ratios = self._log_ratios(frame)
        banded = self._bands(frame)
        values = [banded[f].astype(str).to_numpy() for f in self.fields]
        out = []
        for i in range(len(frame)):
            pairs = [(f, values[j][i], float(ratios[i, j])) for j, f in enumerate(self.fields)]
            out.append(_top(pairs, top))
        return out


def _top(pairs, top):
    pos = sorted((p for p in pairs if p[2] > 0), key=lambda p: -p[2])[:top]
    neg = sorted((p for p in pairs if p[2] < 0), key=lambda p: p[2])[:top]
    return pos + neg


@dataclass
class LogisticWinModel:
    name: str = "logistic"
    model: object = None
    encoder: object = None

    def _design(self, frame: pd.DataFrame, fit: bool = False):
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        if fit:
            self.encoder = ColumnTransformer([
                ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), list(CATEGORICAL)),
                ("num", StandardScaler(), list(NUMERIC)),
            ])
            return self.encoder.fit_transform(frame)
        return self.encoder.transform(frame)

    def fit(self, frame: pd.DataFrame, y) -> LogisticWinModel:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression

        X = self._design(frame, fit=True)
        y = np.asarray(y, dtype=int)
        base = LogisticRegression(C=1.0, max_iter=500)
        n_min = int(min(y.sum(), len(y) - y.sum()))
        if n_min >= 3:
            self.model = CalibratedClassifierCV(base, method="sigmoid", cv=3).fit(X, y)
        else:
            self.model = base.fit(X, y)
        # An uncalibrated twin for the explanation (the calibration is monotone).
        self._explainer = LogisticRegression(C=1.0, max_iter=500).fit(X, y) if n_min >= 1 else None
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self._design(frame))[:, 1]

    def factors(self, frame: pd.DataFrame, top: int = 3) -> list[list[tuple[str, str, float]]]:
        if self._explainer is None:
            return [[] for _ in range(len(frame))]
        X = self._design(frame)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        names = self.encoder.get_feature_names_out()
        contrib = X * self._explainer.coef_[0]
        raw = {f: frame[f].to_numpy() for f in CATEGORICAL + NUMERIC}
        features = [_feature_of(name) for name in names]
        out = []
        for i in range(len(frame)):
            by_feature: dict[str, float] = {}
            for feat, c in zip(features, contrib[i], strict=True):
                by_feature[feat] = by_feature.get(feat, 0.0) + float(c)
            pairs = [(f, str(raw[f][i]) if f in raw else "", v) for f, v in by_feature.items() if abs(v) > 1e-9]
            out.append(_top(pairs, top))
        return out


def _feature_of(column: str) -> str:
    """"cat__source_referral" → "source"; "num__age_days" → "age_days"."""
    kind, _sep, rest = column.partition("__")
    if kind == "cat":
        for cat in CATEGORICAL:
            if rest.startswith(cat + "_") or rest == cat:
                return cat
    return rest


def evaluate(frame: pd.DataFrame, *, test_share: float = 0.25) -> dict:
    """Fit both learners on the earlier closed deals; score them and the stage default on the later.

    `frame` has one row per closed deal: `won` (0/1), `closed_at`, `stage_default` and the raw
    feature columns. Returns the figures and the chosen, refitted-on-everything model."""
    frame = prepare(frame)
    train, test, split_at = time_split(frame, test_share=test_share)
    result = {"n_train": int(len(train)), "n_test": int(len(test)), "split_at": split_at,
              "brier_stage_default": brier(test["won"], test["stage_default"]) if len(test) else None}
    if len(train) < 10 or train["won"].nunique() < 2 or len(test) == 0:
        result.update(chosen="stage_default", brier_model=result["brier_stage_default"], brier_naive_bayes=None,
                      brier_logistic=None, roc_auc=roc_auc(test["won"], test["stage_default"]) if len(test) else None,
                      model=None)
        return result
    scores = {}
    for learner in (NaiveBayesWinModel(), LogisticWinModel()):
        learner.fit(train, train["won"])
        p = learner.predict_proba(test)
        scores[learner.name] = (brier(test["won"], p), roc_auc(test["won"], p))
    chosen = min(scores, key=lambda k: scores[k][0])
    final = (NaiveBayesWinModel() if chosen == "naive_bayes" else LogisticWinModel()).fit(frame, frame["won"])
    result.update(chosen=chosen, brier_model=scores[chosen][0], roc_auc=scores[chosen][1],
                  brier_naive_bayes=scores["naive_bayes"][0], brier_logistic=scores["logistic"][0],
                  roc_auc_naive_bayes=scores["naive_bayes"][1], roc_auc_logistic=scores["logistic"][1],
                  model=final)
    return result


def predict(model, frame: pd.DataFrame) -> tuple[np.ndarray, list]:
    frame = prepare(frame)
    return model.predict_proba(frame), model.factors(frame)
