r"""MBG/NBD: the modified BG/NBD model.

Batislam, E. P., Denizel, M. and Filiztekin, A. (2007). "Empirical validation and
comparison of models for customer base analysis". *International Journal of
Research in Marketing* 24(3), 201-209.

Identical to BG/NBD except that a customer may also drop out right after the
*first* purchase (time 0), so a customer with no repeat purchases is not assumed
alive. With ``x`` repeat purchases, the last at ``t_x``, observed for ``T``:

.. math::

    L = \frac{B(a, b + x + 1)}{B(a, b)} \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)(\alpha + T)^{r+x}}
      + \frac{B(a + 1, b + x)}{B(a, b)} \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)(\alpha + t_x)^{r+x}}

.. math::

    P(\text{alive} \mid x, t_x, T) = \Big[1 + \frac{a}{b + x}
    \Big(\frac{\alpha + T}{\alpha + t_x}\Big)^{r + x}\Big]^{-1}

.. math::

    E[Y(t) \mid x, t_x, T] = P(\text{alive})\, \frac{a + b + x}{a - 1}
    \Big[1 - \Big(\frac{\alpha + T}{\alpha + T + t}\Big)^{r+x}
    {}_2F_1\Big(r + x, b + x + 1; a + b + x; \frac{t}{\alpha + T + t}\Big)\Big]

.. math::

    E[X(t)] = \frac{b}{a - 1}\Big[1 - \Big(\frac{\alpha}{\alpha + t}\Big)^r
    {}_2F_1\Big(r, b + 1; a + b; \frac{t}{\alpha + t}\Big)\Big]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import as_float_array
from .bgnbd import BetaGeo, _expected_given_alive

__all__ = ["ModifiedBetaGeo"]


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    Same parameters (``r, alpha, a, b``), API and numerics as
    :class:`~valuecrm.engine.models.bgnbd.BetaGeo`; see the module docstring for
    the likelihood and the predictions.
    """

    _dropout_at_first_purchase = True

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        r"""Unconditional expected repeat purchases of a new customer in ``(0, t]``.

        ``E[X(t)] = b/(a+b) * E[g(p)]`` with ``p ~ Beta(a, b + 1)``: the customer
        must survive the time-0 coin flip (probability ``b/(a+b)``), which also
        updates the dropout probability's distribution.
        """
        r, alpha, a, b = self._param_values()
        horizon = as_float_array("t", t)
        alive_at_start = b / (a + b)
        return alive_at_start * _expected_given_alive(
            horizon, np.full_like(horizon, r), alpha, a, b + 1.0
        )
