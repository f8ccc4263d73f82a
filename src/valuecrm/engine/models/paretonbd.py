r"""Pareto/NBD: the Pareto / negative-binomial distribution model.

Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). "Counting your
customers: who are they and what will they do next?" *Management Science* 33(1), 1-24.
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "A note on implementing the
Pareto/NBD model in MATLAB". http://brucehardie.com/notes/008/
Fader, P. S. and Hardie, B. G. S. (2005). "A note on deriving the Pareto/NBD model
and related expressions". http://brucehardie.com/notes/009/

While alive a customer buys as a Poisson process with rate :math:`\lambda \sim
\mathrm{Gamma}(r, \alpha)`; the unobserved lifetime is exponential with rate
:math:`\mu \sim \mathrm{Gamma}(s, \beta)`. For ``x`` repeat purchases, the last at
``t_x``, observed for ``T``, the likelihood of the MATLAB note is

.. math::

    L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}\Big\{
        \frac{1}{(\alpha+T)^{r+x}(\beta+T)^s} + \frac{s}{r+s+x} A_0 \Big\},

:math:`A_0` being a difference of two Gauss hypergeometric terms, with an
:math:`\alpha \ge \beta` / :math:`\alpha < \beta` switch. That difference cancels
catastrophically and its terms overflow for large ``x`` (lifetimes#25). Writing
:math:`A_0` as the integral it comes from,
:math:`\frac{s}{r+s+x}A_0 = s\int_{t_x}^T(\alpha+\tau)^{-(r+x)}(\beta+\tau)^{-(s+1)}d\tau`,
and integrating the first term by parts gives the cancellation-free form used here:

.. math::

    L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}\Big\{(r+x)\,G_{r+x+1,\,s}(T)
        + s\,G_{r+x,\,s+1}(t_x)\Big\},\qquad
    G_{a,b}(t) = \int_t^\infty (\alpha+\tau)^{-a}(\beta+\tau)^{-b}\,d\tau .

Both terms are positive and are added with ``logaddexp``. Each :math:`G` is, around
:math:`A = \max(\alpha,\beta)` (the note's switch),
:math:`G = (B+t)^{-\lambda}(A+t)^{-\mu}\,{}_2F_1(1, \mu; m+1; \tfrac{A-B}{A+t})/m`
with :math:`m = r+s+x`, :math:`\mu` the exponent on the :math:`A` side and
:math:`\lambda` = the :math:`B` exponent minus one; that positive-term
hypergeometric function and its parameter derivatives come from
:mod:`valuecrm.engine.hypergeometric`, so the gradient is analytic.

The first term is the "still alive at ``T``" part and the second the "died after
``t_x``" part, which also gives :math:`P(\text{alive})` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ..hypergeometric import log_hyp2f1_1b
from .base import MLEModel, as_float_array, check_rfm

__all__ = ["ParetoNBD", "simulate_paretonbd"]


@dataclass(frozen=True)
class _PairedData:
    """Collapsed rows plus the distinct (x, T) and (x, t_x) pairs each term needs.

    The alive term depends on (x, T) only and the died term on (x, t_x) only, and
    there are far fewer distinct pairs than rows (all ``x = 0`` rows share one
    ``(0, 0)`` pair), so the hypergeometric work is done once per pair.
    """

    weights: np.ndarray
    total_weight: float
    x_values: np.ndarray  # distinct frequencies and their total weight
    x_weights: np.ndarray
    alive_x: np.ndarray  # distinct (x, T) pairs
    alive_t: np.ndarray
    alive_index: np.ndarray  # row -> pair
    died_x: np.ndarray  # distinct (x, t_x) pairs
    died_t: np.ndarray
    died_index: np.ndarray


def _pairs(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t) pairs and each row's pair number (hash-based, O(n))."""
    x_codes, x_uniques = pd.factorize(x)
    t_codes, t_uniques = pd.factorize(t)
    codes, first = np.unique(x_codes * np.int64(len(t_uniques)) + t_codes, return_inverse=True)
    return x_uniques[codes // len(t_uniques)], t_uniques[codes % len(t_uniques)], first


class ParetoNBD(MLEModel):
    r"""Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    Parameters are ``r, alpha`` (gamma heterogeneity of the purchase rate) and
    ``s, beta`` (gamma heterogeneity of the dropout rate). Time is in the unit of
    the summary; ``alpha`` and ``beta`` scale with it.

    See :class:`valuecrm.engine.models.base.MLEModel` for the hyper-parameters and
    the fitted attributes.

    Examples
    --------
    >>> model = ParetoNBD().fit(summary["frequency"], summary["recency"], summary["T"])
    >>> model.params_  # doctest: +SKIP
    {'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.669}   # CDNOW, weeks
    """

    _param_names = ("r", "alpha", "s", "beta")
    _data_names = ("frequency", "recency", "T")

    # ------------------------------------------------------------------ fitting

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ParetoNBD:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchase count ``x``, time of the last purchase ``t_x`` and
            length of observation ``T`` per customer (same time unit).
        weights : array-like, optional
            Number of customers each row stands for.
        """
        x, t_x, t_obs = check_rfm(frequency, recency, T, model=self.model_name)
        return self._fit((x, t_x, t_obs), weights)

    def _prepare(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> _PairedData:
        x, t_x, t_obs = data
        alive_x, alive_t, alive_index = _pairs(x, t_obs)
        died_x, died_t, died_index = _pairs(x, t_x)
        x_values, x_index = np.unique(x, return_inverse=True)
        return _PairedData(
            weights=weights,
            total_weight=float(weights.sum()),
            x_values=x_values,
            x_weights=np.bincount(x_index, weights=weights, minlength=x_values.size),
            alive_x=alive_x,
            alive_t=alive_t,
            alive_index=alive_index,
            died_x=died_x,
            died_t=died_t,
            died_index=died_index,
        )

    def _initial_log_params(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        if self.initial_params is not None:
            return super()._initial_log_params(data, weights)
        # Moment-style start: r = 1 and alpha from the mean purchase rate; the
        # dropout side starts at the time scale of the data. Starting on the data's
        # own scale matters when time is in days and alpha is in the hundreds.
        t_obs, w = data.alive_t[data.alive_index], data.weights
        purchases = _dot(data.x_weights, data.x_values)
        mean_rate = max(purchases / max(_dot(w, t_obs), 1e-12), 1e-6)
        scale = max(_dot(w, t_obs) / data.total_weight, 1e-6)
        return np.log([1.0, 1.0 / mean_rate, 1.0, scale])

    def _negative_log_likelihood_and_gradient(
        self, log_params: np.ndarray, data: _PairedData, weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        r, alpha, s, beta = np.exp(log_params)
        total = data.total_weight
        # einsum rather than np.dot: the threaded BLAS dot is ~50x slower for one
        # long vector on a busy 2-core machine, and this is the hot loop.
        dot = _dot
        with np.errstate(all="ignore"):
            log_g1, grad_g1 = _log_g(r, alpha, s, beta, data.alive_x, data.alive_t, 1.0)
            log_g2, grad_g2 = _log_g(r, alpha, s, beta, data.died_x, data.died_t, 0.0)
            log_t1 = (np.log(r + data.alive_x) + log_g1)[data.alive_index]
            log_t2 = (np.log(s) + log_g2)[data.died_index]
            gap = log_t1 - log_t2
            softplus = np.maximum(gap, 0.0) + np.log1p(np.exp(-np.abs(gap)))
            share_alive = np.exp(gap - softplus)  # weight of the alive term in L
            w1 = data.weights * share_alive
            # Per-pair sums of the row weights, so pair derivatives are dotted once.
            pair_w1 = np.bincount(data.alive_index, weights=w1, minlength=log_g1.size)
            pair_w2 = np.bincount(data.died_index, weights=data.weights - w1, minlength=log_g2.size)
            xv, wx = data.x_values, data.x_weights
            ll = (
                dot(data.weights, log_t2 + softplus)
                + dot(wx, special.gammaln(r + xv))
                + total * (-special.gammaln(r) + r * np.log(alpha) + s * np.log(beta))
            )
            d_g = np.einsum("kp,p->k", grad_g1, pair_w1) + np.einsum("kp,p->k", grad_g2, pair_w2)
            d_r = (
                dot(wx, special.digamma(r + xv))
                + dot(pair_w1, 1.0 / (r + data.alive_x))
                + total * (np.log(alpha) - special.digamma(r))
            )
            d_alpha = total * r / alpha
            d_s = pair_w2.sum() / s + total * np.log(beta)
            d_beta = total * s / beta
        gradient = (np.array([d_r, d_alpha, d_s, d_beta]) + d_g) * np.array([r, alpha, s, beta])
        if not np.isfinite(ll) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros(4)
        return -float(ll), -gradient

    # ------------------------------------------------------------------ predictions

    def _param_values(self) -> tuple[float, float, float, float]:
        params = self._check_fitted()
        return params["r"], params["alpha"], params["s"], params["beta"]

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Per-customer log-likelihood (the paper's form) at the fitted parameters."""
        r, alpha, s, beta = self._param_values()
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        log_t1, log_t2 = _log_terms(r, alpha, s, beta, x, t_x, t_obs)
        return (
            special.gammaln(r + x)
            - special.gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            + np.logaddexp(log_t1, log_t2)
        )

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        r"""Probability that a customer with history ``(x, t_x, T)`` is alive at ``T``.

        .. math::

            P(\text{alive}) = \frac{\Gamma(r+x)\alpha^r\beta^s}
            {\Gamma(r)(\alpha+T)^{r+x}(\beta+T)^s\,L(r,\alpha,s,\beta \mid x,t_x,T)}

        (Fader & Hardie 2005, note 009), evaluated as a ratio of logs so
        it never overflows.
        """
        r, alpha, s, beta = self._param_values()
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        return _p_alive(r, alpha, s, beta, x, t_x, t_obs)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        r"""Expected purchases in ``(T, T + t]`` given history ``(x, t_x, T)``.

        .. math::

            E[Y(t) \mid x, t_x, T] = P(\text{alive})\,\frac{(r+x)(\beta+T)}{(\alpha+T)(s-1)}
            \Big[1 - \Big(\frac{\beta+T}{\beta+T+t}\Big)^{s-1}\Big]

        (Fader & Hardie 2005, note 009); the bracket over :math:`s - 1` is evaluated as
        ``-expm1(-(s-1) L) / (s-1)``, ``L = log1p(t / (beta + T))``, which tends to
        ``L`` at ``s = 1`` instead of 0/0.
        """
        r, alpha, s, beta = self._param_values()
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        horizon = as_float_array("t", t)
        alive = _p_alive(r, alpha, s, beta, x, t_x, t_obs)
        horizon, x, t_obs, alive = np.broadcast_arrays(horizon, x, t_obs, alive)
        growth = _power_integral(s - 1.0, np.log1p(horizon / (beta + t_obs)))
        return alive * (r + x) / (alpha + t_obs) * (beta + t_obs) * growth

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        r"""Expected repeat purchases of a new customer in ``(0, t]``.

        .. math::

            E[X(t)] = \frac{r\beta}{\alpha(s-1)}\Big[1 - \Big(\frac{\beta}{\beta+t}\Big)^{s-1}\Big]

        (Fader & Hardie 2005, note 009).
        """
        r, alpha, s, beta = self._param_values()
        horizon = as_float_array("t", t)
        return r / alpha * beta * _power_integral(s - 1.0, np.log1p(horizon / beta))

    def p_n_purchases(self, n: Any, t: Any) -> np.ndarray:
        r"""Probability that a new customer makes exactly ``n`` purchases in ``(0, t]``.

        Conditioning on whether the customer is still alive at ``t``:

        .. math::

            P(X(t) = n) = \mathrm{NB}\Big(n; r, \frac{\alpha}{\alpha+t}\Big)
            \Big(\frac{\beta}{\beta+t}\Big)^s
            + \frac{\Gamma(r+n)\alpha^r s\beta^s}{\Gamma(r)\,n!}
              \int_0^t \frac{\tau^n\,d\tau}{(\alpha+\tau)^{r+n}(\beta+\tau)^{s+1}} .

        The closed form (Fader & Hardie 2020, note 012) is a sum of ``n`` Gauss
        hypergeometric terms of alternating sign; the integral is instead taken
        numerically in :math:`\log\tau`, where the integrand is log-concave
        (composite Gauss-Legendre, graded towards :math:`\tau = t`), accurate to
        about 1e-9 relative.
        """
        r, alpha, s, beta = self._param_values()
        count = as_float_array("n", n)
        horizon = as_float_array("t", t)
        count, horizon = np.broadcast_arrays(count, horizon)
        if np.any(count != np.round(count)):
            raise ValueError("n must hold whole numbers")
        count = count.astype(float)
        with np.errstate(all="ignore"):
            alive = np.exp(
                stats.nbinom.logpmf(count, r, alpha / (alpha + horizon))
                + s * (np.log(beta) - np.log(beta + horizon))
            )
            died = _died_by_t(r, alpha, s, beta, count, horizon)
        out = np.where(horizon > 0, alive + died, (count == 0).astype(float))
        return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------- maths


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("i,i->", a, b))


