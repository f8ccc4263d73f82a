"""Writes of the privacy app: consent ledger rows and consent wording.

Each function checks the actor's capability and the customer's visibility first,
validates everything before writing, writes in one transaction and emits its event.
The export and the erasure live in export.py and erasure.py (one operation each).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.customers.models import Customer
from valuecrm.customers.visibility import can_see_customer
from valuecrm.privacy.consent_rules import LEGACY_FIELDS, valid_pair
from valuecrm.privacy.events import ConsentRecorded, ConsentTextPublished
from valuecrm.privacy.models import (
    Channel,
    ConsentRecord,
    ConsentState,
    ConsentText,
    Erasure,
    Purpose,
    Source,
)

MAX_TEXT = 20_000


def _locked_customer(actor, customer) -> Customer:
    if not can_see_customer(actor, customer):
        raise NotFound(_("Customer not found."))
    return Customer.objects.select_for_update().get(pk=customer.pk)


def _validate_consent(channel, purpose, granted, source, text_id) -> tuple[dict, ConsentText | None]:
    errors: dict[str, list[str]] = {}
    if channel not in Channel.values:
        errors["channel"] = [_("Unknown channel.")]
    if purpose not in Purpose.values:
        errors["purpose"] = [_("Unknown purpose.")]
    if not errors and not valid_pair(channel, purpose):
        errors["channel"] = [_("This purpose is asked per channel.") if channel == Channel.ANY
                             else _("This purpose is asked once for the person, with channel \"any\".")]
    if not isinstance(granted, bool):
        errors["granted"] = [_("Enter true or false.")]
    if source not in Source.values or source == Source.ERASURE:
        errors["source"] = [_("Unknown source.")]
    text = None
    if text_id not in (None, ""):
        try:
            text = ConsentText.objects.filter(pk=int(text_id)).first()
        except (TypeError, ValueError, OverflowError):
            text = None
        if text is None:
            errors["text_id"] = [_("Unknown consent wording.")]
        elif "purpose" not in errors and text.purpose != purpose:
            errors["text_id"] = [_("This wording asks for another purpose.")]
    return errors, text


def _append(customer_id: int, *, channel, purpose, granted, source, text, actor, reference="",
            at=None, mirror: bool = True) -> ConsentRecord:
    """The ledger row, its cache row and the legacy boolean, in the caller's transaction."""
    record = ConsentRecord.objects.create(
        customer_id=customer_id, channel=channel, purpose=purpose, granted=granted,
        recorded_at=at or timezone.now(), source=source, text=text,
        actor=actor if getattr(actor, "pk", None) else None, reference=reference[:100],
    )
    ConsentState.objects.update_or_create(
        customer_id=customer_id, channel=channel, purpose=purpose,
        defaults={"granted": granted, "record": record},
    )
    if mirror and purpose == Purpose.MARKETING and channel in LEGACY_FIELDS:
        # update(), not save(): the ledger is this change's history, and no
        # customer.updated event must echo back into the ledger.
        Customer.objects.filter(pk=customer_id).update(**{LEGACY_FIELDS[channel]: granted})
    return record


@transaction.atomic
def consent_record(*, actor, customer: Customer, channel: str, purpose: str, granted: bool,
                   source: str = Source.FORM, text_id=None, reference: str = "") -> ConsentRecord:
    """Append one grant or withdrawal. Without `text_id` the newest wording for the
    purpose is cited (none when no wording has been written yet).

    Raises NotFound (not visible), PermissionDenied, ValidationFailed, Conflict (erased person).
    """
    require(actor, Capability.CUSTOMERS_CHANGE)
    fresh = _locked_customer(actor, customer)
    errors, text = _validate_consent(channel, purpose, granted, source, text_id)
    if not isinstance(reference, str) or len(reference) > 100 or "\x00" in reference:
        errors["reference"] = [_("At most 100 characters.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    if granted and Erasure.objects.filter(customer_ref=fresh.pk).exists():
        raise Conflict(_("This person's data was erased; consent cannot be granted again."))
    if text is None:
        text = ConsentText.objects.filter(purpose=purpose).order_by("-version").first()
    record = _append(fresh.pk, channel=channel, purpose=purpose, granted=granted, source=source,
                     text=text, actor=actor, reference=reference)
    # A repeated statement is recorded too: it is evidence of when it was said.
    events.emit(ConsentRecorded(customer_id=fresh.pk, record_id=record.pk, channel=channel,
                                purpose=purpose, granted=granted, source=source), actor=actor)
    return record


@transaction.atomic
def consent_text_publish(*, actor, purpose: str, body: str, body_zh: str = "") -> ConsentText:
    """A new version of the wording for `purpose`; earlier versions stay, as ledger rows cite them."""
    require(actor, Capability.PRIVACY_MANAGE)
    errors: dict[str, list[str]] = {}
    if purpose not in Purpose.values:
        errors["purpose"] = [_("Unknown purpose.")]
    for key, value, needed in (("body", body, True), ("body_zh", body_zh, False)):
        if not isinstance(value, str):
            errors[key] = [_("Enter text.")]
        elif needed and not value.strip():
            errors[key] = [_("This field is required.")]
        elif len(value) > MAX_TEXT or "\x00" in value:
            errors[key] = [_("At most %(n)d characters.") % {"n": MAX_TEXT}]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    # Serialise versions per purpose: lock the newest existing text.
    list(ConsentText.objects.select_for_update().filter(purpose=purpose).values_list("pk", flat=True))
    version = (ConsentText.objects.filter(purpose=purpose).aggregate(v=Max("version"))["v"] or 0) + 1
    text = ConsentText.objects.create(purpose=purpose, version=version, body=body.strip(),
                                      body_zh=body_zh.strip(), created_by=actor)
    events.emit(ConsentTextPublished(text_id=text.pk, purpose=purpose, version=version), actor=actor)
    return text


def consent_follow_legacy(customer_ids, *, source: str, reference: str = "", actor=None) -> int:
    """Append ledger rows where a legacy boolean (set by the customer form, the API, an
    import or the demo generator) disagrees with the ledger. Returns rows appended.

    Called after commit by the event subscribers, by the demo command and by
    `valuecrm privacy verify --fix`. Finds the disagreements in SQL (two indexed
    queries per channel), so a whole-table pass after a large import reads only
    the rows that changed.
    """
    customers = Customer.objects.all() if customer_ids is None else Customer.objects.filter(
        pk__in=list(customer_ids))
    customers = customers.exclude(Exists(Erasure.objects.filter(customer_ref=OuterRef("pk"))))
    text = ConsentText.objects.filter(purpose=Purpose.MARKETING).order_by("-version").first()
    appended = 0
    with transaction.atomic():
        for channel, field in LEGACY_FIELDS.items():
            def state(granted, channel=channel):
                return Exists(ConsentState.objects.filter(customer_id=OuterRef("pk"), channel=channel,
                                                          purpose=Purpose.MARKETING, granted=granted))

            # Flagged without a granted state: a grant. Not flagged with a granted state: a withdrawal.
            # (Not flagged and nothing recorded: nothing was ever said; nothing to record.)
            for granted, ids in (
                (True, customers.filter(**{field: True}).exclude(state(True)).values_list("pk", flat=True)),
                (False, customers.filter(**{field: False}).filter(state(True)).values_list("pk", flat=True)),
            ):
                for customer_id in ids.iterator():
                    _append(customer_id, channel=channel, purpose=Purpose.MARKETING, granted=granted,
                            source=source, text=text, actor=actor, reference=reference, mirror=False)
                    appended += 1
    return appended
