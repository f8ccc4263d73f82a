"""Who may be messaged: a hook the privacy app (a layer above) fills from its ready().

    register_contact_policy(queryset_fn, personalisation_fn)

``queryset_fn(queryset, channel, purpose)`` narrows customers to those who may be
contacted; ``personalisation_fn(customer)`` is False when the person refused
personalised marketing (PIPL Art. 24). With no provider registered, the customer's
consent booleans decide and everyone allows personalisation — never send without consent.
"""

from __future__ import annotations

_policy: dict = {}

_FLAG = {"email": "consent_email", "sms": "consent_sms", "wechat": "consent_wechat"}


def register_contact_policy(queryset_fn, personalisation_fn) -> None:
    _policy["queryset"] = queryset_fn
    _policy["personalisation"] = personalisation_fn


def clear_contact_policy() -> None:
    _policy.clear()


def contactable(queryset, channel: str, purpose: str = "marketing"):
    fn = _policy.get("queryset")
    if fn is not None:
        return fn(queryset, channel, purpose)
    return queryset.filter(**{_FLAG[channel]: True})


def allows_personalisation(customer) -> bool:
    fn = _policy.get("personalisation")
    return True if fn is None else bool(fn(customer))