def _log_g(r, alpha, s, beta, x, t, alive_shift):
    r"""log G_{e_a, e_b}(t) and its gradient w.r.t. (r, alpha, s, beta).

    ``e_a = r + x + alive_shift``, ``e_b = s + 1 - alive_shift`` (alive_shift is 1
    for the alive term, 0 for the died term), so ``e_a + e_b - 1 = r + s + x``.
    """
    e_a = r + x + alive_shift
    e_b = s + 1.0 - alive_shift
    m = r + s + x
    if alpha >= beta:  # A = alpha carries e_a (and r); B = beta carries e_b (and s)
        big, small, mu, lam = alpha, beta, e_a, e_b - 1.0
    else:
        big, small, mu, lam = beta, alpha, e_b, e_a - 1.0
    big_t = big + t
    small_t = small + t
    z = (big - small) / big_t
    log_f, f_b, f_c, f_z = log_hyp2f1_1b(mu, m + 1.0, z)
    log_big = np.log(big_t)
    log_small = np.log(small_t)
    log_g = -lam * log_small - mu * log_big + log_f - np.log(m)
    d_big = -mu / big_t + f_z * small_t / big_t**2
    d_small = -lam / small_t - f_z / big_t
    d_mu = -log_big + f_b
    d_lam = -log_small
    common = f_c - 1.0 / m
    if alpha >= beta:
        grad = np.stack([d_mu + common, d_big, d_lam + common, d_small])
    else:
        grad = np.stack([d_lam + common, d_small, d_mu + common, d_big])
    return log_g, grad


