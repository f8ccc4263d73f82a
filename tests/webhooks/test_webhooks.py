import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.webhooks import webhooks
from valuecrm.webhooks.models import DeliveryStatus, WebhookDelivery


class Receiver:
    """A local HTTP server answering with the queued status codes (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": self.headers, "body": body})  # case-insensitive
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"boom")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    servers = []

    def _make(statuses=()):
        server = Receiver(statuses)
        servers.append(server)
        return server

    yield _make
    for server in servers:
        server.close()


def _endpoint(admin_user, url, events=("customer.created",)):
    return webhooks.endpoint_create(actor=admin_user, data={"name": "CRM mirror", "url": url,
                                                            "event_types": list(events)})


def _due_now(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_customer_created_is_delivered_signed(admin_user, receiver, django_capture_on_commit_callbacks):
    from valuecrm.customers.services import customer_create

    server = receiver()
    endpoint = _endpoint(admin_user, server.url)
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(actor=admin_user, data={"name": "李雷", "email": "li@example.com"})

    assert len(server.requests) == 1
    request = server.requests[0]
    headers, body = request["headers"], request["body"]
    delivery = WebhookDelivery.objects.get()
    assert headers["X-ValueCRM-Event"] == "customer.created"
    assert headers["X-ValueCRM-Delivery"] == str(delivery.pk)
    expected = hmac.new(endpoint.secret.encode(), headers["X-ValueCRM-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-ValueCRM-Signature"] == f"sha256={expected}"
    assert abs(int(headers["X-ValueCRM-Timestamp"]) - timezone.now().timestamp()) < 30
    payload = json.loads(body)
    assert payload["type"] == "customer.created"
    assert payload["id"] == delivery.event_id
    assert payload["data"]["customer"]["id"] == customer.pk
    assert payload["data"]["customer"]["name"] == "李雷"
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1 and delivery.status_code == 200 and delivery.response_excerpt == "ok"


def test_unsubscribed_and_paused_endpoints_get_nothing(admin_user, receiver, django_capture_on_commit_callbacks):
    from valuecrm.customers.services import customer_create

    server = receiver()
    _endpoint(admin_user, server.url, events=("order.created",))
    paused = _endpoint(admin_user, server.url)
    webhooks.endpoint_update(actor=admin_user, endpoint=paused, data={
        "name": paused.name, "url": paused.url, "event_types": paused.event_types, "active": False})
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(actor=admin_user, data={"name": "Nobody listens"})
    assert server.requests == []
    assert WebhookDelivery.objects.count() == 0


def test_retry_schedule_then_failure_after_six_attempts(admin_user, receiver, django_capture_on_commit_callbacks):
    server = receiver(statuses=[500] * 6)
    endpoint = _endpoint(admin_user, server.url, events=("order.created",))
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = webhooks.event_publish("order.created", {"order": {"id": 1}})
    gaps = []
    for attempt in range(1, 7):
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        assert delivery.status_code == 500 and delivery.response_excerpt == "boom"
        if attempt < 6:
            assert delivery.status == DeliveryStatus.RETRYING
            gaps.append(delivery.next_attempt_at - delivery.last_attempt_at)
            # too early: nothing is sent
            webhooks.delivery_attempt(delivery.pk)
            assert len(server.requests) == attempt
            _due_now(delivery)
            assert webhooks.deliveries_due() == [delivery.pk]
            webhooks.delivery_attempt(delivery.pk)
    assert gaps == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                    timedelta(hours=2), timedelta(hours=12)]
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert len(server.requests) == 6
    # every retry carries the same delivery id and body, freshly signed
    assert {r["headers"]["X-ValueCRM-Delivery"] for r in server.requests} == {str(delivery.pk)}
    assert {r["body"] for r in server.requests} == {delivery.body.encode()}
    assert endpoint.deliveries.count() == 1


def test_success_after_a_retry(admin_user, receiver, django_capture_on_commit_callbacks):
    server = receiver(statuses=[503])
    _endpoint(admin_user, server.url, events=("stage.changed",))
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = webhooks.event_publish("stage.changed", {"customer_id": 5})
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.status_code == 503
    _due_now(delivery)
    from valuecrm.webhooks.tasks import webhook_retry_due

    assert webhook_retry_due.call_local() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 2 and delivery.status_code == 200 and delivery.error == ""
    assert delivery.delivered_at is not None


def test_unreachable_endpoint_is_retried(admin_user, django_capture_on_commit_callbacks):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _endpoint(admin_user, f"http://127.0.0.1:{port}/", events=("order.created",))
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = webhooks.event_publish("order.created", {})
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.status_code is None and "refused" in delivery.error.lower()


def test_resend_creates_a_new_delivery_of_the_same_event(admin_user, rep_north, receiver,
                                                        django_capture_on_commit_callbacks):
    server = receiver(statuses=[500] * 6)
    _endpoint(admin_user, server.url, events=("order.created",))
    with django_capture_on_commit_callbacks(execute=True):
        (failed,) = webhooks.event_publish("order.created", {"order": {"id": 9}})
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED)
    server.statuses = []
    with pytest.raises(PermissionDenied):
        webhooks.delivery_resend(actor=rep_north, delivery=failed)
    with django_capture_on_commit_callbacks(execute=True):
        copy = webhooks.delivery_resend(actor=admin_user, delivery=failed)
    copy.refresh_from_db()
    assert copy.pk != failed.pk
    assert copy.event_id == failed.event_id and copy.body == failed.body
    assert copy.status == DeliveryStatus.DELIVERED
    assert server.requests[-1]["headers"]["X-ValueCRM-Delivery"] == str(copy.pk)


def test_endpoint_validation_names_fields(admin_user, rep_north):
    with pytest.raises(ValidationFailed) as err:
        webhooks.endpoint_create(actor=admin_user, data={"name": "", "url": "ftp://x", "event_types": ["nope"]})
    assert set(err.value.errors) == {"name", "url", "event_types"}
    with pytest.raises(PermissionDenied):
        webhooks.endpoint_create(actor=rep_north, data={"name": "x", "url": "https://example.com",
                                                        "event_types": ["order.created"]})


def test_order_created_and_customer_merged_events(admin_user, receiver, django_capture_on_commit_callbacks):
    from valuecrm.customers.services import customer_create
    from valuecrm.duplicates.merge import customer_merge
    from valuecrm.orders.services import order_create

    server = receiver()
    _endpoint(admin_user, server.url, events=("order.created", "customer.merged"))
    with django_capture_on_commit_callbacks(execute=True):
        a = customer_create(actor=admin_user, data={"name": "A", "phone": "13100131000"})
        b = customer_create(actor=admin_user, data={"name": "B", "phone": "13100131000"})
        order, _created = order_create(actor=admin_user, data={"customer_id": a.pk, "source": "pos",
                                                               "external_id": "r-1", "total_amount": "9.90"})
        merge = customer_merge(actor=admin_user, survivor=a, merged=b)
    events = [json.loads(r["body"]) for r in server.requests]
    assert [e["type"] for e in events] == ["order.created", "customer.merged"]
    assert events[0]["data"]["order"]["id"] == order.pk
    assert events[0]["data"]["order"]["total_amount"] == "9.90"
    assert events[1]["data"]["merge_id"] == merge.pk
    assert events[1]["data"]["survivor_id"] == a.pk and events[1]["data"]["merged_id"] == b.pk


def test_a_redelivered_event_queues_no_second_delivery(admin_user, receiver, django_capture_on_commit_callbacks):
    from valuecrm.common import events
    from valuecrm.common.models import OutboxEvent
    from valuecrm.customers.services import customer_create

    server = receiver()
    _endpoint(admin_user, server.url)
    with django_capture_on_commit_callbacks(execute=False):  # the process dies after commit
        customer_create(actor=admin_user, data={"name": "李雷"})
    assert WebhookDelivery.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        events.redeliver_stale(older_than=timedelta(0))
    row = OutboxEvent.objects.get(name="customer.created")
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event_id == row.event_id.hex  # the webhook id is the domain event's id
    # A delivery row exists but the receipt was lost (crash in between): still one delivery.
    row.receipts.all().delete()
    OutboxEvent.objects.filter(pk=row.pk).update(dispatched_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        events.redeliver_stale(older_than=timedelta(0))
    assert WebhookDelivery.objects.count() == 1 and len(server.requests) == 1
