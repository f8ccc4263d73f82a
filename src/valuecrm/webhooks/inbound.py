"""Orders pushed by shops and ERPs: POST /api/v1/inbound/orders/<source key>.

The sender signs each request like our outbound webhooks, with the source's
shared secret:

    X-ValueCRM-Timestamp: <unix seconds>
    X-ValueCRM-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Requests with a missing or wrong signature, or a timestamp more than
MAX_SKEW_SECONDS away from now, are refused before anything is read or written.
The order is idempotent on (source key, external_id) through orders.services.order_create,
so a shop retrying after a timeout never creates a second order.

The customer is found by the shop's customer id (customer.external_id with the same
source), then e-mail, then phone; when none matches it is created.
"""

from __future__ import annotations

import json
import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability
from valuecrm.common import events
from valuecrm.common.encryption import blind_index
from valuecrm.common.errors import DomainError, ValidationFailed
from valuecrm.customers.models import ContactPoint, Customer
from valuecrm.customers.normalize import normalize_email, normalize_phone
from valuecrm.customers.services import customer_create
from valuecrm.customers.visibility import visible_customers
from valuecrm.orders.models import Order
from valuecrm.orders.services import order_create
from valuecrm.webhooks.models import InboundSource
from valuecrm.webhooks.webhooks import signature_valid

MAX_SKEW_SECONDS = 300
CUSTOMER_KEYS = ("external_id", "name", "email", "phone")


class SignatureRejected(DomainError):
    status = 401
    code = "bad_signature"


def verify(source_key: str, body: bytes, timestamp: str | None, signature: str | None,
           now: float | None = None) -> InboundSource:
    """The active source whose secret signed `body` at `timestamp`, or SignatureRejected.

    Unknown sources get the same answer as bad signatures, so keys cannot be probed.
    """
    source = InboundSource.objects.select_related("run_as").filter(key=source_key, active=True).first()
    if not timestamp or not signature:
        raise SignatureRejected(_("Missing signature: send X-ValueCRM-Timestamp and X-ValueCRM-Signature."))
    try:
        stamp = int(timestamp)
    except ValueError:
        raise SignatureRejected(_("Invalid signature.")) from None
    if source is None or not signature_valid(source.secret, stamp, body, signature):
        raise SignatureRejected(_("Invalid signature."))
    if abs((now or time.time()) - stamp) > MAX_SKEW_SECONDS:
        raise SignatureRejected(_("The timestamp is too old or in the future; sign the request again."))
    return source


def _customer_for(source: InboundSource, raw, errors: dict) -> Customer | None:
    if not isinstance(raw, dict):
        errors.setdefault("customer", []).append(_("Expected an object."))
        return None
    for key in raw:
        if key not in CUSTOMER_KEYS:
            errors.setdefault(f"customer.{key}", []).append(_("Unknown field."))
    actor = source.run_as
    visible = visible_customers(actor)
    external_id = str(raw.get("external_id") or "").strip()
    try:
        email = normalize_email(raw.get("email"))
    except ValidationError as exc:
        errors.setdefault("customer.email", []).extend(exc.messages)
        email = ""
    try:
        phone = normalize_phone(raw.get("phone"))
    except ValidationError as exc:
        errors.setdefault("customer.phone", []).extend(exc.messages)
        phone = ""
    if errors:
        return None
    if external_id:
        found = visible.filter(source=source.key, external_id=external_id).first()
        if found is not None:
            return found
    for kind, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        # Encrypted columns: matched through their blind indexes.
        found = visible.filter(**{f"{kind}_bidx": blind_index(kind, value)}).order_by("pk").first()
        if found is None:
            ids = ContactPoint.objects.filter(kind=kind, value_bidx=blind_index("contact", value)
                                              ).values("customer_id")
            found = visible.filter(pk__in=ids).order_by("pk").first()
        if found is not None:
            return found
    name = str(raw.get("name") or "").strip() or email or phone
    if not name:
        errors.setdefault("customer.name", []).append(
            _("Give a name, e-mail or phone for a customer we do not know yet."))
        return None
    try:
        return customer_create(actor=actor, data={
            "name": name, "email": email, "phone": phone, "source": source.key,
            "external_id": external_id,
        })
    except ValidationFailed as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(f"customer.{key}", []).extend(messages)
        return None


def inbound_order(source: InboundSource, body: bytes) -> tuple[Order, bool]:
    """Create (or find again) the order in `body` for `source`. Returns (order, created).

    Body: {"external_id", "placed_at", "status", "channel", "currency", "total_amount",
    "total_cost", "lines": [...], "customer": {"external_id", "name", "email", "phone"}}.
    All or nothing: a refused order leaves no new customer behind.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed(_("Validation failed"), errors={"body": [_("Send a JSON object.")]}) from None
    if not isinstance(data, dict):
        raise ValidationFailed(_("Validation failed"), errors={"body": [_("Send a JSON object.")]})
    errors: dict[str, list[str]] = {}
    external_id = data.get("external_id")
    if not isinstance(external_id, str | int) or not str(external_id).strip():
        errors["external_id"] = [_("This field is required.")]
    if "source" in data or "customer_id" in data:
        errors.setdefault("source" if "source" in data else "customer_id", []).append(
            _("Set by the endpoint; do not send it."))
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    existing = Order.objects.filter(source=source.key, external_id=str(external_id).strip()).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        customer = _customer_for(source, data.get("customer"), errors)
        if errors:
            raise ValidationFailed(_("Validation failed"), errors=errors)
        order_data = {k: v for k, v in data.items() if k != "customer"}
        order_data.update(source=source.key, external_id=str(external_id).strip(), customer_id=customer.pk)
        return order_create(actor=source.run_as, data=order_data)


@transaction.atomic
def inbound_source_create(*, actor, key: str, name: str, run_as) -> InboundSource:
    from valuecrm.webhooks.webhooks import _require_admin

    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    key = (key or "").strip().lower()
    from django.core.validators import validate_slug

    try:
        validate_slug(key)
    except ValidationError:
        errors["key"] = [_("Use letters, numbers, hyphens and underscores.")]
    if key and len(key) > 50:
        errors["key"] = [_("Enter at most %(n)d characters.") % {"n": 50}]
    if "key" not in errors and InboundSource.objects.filter(key=key).exists():
        errors["key"] = [_("A source with this key already exists.")]
    name = (name or "").strip() or key
    if run_as is None or not run_as.is_active or not run_as.can(Capability.ORDERS_CHANGE):
        errors["run_as"] = [_("Choose an active user who may change records.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    source = InboundSource.objects.create(key=key, name=name[:100], run_as=run_as)
    events.emit(events.ConfigChanged(kind="inbound_source", object_id=str(source.pk), action="created"),
                actor=actor)
    return source
