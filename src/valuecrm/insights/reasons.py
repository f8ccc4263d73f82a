"""Reasons a customer is valuable that only another app can tell (loyalty: refers others).

insights sits below those apps and never imports them: they register a provider here from
their AppConfig.ready(). Scoring adds each provider's customers to the reason's mask (so the
reason counts towards the value-customer flag), and the value card shows the provider's words
for the customer (e.g. "3 referrals, ¥1,200.00 first-order revenue").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ReasonProvider:
    key: str
    code: str  # a ValueReason code
    customer_ids: Callable[[], set[int]]  # scoring: every customer the reason holds for
    detail: Callable[[int], str | None]  # the value card: the words for one customer, None if it does not hold


_providers: dict[str, ReasonProvider] = {}


def register(provider: ReasonProvider) -> None:
    """Idempotent by key (ready() can run twice in some test setups)."""
    from valuecrm.insights.models import ValueReason

    if provider.code not in ValueReason.values:
        raise ValueError(f"unknown value reason {provider.code!r}")
    _providers[provider.key] = provider


def providers() -> list[ReasonProvider]:
    return list(_providers.values())


def customer_ids(code: str) -> set[int]:
    """Customers any provider gives the reason ``code`` (for scoring)."""
    out: set[int] = set()
    for provider in _providers.values():
        if provider.code == code:
            out |= provider.customer_ids()
    return out


def with_details(customer_id: int, stored: list[str]) -> list[dict]:
    """The value card's reasons: the stored codes (from the last scoring run) and any a
    provider says hold now, each with the provider's words when it has some."""
    from valuecrm.insights.models import ValueReason

    details: dict[str, str] = {}
    for provider in _providers.values():
        text = provider.detail(customer_id)
        if text:
            details.setdefault(provider.code, text)
    codes = list(dict.fromkeys([*stored, *details]))
    return [{"code": c, "label": ValueReason(c).label, "detail": details.get(c, "")} for c in codes]
