r"""sBG: the shifted-beta-geometric model of contractual retention.

Fader, P. S. and Hardie, B. G. S. (2007). "How to project customer retention".
*Journal of Interactive Marketing* 21(1), 76-90.
Fader, P. S. and Hardie, B. G. S. (2010). "Customer-base valuation in a contractual
setting: the perils of ignoring heterogeneity". *Marketing Science* 29(1), 85-93.

Every period a subscriber cancels with her own probability
:math:`\theta \sim \mathrm{Beta}(\alpha, \beta)`. The churn period ``T`` (1, 2, ...)
then has

.. math::

    P(T = t) = \frac{B(\alpha+1, \beta+t-1)}{B(\alpha,\beta)}, \qquad
    S(t) = P(T > t) = \frac{B(\alpha, \beta+t)}{B(\alpha,\beta)}, \qquad
    r(t) = \frac{S(t)}{S(t-1)} = \frac{\beta+t-1}{\alpha+\beta+t-1} .

The retention rate :math:`r(t)` *rises* with tenure — not because anyone's loyalty
grows but because the likely churners leave first.

A cohort observed for ``k`` periods with ``n_t`` still subscribed at the start of
period ``t`` (``n_0`` = cohort size) has log-likelihood

.. math::

    LL = \sum_{t=1}^{k} (n_{t-1} - n_t) \log P(T = t) + n_k \log S(k):

churners per period, plus the survivors right-censored at ``k``. That is the
per-row likelihood of :class:`~valuecrm.engine.models.base.MLEModel` with one row
per (lifetime, censored) outcome weighted by its head count, so cohorts of any
length — or customer-level subscription durations — share one fitting path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..hypergeometric import log_hyp2f1_1b
from .base import MLEModel, as_float_array, check_integral

__all__ = ["ShiftedBetaGeometric", "simulate_sbg", "survival_to_lifetimes"]


@dataclass(frozen=True)
class _LifetimeData:
    lifetime: np.ndarray  # churn period t (churned) or periods survived k (censored)
    censored: np.ndarray  # bool
    weights: np.ndarray


def survival_to_lifetimes(survival: Any) -> pd.DataFrame:
    """Turn cohort survival counts into weighted (lifetime, censored) rows.

    Parameters
    ----------
    survival : array-like of counts or DataFrame
        Either the counts ``n_0, n_1, ..., n_k`` still subscribed at the start of
        periods 0..k, or a frame with columns ``period`` and ``alive`` (the CLI
        format; period 0 is the cohort size), optionally with a ``cohort`` column
        for several cohorts of different lengths.

    Returns
    -------
    DataFrame with columns ``lifetime``, ``censored``, ``weight``.
    """
    if isinstance(survival, pd.DataFrame):
        missing = {"period", "alive"} - set(survival.columns)
        if missing:
            raise ValueError(
                f"survival frame needs columns 'period' and 'alive'; missing {sorted(missing)}"
            )
        groups = (
            survival.groupby("cohort", sort=False) if "cohort" in survival else [(None, survival)]
        )
        frames = []
        for cohort, frame in groups:
            frame = frame.sort_values("period")
            periods = as_float_array("period", frame["period"])
            if periods.size == 0 or not np.array_equal(periods, np.arange(periods.size)):
                label = "" if cohort is None else f" (cohort {cohort!r})"
                raise ValueError(f"survival periods must be 0, 1, 2, ... without gaps{label}")
            frames.append(survival_to_lifetimes(frame["alive"].to_numpy()))
        return pd.concat(frames, ignore_index=True)

    alive = as_float_array("alive", survival)
    check_integral("alive", alive)
    if alive.size < 2:
        raise ValueError("survival needs the cohort size and at least one later period")
    if alive[0] <= 0:
        raise ValueError("survival: the cohort size (period 0) must be positive")
    drops = -np.diff(alive)
    if np.any(drops < 0):
        bad = int(np.flatnonzero(drops < 0)[0]) + 1
        raise ValueError(
            f"survival counts must not increase (period {bad}: {alive[bad]:g} > {alive[bad - 1]:g})"
        )
    k = alive.size - 1
    return pd.DataFrame(
        {
            "lifetime": np.concatenate([np.arange(1, k + 1, dtype=float), [float(k)]]),
            "censored": np.concatenate([np.zeros(k, bool), [True]]),
            "weight": np.concatenate([drops, [alive[-1]]]),
        }
    )


class ShiftedBetaGeometric(MLEModel):
    r"""Shifted-beta-geometric retention model (Fader & Hardie 2007).

    Parameters ``alpha, beta`` of the beta distribution of per-period churn
    probabilities. Fit on cohort survival counts with :meth:`fit`, or on
    customer-level subscription durations with :meth:`fit_lifetimes`.

    See :class:`valuecrm.engine.models.base.MLEModel` for the hyper-parameters and
    the fitted attributes.

    Examples
    --------
    >>> regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    >>> ShiftedBetaGeometric().fit(regular).params_  # doctest: +SKIP
    {'alpha': 0.704, 'beta': 1.182}
    """

    _param_names = ("alpha", "beta")
    _data_names = ("lifetime", "censored")

    def fit(self, survival: Any) -> ShiftedBetaGeometric:
        """Fit on cohort survival counts.

        Parameters
        ----------
        survival : array-like or DataFrame
            Counts still subscribed at the start of periods 0, 1, ..., k (period 0
            is the cohort size), or a frame with columns ``period, alive`` and
            optionally ``cohort``; see :func:`survival_to_lifetimes`.
        """
        rows = survival_to_lifetimes(survival)
        return self.fit_lifetimes(rows["lifetime"], ~rows["censored"], weights=rows["weight"])

    def fit_lifetimes(
        self, lifetime: Any, churned: Any, weights: Any = None
    ) -> ShiftedBetaGeometric:
        """Fit on subscription durations.

        Parameters
        ----------
        lifetime : array-like of whole numbers >= 1
            For a churned customer the period in which she cancelled (1 = did not
            renew after the first period); for an active one the number of periods
            she has completed so far.
        churned : array-like of bool
            Whether the customer has cancelled (otherwise right-censored).
        weights : array-like, optional
            Number of customers each row stands for.
        """
        t = as_float_array("lifetime", lifetime)
        check_integral("lifetime", t)
        churned_arr = np.asarray(churned, dtype=bool).ravel()
        if churned_arr.size != t.size:
            raise ValueError(
                f"{self.model_name}: lifetime and churned must have the same length "
                f"(got {t.size}, {churned_arr.size})"
            )
        if t.size and t.min() < 1:
            bad = int(np.flatnonzero(t < 1)[0])
            raise ValueError(f"{self.model_name}: lifetime must be >= 1 (position {bad})")
        return self._fit((t, (~churned_arr).astype(float)), weights)

    def _prepare(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> _LifetimeData:
        lifetime, censored = data
        return _LifetimeData(lifetime=lifetime, censored=censored > 0.5, weights=weights)

    def _initial_log_params(self, data: Any, weights: np.ndarray) -> np.ndarray:
        if self.initial_params is not None:
            return super()._initial_log_params(data, weights)
        return np.log([1.0, 1.0])

    def _negative_log_likelihood_and_gradient(
        self, log_params: np.ndarray, data: _LifetimeData, weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        alpha, beta = np.exp(log_params)
        t, censored, w = data.lifetime, data.censored, data.weights
        psi = special.digamma
        # churned in t: B(alpha+1, beta+t-1); survived k: B(alpha, beta+t)
        a = np.where(censored, alpha, alpha + 1.0)
        b = np.where(censored, beta + t, beta + t - 1.0)
        log_l = special.betaln(a, b) - special.betaln(alpha, beta)
        d_alpha = psi(a) - psi(a + b) - psi(alpha) + psi(alpha + beta)
        d_beta = psi(b) - psi(a + b) - psi(beta) + psi(alpha + beta)
        ll = float(np.einsum("i,i->", w, log_l))
        gradient = np.array(
            [np.einsum("i,i->", w, d_alpha) * alpha, np.einsum("i,i->", w, d_beta) * beta]
        )
        if not np.isfinite(ll) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros(2)
        return -ll, -gradient

    # ------------------------------------------------------------------ predictions

    def _param_values(self) -> tuple[float, float]:
        params = self._check_fitted()
        return params["alpha"], params["beta"]

    def survival(self, t: Any) -> np.ndarray:
        r"""Share of a cohort still subscribed after ``t`` periods, :math:`S(t)`."""
        alpha, beta = self._param_values()
        periods = as_float_array("t", t)
        return np.exp(special.betaln(alpha, beta + periods) - special.betaln(alpha, beta))

    def churn_probability(self, t: Any) -> np.ndarray:
        r"""Probability of cancelling in period ``t`` (``t >= 1``), :math:`P(T = t)`."""
        alpha, beta = self._param_values()
        periods = _periods_from_one("t", t)
        return np.exp(special.betaln(alpha + 1, beta + periods - 1) - special.betaln(alpha, beta))

    def retention_rate(self, t: Any) -> np.ndarray:
        r"""Retention rate in period ``t``, :math:`r(t) = (\beta+t-1)/(\alpha+\beta+t-1)`."""
        alpha, beta = self._param_values()
        periods = _periods_from_one("t", t)
        return (beta + periods - 1) / (alpha + beta + periods - 1)

    def expected_lifetime(self) -> float:
        r"""Mean number of periods a new subscriber pays for, :math:`E[T]`.

        :math:`E[T] = \sum_{t \ge 0} S(t) = (\alpha+\beta-1)/(\alpha-1)` for
        :math:`\alpha > 1`; infinite otherwise (the heavy tail of near-zero churn
        probabilities) — use :meth:`discounted_expected_lifetime` then.
        """
        alpha, beta = self._param_values()
        return (alpha + beta - 1.0) / (alpha - 1.0) if alpha > 1.0 else float("inf")

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        r"""Discounted expected lifetime of a new subscriber (DEL).

        .. math::

            DEL(d) = \sum_{t \ge 0} \frac{S(t)}{(1+d)^t} = {}_2F_1\Big(1, \beta; \alpha+\beta;
            \frac{1}{1+d}\Big)

        payments at the start of each period, the first undiscounted. Multiplied by
        the margin per period it is the CLV of a customer yet to be acquired.
        """
        alpha, beta = self._param_values()
        z = _discount_factor(discount_rate)
        # 1 + z S(1) 2F1(1, beta+1; alpha+beta+1; z): keeps c > 1 for the stable 2F1.
        head = z * beta / (alpha + beta)
        return float(1.0 + head * np.exp(log_hyp2f1_1b(beta + 1.0, alpha + beta + 1.0, z)[0]))

    def discounted_expected_residual_lifetime(
        self, discount_rate: float, renewals: Any
    ) -> np.ndarray:
        r"""Discounted expected residual lifetime (DERL, Fader & Hardie 2010).

        For a subscriber who has made ``n - 1`` renewals (is in period ``n``, not yet
        asked to renew for ``n + 1``):

        .. math::

            DERL(d \mid \alpha, \beta, n) = \frac{\beta+n-1}{\alpha+\beta+n-1}\,
            {}_2F_1\Big(1, \beta+n; \alpha+\beta+n; \frac{1}{1+d}\Big)

        — the expected number of *future* payments, each discounted to now, the
        next one (at the coming renewal) undiscounted. CLV of an existing customer
        = margin per period × DERL.

        Parameters
        ----------
        discount_rate : float
            Per-period discount rate ``d > 0``.
        renewals : array-like of whole numbers >= 0
            Renewals made so far, ``n - 1``.
        """
        alpha, beta = self._param_values()
        z = _discount_factor(discount_rate)
        made = as_float_array("renewals", renewals)
        check_integral("renewals", made)
        n = made + 1.0
        log_f = log_hyp2f1_1b(beta + n, alpha + beta + n, np.full_like(n, z))[0]
        return (beta + n - 1.0) / (alpha + beta + n - 1.0) * np.exp(log_f)

    def project_survivors(self, cohort_size: float, periods: Any) -> np.ndarray:
        """Expected survivors of a cohort of ``cohort_size`` at the start of ``periods``."""
        return cohort_size * self.survival(periods)


def _periods_from_one(name: str, t: Any) -> np.ndarray:
    periods = as_float_array(name, t)
    if periods.size and periods.min() < 1:
        raise ValueError(f"{name} must be >= 1 (periods are numbered from 1)")
    return periods


def _discount_factor(discount_rate: float) -> float:
    d = float(discount_rate)
    if not np.isfinite(d) or d <= 0:
        raise ValueError(f"discount_rate must be positive, got {discount_rate!r}")
    return 1.0 / (1.0 + d)


# ---------------------------------------------------------------------- simulation


def simulate_sbg(
    alpha: float,
    beta: float,
    n_periods: int,
    size: int,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Cohort survival counts ``n_0..n_k`` simulated from the sBG model.

    Each of ``size`` subscribers draws ``theta ~ Beta(alpha, beta)`` and cancels in
    period ``T ~ Geometric(theta)``; returns how many are still subscribed at the
    start of periods 0..``n_periods``.
    """
    rng = np.random.default_rng(seed)
    theta = np.clip(rng.beta(alpha, beta, size), 1e-300, 1.0)
    churn_period = np.sort(rng.geometric(theta))
    periods = np.arange(n_periods + 1)
    return size - np.searchsorted(churn_period, periods, side="right")
