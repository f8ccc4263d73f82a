"""Raising one value alert from outside a scoring run (e.g. service: negative feedback
from a valuable customer).

The alert is written like the scoring path writes its alerts — same table, same
`value_alert.raised` event, so the default automation rule gives the owner a task —
and is deduplicated: while an open alert of the same kind exists for the customer,
raising another returns None and writes nothing. Scoring runs never resolve these
kinds (SCORING_ALERT_KINDS); they stay open until resolved.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from valuecrm.common import events
from valuecrm.common.errors import ValidationFailed
from valuecrm.insights.models import SCORING_ALERT_KINDS, AlertKind, CustomerValue, Tier, ValueAlert

from .playbook import reason_text


@transaction.atomic
def raise_alert(customer, kind: str, detail: dict, actor=None) -> ValueAlert | None:
    """Open an alert of `kind` for `customer` with `detail` (reason params: a "code" and its
    numbers) unless one of that kind is open already; returns the new alert or None.

    `actor` is the user on whose behalf it is raised (None: the system, e.g. a worker);
    a user needs the capability to change customers."""
    if actor is not None:
        from valuecrm.accounts.capabilities import Capability, require

        require(actor, Capability.CUSTOMERS_CHANGE)
    if kind not in AlertKind.values or kind in SCORING_ALERT_KINDS:
        raise ValidationFailed(_("Validation failed"), errors={"kind": [_("Not a valid choice.")]})
    if not isinstance(detail, dict):
        raise ValidationFailed(_("Validation failed"), errors={"detail": [_("Enter a valid JSON object.")]})
    # The customer row lock serialises two workers raising for the same customer at once.
    type(customer).objects.select_for_update().filter(pk=customer.pk).first()
    if ValueAlert.objects.open().filter(customer_id=customer.pk, kind=kind).exists():
        return None
    now = timezone.now()
    tier = CustomerValue.objects.filter(customer_id=customer.pk).values_list("tier", flat=True).first() or ""
    language = getattr(getattr(customer, "owner", None), "language", "") or settings.LANGUAGE_CODE
    params = {"code": kind, **detail}
    with translation.override(language):
        reason = reason_text(params)
    alert = ValueAlert.objects.create(
        customer_id=customer.pk, kind=kind, episode_key=f"{kind}:{uuid.uuid4().hex[:16]}", reason=reason,
        reason_params=params, tier=tier if tier in Tier.values else Tier.C, run=None, created_on=now.date())
    events.emit(events.ValueAlertRaised(customer_id=customer.pk, alert_id=alert.pk, kind=kind, tier=alert.tier),
                actor=actor)
    return alert
