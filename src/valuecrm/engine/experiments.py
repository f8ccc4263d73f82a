"""Randomized hold-out experiments: assignment, incremental effect with a 95 % interval,
CUPED variance reduction, the sample-ratio-mismatch check and a minimum-sample guard.

Pure: numpy and scipy only, no Django. The marketing app hands in per-customer arrays
(revenue in the attribution window, revenue in the pre-period, group membership) and
gets plain dataclasses back.

- ``assign_group(campaign_key, customer_id, holdout_percent)`` is a stable hash of
  (campaign, customer): the same pair always lands in the same group, on every machine.
- ``welch_interval`` is the difference of means with the Welch–Satterthwaite t interval.
- ``cuped`` adjusts each customer's outcome by θ·(pre − mean(pre)), θ = cov(y, x)/var(x)
  estimated on both groups pooled (Deng et al. 2013), and reports the interval with and
  without the adjustment.
- ``srm_p_value`` is the χ² goodness-of-fit test of the observed split against the
  intended one; p < 0.001 means the split is broken.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_PER_GROUP = 30  # below this in either group the interval is not reported
SRM_ALPHA = 0.001


def hash_unit(key: str, customer_id: int) -> float:
    """A number in [0, 1) fixed by (key, customer): SHA-256, first 8 bytes."""
    digest = hashlib.sha256(f"{key}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_group(key: str, customer_id: int, holdout_percent: float) -> str:
    """"control" for the first ``holdout_percent`` % of the hash range, else "treatment"."""
    return "control" if hash_unit(key, customer_id) * 100 < holdout_percent else "treatment"


@dataclass(frozen=True)
class Interval:
    estimate: float  # mean(treatment) − mean(control), per customer
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def welch_interval(treatment, control, confidence: float = 0.95) -> Interval:
    t = np.asarray(treatment, dtype=float)
    c = np.asarray(control, dtype=float)
    if t.size < 2 or c.size < 2:
        raise ValueError("each group needs at least two customers")
    diff = t.mean() - c.mean()
    vt, vc = t.var(ddof=1) / t.size, c.var(ddof=1) / c.size
    se = math.sqrt(vt + vc)
    if se == 0:
        return Interval(float(diff), float(diff), float(diff))
    dof = (vt + vc) ** 2 / ((vt**2) / (t.size - 1) + (vc**2) / (c.size - 1))
    q = stats.t.ppf(0.5 + confidence / 2, dof)
    return Interval(float(diff), float(diff - q * se), float(diff + q * se))


def cuped_adjust(y, x) -> tuple[np.ndarray, float]:
    """(y − θ(x − x̄), θ) with θ = cov(y, x) / var(x); θ = 0 when x does not vary."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    vx = x.var(ddof=1) if x.size > 1 else 0.0
    theta = float(np.cov(y, x, ddof=1)[0, 1] / vx) if vx > 0 else 0.0
    return y - theta * (x - x.mean()), theta


@dataclass(frozen=True)
class CupedResult:
    plain: Interval
    adjusted: Interval
    theta: float

    @property
    def width_reduction(self) -> float:
        """Share by which CUPED narrowed the interval (0.3 = 30 % narrower)."""
        if self.plain.width == 0:
            return 0.0
        return 1 - self.adjusted.width / self.plain.width


def cuped(y_treatment, x_treatment, y_control, x_control, confidence: float = 0.95) -> CupedResult:
    yt, yc = np.asarray(y_treatment, float), np.asarray(y_control, float)
    xt, xc = np.asarray(x_treatment, float), np.asarray(x_control, float)
    adjusted, theta = cuped_adjust(np.concatenate([yt, yc]), np.concatenate([xt, xc]))
    return CupedResult(
        plain=welch_interval(yt, yc, confidence),
        adjusted=welch_interval(adjusted[: yt.size], adjusted[yt.size:], confidence),
        theta=theta,
    )


def srm_p_value(n_treatment: int, n_control: int, holdout_percent: float) -> float:
    """χ² test of the observed split against the intended (100 − h) : h."""
    total = n_treatment + n_control
    if total == 0 or not 0 < holdout_percent < 100:
        return 1.0
    expected = [total * (100 - holdout_percent) / 100, total * holdout_percent / 100]
    return float(stats.chisquare([n_treatment, n_control], f_exp=expected).pvalue)


@dataclass(frozen=True)
class ExperimentResult:
    n_treatment: int
    n_control: int
    revenue_per_customer_treatment: float
    revenue_per_customer_control: float
    conversion_treatment: float
    conversion_control: float
    enough_data: bool
    incremental_revenue: float | None  # per-customer lift × treated customers
    ci_low: float | None
    ci_high: float | None
    cuped_ci_low: float | None
    cuped_ci_high: float | None
    cuped_theta: float | None
    cuped_width_reduction: float | None
    srm_p_value: float
    srm_alarm: bool
    incremental_roas: float | None


def analyse(y_treatment, y_control, *, x_treatment=None, x_control=None, holdout_percent: float,
            cost: float = 0.0, min_per_group: int = MIN_PER_GROUP) -> ExperimentResult:
    """The hold-out read-out: totals scale the per-customer lift by the treated count."""
    yt, yc = np.asarray(y_treatment, float), np.asarray(y_control, float)
    nt, nc = int(yt.size), int(yc.size)
    p = srm_p_value(nt, nc, holdout_percent)
    enough = nt >= min_per_group and nc >= min_per_group
    inc = low = high = clow = chigh = theta = reduction = roas = None
    if enough:
        if x_treatment is not None and x_control is not None:
            res = cuped(yt, x_treatment, yc, x_control)
            plain, adj = res.plain, res.adjusted
            clow, chigh = adj.low * nt, adj.high * nt
            theta, reduction = res.theta, res.width_reduction
        else:
            plain = welch_interval(yt, yc)
        inc, low, high = plain.estimate * nt, plain.low * nt, plain.high * nt
        roas = inc / cost if cost > 0 else None
    return ExperimentResult(
        n_treatment=nt, n_control=nc,
        revenue_per_customer_treatment=float(yt.mean()) if nt else 0.0,
        revenue_per_customer_control=float(yc.mean()) if nc else 0.0,
        conversion_treatment=float((yt > 0).mean()) if nt else 0.0,
        conversion_control=float((yc > 0).mean()) if nc else 0.0,
        enough_data=enough, incremental_revenue=inc, ci_low=low, ci_high=high,
        cuped_ci_low=clow, cuped_ci_high=chigh, cuped_theta=theta, cuped_width_reduction=reduction,
        srm_p_value=p, srm_alarm=p < SRM_ALPHA, incremental_roas=roas,
    )
