"""Reads of consent and of the privacy logs. Other apps (marketing, automation) ask
`can_contact`, `allows_personalisation` and `allows_automated_decisions` before acting."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common.errors import NotFound
from valuecrm.customers.models import Customer
from valuecrm.customers.visibility import can_see_customer
from valuecrm.privacy.consent_rules import (
    CHANNEL_PURPOSES,
    CONTACT_CHANNELS,
    DEFAULT_GRANTED,
    LEGACY_FIELDS,
    PERSON_PURPOSES,
)
from valuecrm.privacy.models import (
    Channel,
    ConsentRecord,
    ConsentState,
    ConsentText,
    Erasure,
    PersonalDataExport,
    Purpose,
)


def _customer_id(customer) -> int:
    return customer.pk if isinstance(customer, Customer) else int(customer)


def is_erased(customer) -> bool:
    return Erasure.objects.filter(customer_ref=_customer_id(customer)).exists()


def consent_granted(customer, channel: str, purpose: str) -> bool:
    """The current answer for one (channel, purpose): the newest ledger row, else the default."""
    state = (ConsentState.objects.filter(customer_id=_customer_id(customer), channel=channel, purpose=purpose)
             .values_list("granted", flat=True).first())
    return DEFAULT_GRANTED[Purpose(purpose)] if state is None else state


def can_contact(customer, channel: str, purpose: str = Purpose.MARKETING) -> bool:
    """May we message this person on `channel` for `purpose`?

    Personalised marketing needs marketing consent on the channel *and* no
    opt-out of personalisation. An erased person is never contacted.
    """
    customer_id = _customer_id(customer)
    if is_erased(customer_id):
        return False
    if purpose == Purpose.PERSONALISED_MARKETING:
        return (consent_granted(customer_id, channel, Purpose.MARKETING)
                and consent_granted(customer_id, Channel.ANY, Purpose.PERSONALISED_MARKETING))
    return consent_granted(customer_id, channel, purpose)


def allows_personalisation(customer) -> bool:
    """False when the person refused personalised marketing (PIPL Art. 24)."""
    return consent_granted(customer, Channel.ANY, Purpose.PERSONALISED_MARKETING)


def allows_automated_decisions(customer) -> bool:
    """False when the person refused decisions made about them by automated means (Art. 24)."""
    return consent_granted(customer, Channel.ANY, Purpose.AUTOMATED_DECISIONS)


def contactable(queryset: QuerySet, channel: str, purpose: str = Purpose.MARKETING) -> QuerySet:
    """`queryset` of customers narrowed to those `can_contact` says yes to (one query)."""
    def state(ch, pu, granted):
        return Exists(ConsentState.objects.filter(customer_id=OuterRef("pk"), channel=ch, purpose=pu,
                                                  granted=granted))

    def holds(ch, pu):
        if DEFAULT_GRANTED[Purpose(pu)]:
            return ~state(ch, pu, False)
        return state(ch, pu, True)

    qs = queryset.exclude(Exists(Erasure.objects.filter(customer_ref=OuterRef("pk"))))
    if purpose == Purpose.PERSONALISED_MARKETING:
        return qs.filter(holds(channel, Purpose.MARKETING), holds(Channel.ANY, purpose))
    return qs.filter(holds(channel, purpose))


def consent_overview(customer) -> dict:
    """The matrix the record page shows: channel purposes per channel, then person-wide ones."""
    customer_id = _customer_id(customer)
    states = {(s.channel, s.purpose): s for s in
              ConsentState.objects.filter(customer_id=customer_id).select_related("record", "record__text")}

    def cell(channel, purpose):
        state = states.get((channel, purpose))
        return {
            "channel": channel, "purpose": purpose,
            "granted": DEFAULT_GRANTED[Purpose(purpose)] if state is None else state.granted,
            "by_default": state is None,
            "record": state.record if state else None,
        }

    return {
        "channels": [{"channel": c, "label": c.label,
                      "cells": [cell(c.value, p.value) for p in CHANNEL_PURPOSES]} for c in CONTACT_CHANNELS],
        "channel_purposes": [{"purpose": p.value, "label": p.label} for p in CHANNEL_PURPOSES],
        "person": [dict(cell(Channel.ANY.value, p.value), label=p.label) for p in PERSON_PURPOSES],
    }


def consent_ledger(customer, *, limit: int | None = None) -> QuerySet:
    qs = (ConsentRecord.objects.filter(customer_id=_customer_id(customer))
          .select_related("text", "actor").order_by("-recorded_at", "-id"))
    return qs[:limit] if limit else qs


def consent_cache_mismatches(customer_ids=None) -> list[dict]:
    """Where the cache (ConsentState, the legacy booleans) disagrees with the ledger.

    Empty when everything is consistent; a check for tests and for `valuecrm privacy verify`.
    """
    records = ConsentRecord.objects.order_by("customer_id", "channel", "purpose", "recorded_at", "id")
    if customer_ids is not None:
        records = records.filter(customer_id__in=list(customer_ids))
    newest: dict[tuple, ConsentRecord] = {}
    for record in records.iterator():
        newest[(record.customer_id, record.channel, record.purpose)] = record
    states = ConsentState.objects.all()
    if customer_ids is not None:
        states = states.filter(customer_id__in=list(customer_ids))
    cached = {(s.customer_id, s.channel, s.purpose): s for s in states}
    problems = []
    for key in newest.keys() | cached.keys():
        record, state = newest.get(key), cached.get(key)
        if record is None or state is None or state.record_id != record.pk or state.granted != record.granted:
            problems.append({"key": key, "problem": "state"})
    # The legacy booleans mirror marketing consent per channel.
    customers = Customer.objects.all()
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    for channel, field in LEGACY_FIELDS.items():
        granted_ids = {k[0] for k, s in cached.items()
                       if k[1] == channel and k[2] == Purpose.MARKETING and s.granted}
        flagged = set(customers.filter(**{field: True}).values_list("pk", flat=True))
        for customer_id in flagged ^ granted_ids:
            problems.append({"key": (customer_id, channel.value, Purpose.MARKETING.value), "problem": field})
    return problems


def current_texts() -> dict[str, ConsentText]:
    """The newest wording per purpose."""
    texts: dict[str, ConsentText] = {}
    for text in ConsentText.objects.order_by("purpose", "-version"):
        texts.setdefault(text.purpose, text)
    return texts


def consent_texts() -> QuerySet:
    return ConsentText.objects.order_by("purpose", "-version")


# ---------------------------------------------------------------- logs

def erasure_log(user, *, limit: int = 200) -> QuerySet:
    """Proofs of erasure, for those who may erase (admins)."""
    require(user, Capability.PRIVACY_ERASE)
    return Erasure.objects.select_related("actor").order_by("-erased_at", "-id")[:limit]


def erasure_get(user, pk) -> Erasure:
    require(user, Capability.PRIVACY_ERASE)
    try:
        return Erasure.objects.select_related("actor").get(pk=int(pk))
    except (Erasure.DoesNotExist, TypeError, ValueError, OverflowError):
        raise NotFound(_("Erasure not found.")) from None


def export_log(user, customer) -> QuerySet:
    if not can_see_customer(user, customer):
        raise NotFound(_("Customer not found."))
    return PersonalDataExport.objects.filter(customer_ref=customer.pk).select_related("actor")[:20]


def customers_opted_out(purpose: str) -> QuerySet:
    """Ids of customers who refused an Art. 24 purpose (for apps that filter in bulk)."""
    return ConsentState.objects.filter(Q(channel=Channel.ANY, purpose=purpose, granted=False)).values("customer_id")


def refusing_automated_decisions(customer_ids) -> set[int]:
    """Which of `customer_ids` refused automated decisions (Art. 24) or were erased: the
    automation engine's opt-out provider (registered in PrivacyConfig.ready)."""
    ids = list(customer_ids)
    allowed = contactable(Customer.objects.filter(pk__in=ids), Channel.ANY, Purpose.AUTOMATED_DECISIONS)
    return set(ids) - set(allowed.values_list("pk", flat=True))
