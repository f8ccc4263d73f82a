r"""BG/BB: the beta-geometric / beta-binomial model for discrete-time repeat transactions.

Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). "Customer-base analysis in a
discrete-time noncontractual setting". *Marketing Science* 29(6), 1086-1108.

Each period is a transaction *opportunity* (a yearly fund-raising drive, a weekly
event). While alive, a customer transacts at each opportunity with probability
:math:`p \sim \mathrm{Beta}(\alpha, \beta)`; at the start of each opportunity an
alive customer dies with probability :math:`\theta \sim \mathrm{Beta}(\gamma, \delta)`.
For ``x`` transactions in ``n`` opportunities, the last at opportunity ``t_x``
(the paper's likelihood):

.. math::

    L(\alpha,\beta,\gamma,\delta \mid x, t_x, n) =
      \frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}\frac{B(\gamma, \delta+n)}{B(\gamma,\delta)}
    + \sum_{i=0}^{n-t_x-1} \frac{B(\alpha+x, \beta+t_x-x+i)}{B(\alpha,\beta)}
      \frac{B(\gamma+1, \delta+t_x+i)}{B(\gamma,\delta)} .

The first term is "alive through opportunity ``n``", the ``i``-th "died at the
start of opportunity ``t_x + i + 1``". All terms are positive and are summed with
``logsumexp`` over a (rows x max(n - t_x)) grid — cheap after collapsing, because
a recency/frequency table has at most (n+1)(n+2)/2 distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .base import MLEModel, as_float_array, check_integral

__all__ = ["BetaGeoBetaBinom", "simulate_bgbb"]


@dataclass(frozen=True)
class _BGBBData:
    x: np.ndarray
    t_x: np.ndarray
    n: np.ndarray
    weights: np.ndarray
    # died-term grid: column i is the death at the start of opportunity t_x + i + 1
    died_mask: np.ndarray  # (rows, max(n - t_x)) bool
    offsets: np.ndarray  # (1, max(n - t_x)) = 0, 1, 2, ...


def check_bgbb_data(
    frequency: Any, recency: Any, n_periods: Any, *, model: str = "model"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate discrete-time ``frequency, recency, n_periods`` and return float arrays.

    Needs whole numbers with ``0 <= frequency <= recency <= n_periods``,
    ``recency = 0`` exactly when ``frequency = 0`` and ``n_periods >= 1``.
    """
    x = as_float_array("frequency", frequency)
    t_x = as_float_array("recency", recency)
    n = as_float_array("n_periods", n_periods)
    x, t_x, n = np.broadcast_arrays(x, t_x, n) if x.size and t_x.size and n.size else (x, t_x, n)
    if not (x.size == t_x.size == n.size):
        raise ValueError(f"{model}: frequency, recency and n_periods must have the same length")
    if x.size == 0:
        raise ValueError(f"{model}: no customers to fit (empty input)")
    for name, values in (("frequency", x), ("recency", t_x), ("n_periods", n)):
        check_integral(name, values)
    checks = [
        (n < 1, "n_periods must be at least 1"),
        (t_x > n, "recency must not exceed n_periods"),
        (x > t_x, "frequency must not exceed recency (x transactions need x opportunities)"),
        ((x == 0) & (t_x > 0), "recency must be 0 when frequency is 0"),
        ((x > 0) & (t_x == 0), "recency must be at least 1 when frequency is positive"),
    ]
    for bad, message in checks:
        if np.any(bad):
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{model}: {message} (position {row}: frequency={x[row]:g}, "
                f"recency={t_x[row]:g}, n_periods={n[row]:g})"
            )
    return np.array(x, dtype=float), np.array(t_x, dtype=float), np.array(n, dtype=float)