def _log_terms(r, alpha, s, beta, x, t_x, t_obs):
    """log of the alive term (r+x) G(T) and the died term s G(t_x), per customer."""
    with np.errstate(all="ignore"):
        log_g1, _ = _log_g(r, alpha, s, beta, x, t_obs, 1.0)
        log_g2, _ = _log_g(r, alpha, s, beta, x, t_x, 0.0)
    return np.log(r + x) + log_g1, np.log(s) + log_g2


def _p_alive(r, alpha, s, beta, x, t_x, t_obs) -> np.ndarray:
    log_t1, log_t2 = _log_terms(r, alpha, s, beta, x, t_x, t_obs)
    log_alive_kernel = -(r + x) * np.log(alpha + t_obs) - s * np.log(beta + t_obs)
    p = np.exp(log_alive_kernel - np.logaddexp(log_t1, log_t2))
    # recency == T: nothing can have happened since, P(alive) is 1 up to rounding.
    return np.clip(p, 0.0, 1.0)


def _power_integral(a, log_growth):
    r"""``(1 - exp(-a L)) / a`` with the ``a -> 0`` limit ``L``."""
    a, log_growth = np.broadcast_arrays(np.asarray(a, dtype=float), log_growth)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = -np.expm1(-a * log_growth) / a
    return np.where(np.abs(a) * np.maximum(log_growth, 1e-300) < 1e-12, log_growth, value)


