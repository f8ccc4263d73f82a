r"""BG/NBD: the beta-geometric / negative-binomial distribution model.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers the
easy way: an alternative to the Pareto/NBD model". *Marketing Science* 24(2), 275-284.

While alive a customer buys as a Poisson process with rate :math:`\lambda`,
:math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; after every *repeat* purchase the
customer drops out with probability :math:`p`, :math:`p \sim \mathrm{Beta}(a, b)`.
For a customer with ``x`` repeat purchases, the last at ``t_x``, observed for ``T``:

.. math::

    L(r, \alpha, a, b \mid x, t_x, T) =
    \frac{B(a, b + x)}{B(a, b)} \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)(\alpha + T)^{r + x}}
    + \delta_{x > 0} \frac{B(a + 1, b + x - 1)}{B(a, b)}
      \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)(\alpha + t_x)^{r + x}}

The modified model (:mod:`valuecrm.engine.models.mbgnbd`) shares all the code here;
the ``_dropout_at_first_purchase`` switch shifts ``b + x`` to ``b + x + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from .base import MLEModel, as_float_array, check_rfm, unique_rows

__all__ = ["BetaGeo"]

# Gauss-Legendre nodes on (0, 1) for the fallback quadrature of E_p[g(p)].
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_GL_NODES = (_GL_NODES + 1) / 2
_GL_WEIGHTS = _GL_WEIGHTS / 2


@dataclass(frozen=True)
class _RFMData:
    """Collapsed rows split once per fit so each likelihood call does no bookkeeping."""

    x_values: np.ndarray  # distinct frequencies
    x_weights: np.ndarray  # total weight per distinct frequency
    # rows whose likelihood has the second ("died after last purchase") term
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    w: np.ndarray
    # rows with only the first term (BG/NBD x = 0): depends on T alone
    T_single: np.ndarray
    w_single: np.ndarray


class BetaGeo(MLEModel):
    r"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    Parameters are ``r, alpha`` (gamma heterogeneity of the purchase rate) and
    ``a, b`` (beta heterogeneity of the dropout probability). Time is in whatever
    unit the summary uses (weeks in the paper); ``alpha`` scales with it.

    See :class:`valuecrm.engine.models.base.MLEModel` for the hyper-parameters and
    the fitted attributes.

    Examples
    --------
    >>> model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    >>> model.params_  # doctest: +SKIP
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}   # CDNOW, weeks
    """

    _param_names = ("r", "alpha", "a", "b")
    _data_names = ("frequency", "recency", "T")
    _dropout_at_first_purchase = False

    # ------------------------------------------------------------------ fitting

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeo:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchase count ``x``, time of last purchase ``t_x`` and
            length of observation ``T`` per customer (same time unit).
        weights : array-like, optional
            Number of customers each row stands for.
        """
        x, t_x, t_obs = check_rfm(frequency, recency, T, model=self.model_name)
        return self._fit((x, t_x, t_obs), weights)

    def _prepare(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> _RFMData:
        x, t_x, t_obs = data
        x_values, inverse = np.unique(x, return_inverse=True)
        x_weights = np.bincount(inverse, weights=weights, minlength=x_values.size)
        two_terms = np.ones(x.size, bool) if self._dropout_at_first_purchase else x > 0
        return _RFMData(
            x_values=x_values,
            x_weights=x_weights,
            x=x[two_terms],
            t_x=t_x[two_terms],
            T=t_obs[two_terms],
            w=weights[two_terms],
            T_single=t_obs[~two_terms],
            w_single=weights[~two_terms],
        )

    def _negative_log_likelihood_and_gradient(
        self, log_params: np.ndarray, data: _RFMData, weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        shift = 1.0 if self._dropout_at_first_purchase else 0.0
        psi = special.digamma

        # Terms that depend on x only: evaluated once per distinct frequency.
        xv, W = data.x_values, data.x_weights
        ll = _weighted_sum(
            W,
            special.gammaln(r + xv)
            + special.gammaln(b + xv + shift)
            - special.gammaln(a + b + xv + shift),
        ) + W.sum() * (
            -special.gammaln(r) + r * np.log(alpha) - special.gammaln(b) + special.gammaln(a + b)
        )
        d_r = _weighted_sum(W, psi(r + xv)) + W.sum() * (np.log(alpha) - psi(r))
        d_alpha = W.sum() * r / alpha
        d_a = W.sum() * psi(a + b) - _weighted_sum(W, psi(a + b + xv + shift))
        d_b = _weighted_sum(W, psi(b + xv + shift) - psi(a + b + xv + shift)) + W.sum() * (
            psi(a + b) - psi(b)
        )

        # Rows with one term: log L_3 = -r log(alpha + T).
        if data.T_single.size:
            log_aT = np.log(alpha + data.T_single)
            ll -= r * _weighted_sum(data.w_single, log_aT)
            d_r -= _weighted_sum(data.w_single, log_aT)
            d_alpha -= r * _weighted_sum(data.w_single, 1.0 / (alpha + data.T_single))

        # Rows with two terms: log[(alpha+T)^-k + c (alpha+t_x)^-k], k = r + x,
        # c = a / (b + x - 1 + shift); factor out (alpha+t_x)^-k (the larger one).
        if data.x.size:
            x, w = data.x, data.w
            k = r + x
            inv_T = 1.0 / (alpha + data.T)
            inv_t = 1.0 / (alpha + data.t_x)
            log_T = np.log(alpha + data.T)
            log_t = np.log(alpha + data.t_x)
            gap = log_T - log_t  # >= 0
            e = np.exp(-k * gap)  # in (0, 1]
            denom_b = b + x - 1.0 + shift
            c = a / denom_b
            D = e + c
            ll += _weighted_sum(w, -k * log_t + np.log(D))
            e_over_D = e / D
            d_r += _weighted_sum(w, -log_t - gap * e_over_D)
            d_alpha += _weighted_sum(w, -k * inv_t + k * (inv_t - inv_T) * e_over_D)
            c_over_D = c / D
            d_a += _weighted_sum(w, c_over_D) / a
            d_b -= _weighted_sum(w, c_over_D / denom_b)

        gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -float(ll), -gradient

    # ------------------------------------------------------------------ predictions

    def _posterior_b_shift(self) -> float:
        return 1.0 if self._dropout_at_first_purchase else 0.0

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        r"""Probability that a customer with history ``(x, t_x, T)`` is still alive.

        .. math::

            P(\text{alive} \mid x, t_x, T) = \Big[1 + \delta_{x>0} \frac{a}{b + x - 1}
            \Big(\frac{\alpha + T}{\alpha + t_x}\Big)^{r + x}\Big]^{-1}

        (FHL 2005, eq. 11), computed as a logistic of the log-odds so it never
        overflows.
        """
        r, alpha, a, b = self._param_values()
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        return _p_alive(r, alpha, a, b, x, t_x, t_obs, self._dropout_at_first_purchase)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        r"""Expected number of purchases in the next ``t`` given history ``(x, t_x, T)``.

        .. math::

            E[Y(t) \mid x, t_x, T] = P(\text{alive})\,
            \frac{a + b + x - 1}{a - 1}\Big[1 - \Big(\frac{\alpha + T}{\alpha + T + t}\Big)^{r+x}
            {}_2F_1\Big(r + x, b + x; a + b + x - 1; \frac{t}{\alpha + T + t}\Big)\Big]

        (FHL 2005, eq. 10). Equivalently ``P(alive) * E[g(p)]`` with
        ``p ~ Beta(a, b + x)`` and ``g(p) = (1 - (1 + p t / (alpha + T))^-(r+x)) / p``;
        where the hypergeometric form is not finite or leaves the bounds
        ``0 <= E[g] <= (r + x) t / (alpha + T)`` (``a`` near 1, ``c <= 0``, huge
        arguments) the expectation is integrated numerically instead.
        """
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        horizon = as_float_array("t", t)
        x, t_x, t_obs, horizon = np.broadcast_arrays(x, t_x, t_obs, horizon)
        alive = self.p_alive(x, t_x, t_obs)
        return alive * self._mean_given_alive(horizon, x, t_obs)

    def expected_purchases_path(
        self, times: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """``expected_purchases`` for every horizon in ``times`` at once.

        Returns an array of shape ``(n_customers, len(times))``; used by CLV, which
        needs the cumulative expectation at each month end. P(alive) is computed
        once, and the alive-conditional part depends on ``(x, T)`` only, so it is
        evaluated on the distinct ``(x, T)`` pairs.
        """
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        horizons = as_float_array("times", times)
        alive = self.p_alive(x, t_x, t_obs)
        (x_u, t_u), inverse = unique_rows((x, t_obs))
        grid_t = np.broadcast_to(horizons[None, :], (x_u.size, horizons.size))
        means = self._mean_given_alive(
            grid_t.ravel(), np.repeat(x_u, horizons.size), np.repeat(t_u, horizons.size)
        ).reshape(x_u.size, horizons.size)
        return alive[:, None] * means[inverse]

    def discounted_purchases(
        self, times: Any, discounts: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        r"""Discounted expected purchases :math:`\sum_j w_j (E[Y(t_j)] - E[Y(t_{j-1})])`.

        ``t_0 = 0``; increments are clipped at 0 against float noise. This is the
        purchase part of CLV: since ``E[Y(t)] = P(alive) m(t; x, T)``, the sum is
        evaluated on the distinct ``(x, T)`` pairs and multiplied by P(alive), so
        a million customers never materialise a customers × months matrix.
        """
        x, t_x, t_obs = _prediction_inputs(frequency, recency, T)
        horizons = as_float_array("times", times)
        weights = as_float_array("discounts", discounts, allow_negative=True)
        if weights.size != horizons.size:
            raise ValueError("times and discounts must have the same length")
        alive = self.p_alive(x, t_x, t_obs)
        (x_u, t_u), inverse = unique_rows((x, t_obs))
        means = self._mean_given_alive(
            np.tile(horizons, x_u.size),
            np.repeat(x_u, horizons.size),
            np.repeat(t_u, horizons.size),
        ).reshape(x_u.size, horizons.size)
        increments = np.clip(np.diff(means, axis=1, prepend=0.0), 0.0, None)
        return alive * (increments @ weights)[inverse]

    def _mean_given_alive(self, horizon: np.ndarray, x: np.ndarray, t_obs: np.ndarray):
        """E[purchases in (T, T + t] | alive at T], computed once per distinct row."""
        r, alpha, a, b = self._param_values()
        shift = self._posterior_b_shift()
        (h_u, x_u, t_u), inverse = unique_rows((horizon.ravel(), x.ravel(), t_obs.ravel()))
        mean = _expected_given_alive(h_u, r + x_u, alpha + t_u, a, b + x_u + shift)
        return mean[inverse].reshape(horizon.shape)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        r"""Unconditional expected repeat purchases of a new customer in ``(0, t]``.

        .. math::

            E[X(t)] = \frac{a + b - 1}{a - 1}\Big[1 - \Big(\frac{\alpha}{\alpha + t}\Big)^r
            {}_2F_1\Big(r, b; a + b - 1; \frac{t}{\alpha + t}\Big)\Big]

        (FHL 2005, eq. 9).
        """
        r, alpha, a, b = self._param_values()
        horizon = as_float_array("t", t)
        return _expected_given_alive(horizon, np.full_like(horizon, r), alpha, a, b)

    def p_n_purchases(self, n: Any, t: Any) -> np.ndarray:
        r"""Probability of exactly ``n`` repeat purchases in ``(0, t]`` for a new customer.

        .. math::

            P(X(t) = n) = \frac{B(a, b + n)}{B(a, b)} \mathrm{NB}(n; r, \tfrac{\alpha}{\alpha+t})
            + \delta_{n>0} \frac{B(a + 1, b + n - 1)}{B(a, b)}
              \Big[1 - \sum_{j=0}^{n-1} \mathrm{NB}(j; r, \tfrac{\alpha}{\alpha+t})\Big]

        (FHL 2005, eq. 8), with ``NB`` the negative-binomial pmf; the bracket is the
        NB survival function, evaluated directly to avoid cancellation.
        """
        r, alpha, a, b = self._param_values()
        count = as_float_array("n", n)
        horizon = as_float_array("t", t)
        count, horizon = np.broadcast_arrays(count, horizon)
        shift = self._posterior_b_shift()
        return _p_n_purchases(r, alpha, a, b, count, horizon, shift)

    def _param_values(self) -> tuple[float, float, float, float]:
        params = self._check_fitted()
        return params["r"], params["alpha"], params["a"], params["b"]


# ---------------------------------------------------------------------- shared maths


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
    if np.any(t_x > t_obs * (1 + 1e-9) + 1e-9):
        bad = int(np.flatnonzero(t_x > t_obs * (1 + 1e-9) + 1e-9)[0])
        raise ValueError(f"recency must not exceed T (position {bad})")
    return x, np.minimum(t_x, t_obs), t_obs


def _p_alive(r, alpha, a, b, x, t_x, t_obs, dropout_at_first_purchase: bool) -> np.ndarray:
    shift = 1.0 if dropout_at_first_purchase else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (
            np.log(a)
            - np.log(b + x - 1.0 + shift)
            + (r + x) * (np.log(alpha + t_obs) - np.log(alpha + t_x))
        )
    alive = special.expit(-log_odds_dead)
    if not dropout_at_first_purchase:
        alive = np.where(x > 0, alive, 1.0)
    return alive


def _expected_given_alive(t, k, s, a, b_post) -> np.ndarray:
    r"""E[g(p)] for p ~ Beta(a, b'), g(p) = (1 - (1 + p t / s)^{-k}) / p.

    The papers' closed form is
    :math:`\frac{c}{a-1}[1 - (\frac{s}{s+t})^k {}_2F_1(k, b'; c; z)]` with
    :math:`c = a + b' - 1`, :math:`z = t/(s+t)`. Its hypergeometric term has huge
    parameters for frequent buyers and blows up like :math:`(1-z)^{c-k-b'}` as
    :math:`z \to 1`, losing precision. Euler's transformation
    :math:`{}_2F_1(k, b'; c; z) = (1-z)^{c-k-b'} {}_2F_1(c-k, a-1; c; z)` gives

    .. math:: \frac{c}{a-1}\Big[1 - \Big(\frac{s}{s+t}\Big)^{a-1}
              {}_2F_1(c - k, a - 1; c; z)\Big]

    whose first two parameters stay small (``c - k = a + b - 1 - r`` for BG/NBD)
    whatever the frequency (the remedy of Fader & Hardie 2013, "Overcoming the
    BG/NBD model's #NUM! error problem"). Rows where this still fails (``a`` ≈ 1, ``c <= 0``,
    non-finite or out of the bounds ``0 <= E[g] <= k t / s``) are integrated
    numerically instead.
    """
    t, k, s, b_post = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(t, k, s, b_post))
    c = a + b_post - 1.0
    z = t / (s + t)
    with np.errstate(all="ignore"):
        hyp = special.hyp2f1(c - k, a - 1.0, c, z)
        log_head = (a - 1.0) * (np.log(s) - np.log(s + t))
        value = c / (a - 1.0) * -np.expm1(log_head + np.log(hyp))
        # Where the hypergeometric term is <= 0 its log is NaN; the product may still be right.
        direct = c / (a - 1.0) * (1.0 - np.exp(log_head) * hyp)
        value = np.where(np.isfinite(value), value, direct)
        upper = k * t / s
    bad = ~np.isfinite(value) | (value < -1e-12 * upper) | (value > upper * (1 + 1e-9))
    bad |= (abs(a - 1.0) < 1e-6) | (c <= 0)
    value = np.where(t == 0, 0.0, value)
    bad &= t > 0
    if np.any(bad):
        value = value.copy()
        value[bad] = _expected_given_alive_quadrature(t[bad], k[bad], s[bad], a, b_post[bad])
    return np.clip(value, 0.0, None)


def _expected_given_alive_quadrature(t, k, s, a, b_post) -> np.ndarray:
    # Integrate in quantile space, E[g(p)] = ∫_0^1 g(F^-1(u)) du: g is bounded and
    # monotone, so the rule is accurate however concentrated Beta(a, b') is.
    out = np.empty(t.size)
    groups, inverse = np.unique(b_post, return_inverse=True)
    for index, b_value in enumerate(groups):
        rows = inverse == index
        p = special.betaincinv(a, b_value, _GL_NODES)[None, :]
        y = (t[rows] / s[rows])[:, None] * p
        with np.errstate(divide="ignore", invalid="ignore"):
            g = -np.expm1(-k[rows][:, None] * np.log1p(y)) / p
        limit = (k[rows] * t[rows] / s[rows])[:, None]  # g(0)
        g = np.where(p > 0, g, limit)
        out[rows] = g @ _GL_WEIGHTS
    return out


def _p_n_purchases(r, alpha, a, b, n, t, shift) -> np.ndarray:
    with np.errstate(all="ignore"):
        success = alpha / (alpha + t)
        log_beta_ab = special.betaln(a, b)
        first = np.exp(
            special.betaln(a, b + n + shift) - log_beta_ab + stats.nbinom.logpmf(n, r, success)
        )
        tail = stats.nbinom.sf(n - 1, r, success)  # 1 - sum_{j<n} NB(j)
        second = np.exp(special.betaln(a + 1.0, b + n - 1.0 + shift) - log_beta_ab) * tail
    has_second = (n > 0) | (shift > 0)
    first = np.where(t == 0, (n == 0) * np.exp(special.betaln(a, b + shift) - log_beta_ab), first)
    second = np.where(t == 0, (n == 0) * (shift > 0) * a / (a + b), second)
    return first + np.where(has_second, second, 0.0)


def _weighted_sum(weights: np.ndarray, values: np.ndarray) -> float:
    # Not np.dot: multithreaded BLAS busy-waits on a loaded machine, costing 20x
    # more CPU than this plain reduction on vectors of a few hundred thousand rows.
    return float(np.add.reduce(weights * values))
