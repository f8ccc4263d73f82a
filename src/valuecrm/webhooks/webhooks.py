"""Outbound webhooks: queue one delivery per subscribed endpoint, sign, send, retry.

Signature (verify on the receiving side with the endpoint's secret):

    X-ValueCRM-Timestamp: <unix seconds>
    X-ValueCRM-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed bytes, so a captured request cannot be replayed
later with a fresh timestamp; receivers should refuse timestamps older than a few
minutes. X-ValueCRM-Delivery identifies the delivery (the same on every retry, so
receivers can de-duplicate) and X-ValueCRM-Event names the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events as domain_events
from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.webhooks.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 6
# Wait after failed attempt n (1-based) before attempt n + 1.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))
RESPONSE_EXCERPT = 500
USER_AGENT = "ValueCRM-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_valid(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), header or "")


def _body(event: str, event_id: str, data: dict) -> str:
    envelope = {"id": event_id, "type": event, "created_at": timezone.now().isoformat(), "data": data}
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def event_publish(event: str, data: dict, *, event_id: str | None = None) -> list[WebhookDelivery]:
    """Queue `event` for every active endpoint subscribed to it and enqueue the sends.

    Called by the outbox subscriber after commit with the domain event's id; an
    endpoint that already has a delivery of that event id gets no second one. The
    deliveries are rows first, so a worker that is down only delays them.
    """
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if event in e.event_types]
    if event_id is not None:
        queued = set(WebhookDelivery.objects.filter(event_id=event_id, endpoint__in=endpoints)
                     .values_list("endpoint_id", flat=True))
        endpoints = [e for e in endpoints if e.pk not in queued]
    if not endpoints:
        return []
    event_id = event_id or uuid.uuid4().hex
    body = _body(event, event_id, data)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(endpoint=e, event=event, event_id=event_id, body=body, next_attempt_at=now)
        for e in endpoints
    ])
    from valuecrm.webhooks.tasks import webhook_deliver_task

    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: [webhook_deliver_task(pk) for pk in ids])
    return deliveries


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """(status code or None, response excerpt, error) for one attempt."""
    body = delivery.body.encode()
    timestamp = int(time.time())
    request = urllib.request.Request(delivery.endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-ValueCRM-Event": delivery.event,
        "X-ValueCRM-Delivery": str(delivery.pk),
        "X-ValueCRM-Timestamp": str(timestamp),
        "X-ValueCRM-Signature": sign(delivery.endpoint.secret, timestamp, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (admin-set URL)
            excerpt = response.read(RESPONSE_EXCERPT).decode("utf-8", "replace")
            return response.status, excerpt, ""
    except urllib.error.HTTPError as exc:
        excerpt = exc.read(RESPONSE_EXCERPT).decode("utf-8", "replace") if exc.fp else ""
        return exc.code, excerpt, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, "", str(reason)[:300]


def delivery_attempt(delivery_id: int) -> WebhookDelivery | None:
    """Send one delivery now if it is still due; record the outcome and the next try.

    2xx is success. Anything else is retried after BACKOFF[attempts - 1] until
    MAX_ATTEMPTS, then the delivery is failed (an admin can re-send it).
    """
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update().select_related("endpoint")
                    .filter(pk=delivery_id).first())
        if delivery is None or delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
            return delivery
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now():
            return delivery  # a retry is scheduled later; an early wake-up does nothing
        # Claim the attempt before the slow network call, so two workers never both send it.
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        delivery.next_attempt_at = None
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    code, excerpt, error = _post(delivery)
    delivery.status_code = code
    delivery.response_excerpt = excerpt
    delivery.error = error
    if code is not None and 200 <= code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.error = ""
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = delivery.last_attempt_at + BACKOFF[delivery.attempts - 1]
    delivery.save(update_fields=["status", "status_code", "response_excerpt", "error",
                                 "delivered_at", "next_attempt_at"])
    return delivery


def deliveries_due(now=None) -> list[int]:
    return list(WebhookDelivery.objects.due(now).values_list("pk", flat=True)[:500])


def _require_admin(actor) -> None:
    require(actor, Capability.INTEGRATIONS_MANAGE)


@transaction.atomic
def delivery_resend(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same event again as a new delivery (same event id, new delivery id)."""
    _require_admin(actor)
    copy = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint, event=delivery.event, event_id=delivery.event_id,
        body=delivery.body, next_attempt_at=timezone.now(),
    )
    from valuecrm.webhooks.tasks import webhook_deliver_task

    transaction.on_commit(lambda: webhook_deliver_task(copy.pk))
    return copy


def _clean_endpoint(data: dict) -> dict:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    errors: dict[str, list[str]] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("This field cannot be blank.")]
    elif len(name) > 100:
        errors["name"] = [_("Enter at most %(n)d characters.") % {"n": 100}]
    url = (data.get("url") or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
        if len(url) > 500:
            raise ValidationError("too long")
    except ValidationError:
        errors["url"] = [_("Enter a valid http(s) URL.")]
    events = list(data.get("event_types") or [])
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        errors["event_types"] = [_("Unknown event: %(e)s.") % {"e": ", ".join(map(str, unknown))}]
    elif not events:
        errors["event_types"] = [_("Choose at least one event.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    return {"name": name, "url": url, "event_types": sorted(set(events)),
            "active": bool(data.get("active", True))}


@transaction.atomic
def endpoint_create(*, actor, data: dict) -> WebhookEndpoint:
    _require_admin(actor)
    endpoint = WebhookEndpoint.objects.create(created_by=actor, **_clean_endpoint(data))
    domain_events.emit(domain_events.ConfigChanged(kind="webhook_endpoint", object_id=str(endpoint.pk), action="created"), actor=actor)
    return endpoint


@transaction.atomic
def endpoint_update(*, actor, endpoint: WebhookEndpoint, data: dict) -> WebhookEndpoint:
    _require_admin(actor)
    for key, value in _clean_endpoint(data).items():
        setattr(endpoint, key, value)
    endpoint.save()
    domain_events.emit(domain_events.ConfigChanged(kind="webhook_endpoint", object_id=str(endpoint.pk), action="updated"), actor=actor)
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor, endpoint: WebhookEndpoint) -> None:
    _require_admin(actor)
    domain_events.emit(domain_events.ConfigChanged(kind="webhook_endpoint", object_id=str(endpoint.pk), action="deleted"), actor=actor)
    endpoint.delete()


def endpoint_get(*, actor, pk) -> WebhookEndpoint:
    _require_admin(actor)
    endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
    if endpoint is None:
        raise NotFound(_("Webhook endpoint not found."))
    return endpoint


def endpoint_deliver(*, endpoint: WebhookEndpoint, event: str, data: dict, event_id: str) -> WebhookDelivery | None:
    """Queue one signed delivery of `event` to `endpoint` whatever it subscribes to (an
    automation rule's send_webhook action). A second call with the same event id for
    the same endpoint queues nothing: re-running a rule never posts twice."""
    if WebhookDelivery.objects.filter(event_id=event_id, endpoint=endpoint).exists():
        return None
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, event_id=event_id,
                                              body=_body(event, event_id, data), next_attempt_at=timezone.now())
    from valuecrm.webhooks.tasks import webhook_deliver_task

    transaction.on_commit(lambda: webhook_deliver_task(delivery.pk))
    return delivery