def _died_by_t(r, alpha, s, beta, n, t) -> np.ndarray:
    r"""Second term of P(X(t) = n): death before ``t`` after exactly ``n`` purchases."""
    n, t = np.broadcast_arrays(n, t)
    out = np.zeros(n.shape)
    positive = t > 0
    if not np.any(positive):
        return out
    n_, t_ = n[positive][:, None], t[positive][:, None]
    # In u = log(tau) the integrand tau^(n+1) (alpha+tau)^-(r+n) (beta+tau)^-(s+1) is
    # log-concave: its peak is either at the upper end (within ~1/n of it) or
    # interior with width ~ 1/sqrt(r+s). Panels in zeta = log(t) - u are fine near
    # the upper end and half a unit wide beyond; below zeta = 60 (tau < t e^-60)
    # nothing is left for parameters above 1e-20.
    zeta = _ZETA_NODES[None, :]
    log_tau = np.log(t_) - zeta
    tau = np.exp(log_tau)
    log_integrand = (
        (n_ + 1.0) * log_tau - (r + n_) * np.log(alpha + tau) - (s + 1.0) * np.log(beta + tau)
    )
    log_integral = special.logsumexp(log_integrand, b=_ZETA_WEIGHTS[None, :], axis=1)
    n1 = n[positive]
    out[positive] = np.exp(
        special.gammaln(r + n1)
        - special.gammaln(r)
        - special.gammaln(n1 + 1.0)
        + r * np.log(alpha)
        + np.log(s)
        + s * np.log(beta)
        + log_integral
    )
    return out


