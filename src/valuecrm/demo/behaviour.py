"""Buy-till-you-die purchase behaviour for demo customers.

Each buyer follows the BG/NBD story (Fader, Hardie & Lee 2005) with Gamma-Gamma spend
(Fader, Hardie & Lee 2005b), so the value models fitted on demo data recover
real signal instead of noise:

- while alive, purchases arrive as a Poisson process with rate λ ~ Gamma(r, α) per day;
- after every purchase the customer drops out with probability p ~ Beta(a, b);
- each order's spend is Gamma(p_spend, ν) with a customer-level ν ~ Gamma(q, γ),
  so a customer's mean order value is p_spend / ν and varies between customers.

The simulation is vectorised over customers (one numpy step per purchase number),
so a million orders take a second or two.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BehaviourParams:
    # Purchase rate λ ~ Gamma(shape r, rate α), per day: mean r/α ≈ one order per ~16 days,
    # but the median customer buys far less often — a long tail of frequent buyers
    # (offices restocking, tea lovers) over many occasional ones.
    r: float = 0.9
    alpha: float = 14.0
    # Dropout after each purchase p ~ Beta(a, b): mean 1/21, spread from near 0 to ~0.2.
    a: float = 1.0
    b: float = 20.0
    # Spend per order ~ Gamma(p_spend, ν), ν ~ Gamma(q, γ): mean order ≈ p_spend·γ/(q−1) CNY.
    p_spend: float = 6.0
    q: float = 4.0
    gamma: float = 140.0
    # Share of the first order placed on the day of acquisition (the rest within a few days).
    same_day_first_order: float = 0.6
    max_rate: float = 0.5


@dataclass
class PurchaseLog:
    """All simulated orders, one entry per order, sorted by customer then time."""

    customer: np.ndarray  # index into the simulated population
    day: np.ndarray  # float days since the window start
    spend: np.ndarray  # target order value (CNY) before it is turned into order lines


def simulate_purchases(
    rng: np.random.Generator,
    *,
    acquired_day: np.ndarray,
    window_days: float,
    rate_multiplier: np.ndarray | None = None,
    spend_multiplier: np.ndarray | None = None,
    params: BehaviourParams = BehaviourParams(),
) -> PurchaseLog:
    """Simulate the purchases of customers acquired at `acquired_day` until `window_days`.

    `rate_multiplier` / `spend_multiplier` scale λ and order value per customer
    (organisations buy more often and more per order than consumers).
    """
    n = len(acquired_day)
    ones = np.ones(n)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n) * (ones if rate_multiplier is None else rate_multiplier)
    rate = np.minimum(rate, params.max_rate)
    dropout = rng.beta(params.a, params.b, n)
    nu = rng.gamma(params.q, 1.0 / params.gamma, n)
    spend_scale = ones if spend_multiplier is None else spend_multiplier

    first_delay = np.where(
        rng.random(n) < params.same_day_first_order, 0.0, rng.exponential(4.0, n)
    )
    t = acquired_day + first_delay
    active = np.flatnonzero(t < window_days)
    t = t[active]

    customers, days = [], []
    while active.size:
        customers.append(active)
        days.append(t)
        survives = rng.random(active.size) >= dropout[active]
        t = t + rng.exponential(1.0 / rate[active])
        keep = survives & (t < window_days)
        active, t = active[keep], t[keep]

    if customers:
        customer = np.concatenate(customers)
        day = np.concatenate(days)
    else:
        customer, day = np.empty(0, dtype=np.int64), np.empty(0)
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    spend = rng.gamma(params.p_spend, 1.0 / nu[customer]) * spend_scale[customer]
    return PurchaseLog(customer=customer, day=day, spend=spend)


def acquisition_days(rng: np.random.Generator, n: int, window_days: float) -> np.ndarray:
    """Acquisition dates over the window, with more recent cohorts than old ones (a growing shop)."""
    uniform = rng.random(n) * window_days
    # sqrt(U) has density rising linearly towards the end of the window.
    growing = np.sqrt(rng.random(n)) * window_days
    return np.where(rng.random(n) < 0.7, uniform, growing)