class BetaGeoBetaBinom(MLEModel):
    r"""BG/BB model of discrete-time repeat transactions (Fader, Hardie & Shang 2010).

    Parameters are ``alpha, beta`` (beta heterogeneity of the transaction
    probability ``p``) and ``gamma, delta`` (beta heterogeneity of the dropout
    probability ``theta``). Data are ``frequency`` (transactions ``x``),
    ``recency`` (the opportunity ``t_x`` of the last one, 0 if none) and
    ``n_periods`` (opportunities observed, ``n``).

    See :class:`valuecrm.engine.models.base.MLEModel` for the hyper-parameters and
    the fitted attributes.

    Examples
    --------
    >>> model = BetaGeoBetaBinom().fit(d["frequency"], d["recency"], d["n"], weights=d["n_custs"])
    >>> model.params_  # doctest: +SKIP
    {'alpha': 1.204, 'beta': 0.750, 'gamma': 0.657, 'delta': 2.783}   # donations 1995 cohort
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _data_names = ("frequency", "recency", "n_periods")

    def fit(
        self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None
    ) -> BetaGeoBetaBinom:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, n_periods : array-like of whole numbers
            ``x``, ``t_x`` and ``n`` per customer (or per row of a
            recency/frequency table, with ``weights`` the number of customers).
        weights : array-like, optional
            Number of customers each row stands for.
        """
        x, t_x, n = check_bgbb_data(frequency, recency, n_periods, model=self.model_name)
        return self._fit((x, t_x, n), weights)

    def _prepare(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> _BGBBData:
        x, t_x, n = data
        width = max(int((n - t_x).max()), 1)
        offsets = np.arange(width, dtype=float)[None, :]
        return _BGBBData(
            x=x,
            t_x=t_x,
            n=n,
            weights=weights,
            died_mask=offsets < (n - t_x)[:, None],
            offsets=offsets,
        )

    def _negative_log_likelihood_and_gradient(
        self, log_params: np.ndarray, data: _BGBBData, weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        alpha, beta, gamma, delta = np.exp(log_params)
        log_alive, log_died, d_alive, d_died = _terms(
            alpha, beta, gamma, delta, data.x, data.t_x, data.n, data.offsets, data.died_mask
        )
        w = data.weights
        with np.errstate(all="ignore"):
            log_l = np.logaddexp(log_alive, special.logsumexp(log_died, axis=1))
            share_alive = np.exp(log_alive - log_l)
            share_died = np.exp(log_died - log_l[:, None])
            ll = float(np.einsum("i,i->", w, log_l))
            grad = np.einsum("i,ki->k", w * share_alive, d_alive) + np.einsum(
                "ij,kij->k", w[:, None] * share_died, d_died
            )
        gradient = grad * np.array([alpha, beta, gamma, delta])
        if not np.isfinite(ll) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros(4)
        return -ll, -gradient

    # ------------------------------------------------------------------ predictions

    def _param_values(self) -> tuple[float, float, float, float]:
        params = self._check_fitted()
        return params["alpha"], params["beta"], params["gamma"], params["delta"]

    def log_likelihood(self, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """Per-customer log-likelihood (the paper's form) at the fitted parameters."""
        alpha, beta, gamma, delta = self._param_values()
        x, t_x, n = check_bgbb_data(frequency, recency, n_periods, model=self.model_name)
        data = self._prepare((x, t_x, n), np.ones(x.size))
        log_alive, log_died, _, _ = _terms(
            alpha, beta, gamma, delta, x, t_x, n, data.offsets, data.died_mask
        )
        return np.logaddexp(log_alive, special.logsumexp(log_died, axis=1))

    def p_alive(self, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        r"""Probability of being alive at opportunity ``n + 1`` given ``(x, t_x, n)``.

        .. math::

            P(\text{alive at } n+1) = \frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}
            \frac{B(\gamma, \delta+n+1)}{B(\gamma,\delta)} \Big/ L(\alpha,\beta,\gamma,\delta
            \mid x, t_x, n)

        (FHS 2010).
        """
        alpha, beta, gamma, delta = self._param_values()
        x, t_x, n = check_bgbb_data(frequency, recency, n_periods, model=self.model_name)
        log_l = self.log_likelihood(x, t_x, n)
        log_alive_next = (
            special.betaln(alpha + x, beta + n - x)
            - special.betaln(alpha, beta)
            + special.betaln(gamma, delta + n + 1)
            - special.betaln(gamma, delta)
        )
        return np.clip(np.exp(log_alive_next - log_l), 0.0, 1.0)

    def expected_purchases(
        self, n_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> np.ndarray:
        r"""Expected transactions in the next ``n*`` opportunities given ``(x, t_x, n)``.

        .. math::

            E[X(n, n+n^*) \mid x, t_x, n] = \frac{1}{L}
            \frac{B(\alpha+x+1, \beta+n-x)}{B(\alpha,\beta)}
            \frac{\delta}{\gamma-1}\frac{\Gamma(\gamma+\delta)}{\Gamma(1+\delta)}
            \Big[\frac{\Gamma(1+\delta+n)}{\Gamma(\gamma+\delta+n)}
               - \frac{\Gamma(1+\delta+n+n^*)}{\Gamma(\gamma+\delta+n+n^*)}\Big]

        (FHS 2010), with the bracket over :math:`\gamma - 1` taken through
        ``expm1`` and its :math:`\gamma \to 1` limit so it never divides 0 by 0.
        """
        alpha, beta, gamma, delta = self._param_values()
        x, t_x, n = check_bgbb_data(frequency, recency, n_periods, model=self.model_name)
        horizon = _whole("n_future", n_future)
        log_l = self.log_likelihood(x, t_x, n)
        horizon, x, n, log_l = np.broadcast_arrays(horizon, x, n, log_l)
        log_front = (
            special.betaln(alpha + x + 1, beta + n - x) - special.betaln(alpha, beta) - log_l
        )
        # E[p^(x+1) (1-p)^(n-x)] times the expected alive opportunities after n.
        return np.exp(log_front) * _survival_sum(gamma, delta, n, horizon)

    def expected_purchases_new(self, n_future: Any) -> np.ndarray:
        r"""Expected transactions of a new customer in the first ``n`` opportunities.

        .. math::

            E[X(n)] = \frac{\alpha}{\alpha+\beta}\frac{\delta}{\gamma-1}
            \Big[1 - \frac{\Gamma(\gamma+\delta)}{\Gamma(\gamma+\delta+n)}
                     \frac{\Gamma(1+\delta+n)}{\Gamma(1+\delta)}\Big]

        (FHS 2010).
        """
        alpha, beta, gamma, delta = self._param_values()
        horizon = _whole("n_future", n_future)
        return alpha / (alpha + beta) * _survival_sum(gamma, delta, 0.0, horizon)


# ---------------------------------------------------------------------- maths


def _whole(name: str, values: Any) -> np.ndarray:
    array = as_float_array(name, values)
    check_integral(name, array)
    return array


def _survival_sum(gamma, delta, n, horizon) -> np.ndarray:
    r"""Expected alive opportunities in ``(n, n + n*]``: :math:`\sum_{t=n+1}^{n+n^*}
    B(\gamma, \delta+t)/B(\gamma,\delta)`.

    Closed form (FHS 2010)
    :math:`\frac{\delta}{\gamma-1} e^{E_n}\,[1 - e^{D}]` with
    :math:`E_n = \log\frac{\Gamma(\gamma+\delta)\Gamma(1+\delta+n)}
    {\Gamma(1+\delta)\Gamma(\gamma+\delta+n)}` and :math:`D = E_{n+n^*} - E_n`;
    ``-expm1(D) / (gamma - 1)`` tends to
    :math:`\psi(1+\delta+n+n^*) - \psi(1+\delta+n)` as :math:`\gamma \to 1`.
    """
    n, horizon = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(horizon, dtype=float))
    log_e_n = (
        special.gammaln(gamma + delta)
        - special.gammaln(1 + delta)
        + special.gammaln(1 + delta + n)
        - special.gammaln(gamma + delta + n)
    )
    d = (
        special.gammaln(1 + delta + n + horizon)
        - special.gammaln(1 + delta + n)
        - special.gammaln(gamma + delta + n + horizon)
        + special.gammaln(gamma + delta + n)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = -np.expm1(d) / (gamma - 1.0)
    limit = special.digamma(1 + delta + n + horizon) - special.digamma(1 + delta + n)
    ratio = np.where(abs(gamma - 1.0) < 1e-7, limit, closed)
    return delta * np.exp(log_e_n) * np.maximum(ratio, 0.0)


def _terms(alpha, beta, gamma, delta, x, t_x, n, offsets, died_mask):
    """Log alive/died terms of the likelihood and their gradients w.r.t. (alpha, beta, gamma, delta)."""
    psi = special.digamma
    ab, gd = alpha + beta, gamma + delta
    base_ab = -special.betaln(alpha, beta)
    base_gd = -special.betaln(gamma, delta)
    # alive through n: B(a+x, b+n-x) B(g, d+n)
    log_alive = (
        special.betaln(alpha + x, beta + n - x)
        + special.betaln(gamma, delta + n)
        + base_ab
        + base_gd
    )
    d_alive = np.stack(
        [
            psi(alpha + x) - psi(ab + n) - psi(alpha) + psi(ab),
            psi(beta + n - x) - psi(ab + n) - psi(beta) + psi(ab),
            psi(gd) - psi(gd + n),
            psi(delta + n) - psi(gd + n) - psi(delta) + psi(gd),
        ]
    )
    # died at the start of t_x + i + 1: B(a+x, b+t_x-x+i) B(g+1, d+t_x+i), i = 0, 1, ...
    b_count = (t_x - x)[:, None] + offsets
    d_count = t_x[:, None] + offsets
    x2 = x[:, None]
    log_died = (
        special.betaln(alpha + x2, beta + b_count)
        + special.betaln(gamma + 1.0, delta + d_count)
        + base_ab
        + base_gd
    )
    log_died = np.where(died_mask, log_died, -np.inf)
    d_died = np.stack(
        [
            psi(alpha + x2) - psi(ab + x2 + b_count) - psi(alpha) + psi(ab),
            psi(beta + b_count) - psi(ab + x2 + b_count) - psi(beta) + psi(ab),
            psi(gamma + 1.0) - psi(gd + 1.0 + d_count) - psi(gamma) + psi(gd),
            psi(delta + d_count) - psi(gd + 1.0 + d_count) - psi(delta) + psi(gd),
        ]
    )
    d_died = np.where(died_mask[None], d_died, 0.0)
    return log_alive, log_died, d_alive, d_died


# ---------------------------------------------------------------------- simulation


def simulate_bgbb(
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    n_periods: int,
    size: int,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Draw ``frequency, recency, n_periods`` from the BG/BB model.

    ``p ~ Beta(alpha, beta)``, ``theta ~ Beta(gamma, delta)``; at the start of each
    opportunity an alive customer dies with probability ``theta``, and otherwise
    transacts with probability ``p``.
    """
    rng = np.random.default_rng(seed)
    p = rng.beta(alpha, beta, size)
    theta = rng.beta(gamma, delta, size)
    # alive for the first (death_at - 1) opportunities, death_at ~ Geometric(theta)
    alive_for = np.minimum(rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1, n_periods)
    periods = np.arange(1, n_periods + 1)[None, :]
    buys = (rng.uniform(size=(size, n_periods)) < p[:, None]) & (periods <= alive_for[:, None])
    frequency = buys.sum(axis=1)
    recency = np.where(frequency > 0, np.max(np.where(buys, periods, 0), axis=1), 0)
    return pd.DataFrame(
        {
            "frequency": frequency.astype(float),
            "recency": recency.astype(float),
            "n_periods": np.full(size, float(n_periods)),
        }
    )