def _composite_gauss_legendre(edges: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(order)
    lo, hi = edges[:-1, None], edges[1:, None]
    return (
        (lo + (hi - lo) * (nodes[None, :] + 1.0) / 2.0).ravel(),
        ((hi - lo) * weights[None, :] / 2.0).ravel(),
    )


_ZETA_NODES, _ZETA_WEIGHTS = _composite_gauss_legendre(
    np.concatenate([[0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 0.6], np.arange(1.0, 60.5, 0.5)]),
    12,
)


def _prediction_inputs(frequency: Any, recency: Any, T: Any):
    x = as_float_array("frequency", frequency)
    t_x = as_float_array("recency", recency)
    t_obs = as_float_array("T", T)
    try:
        x, t_x, t_obs = np.broadcast_arrays(x, t_x, t_obs)
    except ValueError:
        raise ValueError(
            f"frequency, recency and T must have the same length "
            f"(got {x.size}, {t_x.size}, {t_obs.size})"
        ) from None
    too_late = t_x > t_obs * (1 + 1e-9) + 1e-9
    if np.any(too_late):
        bad = int(np.flatnonzero(too_late)[0])
        raise ValueError(f"recency must not exceed T (position {bad})")
    return x, np.minimum(t_x, t_obs), t_obs


# ---------------------------------------------------------------------- simulation


def simulate_paretonbd(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: Any,
    size: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Draw ``frequency, recency, T`` summaries from the Pareto/NBD model.

    Each customer gets ``lambda ~ Gamma(r, 1/alpha)``, ``mu ~ Gamma(s, 1/beta)``, an
    exponential lifetime with rate ``mu`` and Poisson purchases at rate ``lambda``
    while alive within ``(0, T]``. Given ``n`` purchases in an active span ``a``,
    their times are uniform on ``(0, a)``, so the last is ``a * U**(1/n)``.

    Parameters
    ----------
    T : float or array-like
        Observation length per customer (a scalar needs ``size``).
    """
    rng = np.random.default_rng(seed)
    t_obs = np.asarray(T, dtype=float)
    if t_obs.ndim == 0:
        if size is None:
            raise ValueError("size is required when T is a scalar")
        t_obs = np.full(size, float(t_obs))
    n = t_obs.size
    rate = rng.gamma(r, 1.0 / alpha, n)
    death_rate = rng.gamma(s, 1.0 / beta, n)
    with np.errstate(divide="ignore"):
        lifetime = rng.exponential(1.0 / death_rate)
    active = np.minimum(lifetime, t_obs)
    frequency = rng.poisson(rate * active)
    with np.errstate(divide="ignore"):
        last = active * rng.uniform(size=n) ** (1.0 / np.maximum(frequency, 1))
    recency = np.where(frequency > 0, last, 0.0)
    return pd.DataFrame({"frequency": frequency.astype(float), "recency": recency, "T": t_obs})
