"""A real SMTP server (aiosmtpd in a thread on a free port) and a real HTTP receiver for
the provider webhooks, both on 127.0.0.1; a marketer and customers with consent."""

import datetime as dt
import http.server
import json
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from valuecrm.customers.models import Customer
from valuecrm.marketing import services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook name
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.VALUECRM_MARKETING_SMTP = {"host": "127.0.0.1", "port": port, "use_tls": False,
                                        "from": "shop@example.cn"}
    settings.VALUECRM_MARKETING_RATE = 0
    settings.VALUECRM_BASE_URL = "http://testserver"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def webhook_receiver(settings):
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": json.loads(body), "raw": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/send"
    settings.VALUECRM_MARKETING_WEBHOOKS = {"sms": {"url": url, "secret": "s3cret"},
                                            "wechat": {"url": url, "secret": "s3cret"}}
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def marketer(make_user):
    return make_user("mia", role="marketer")


@pytest.fixture
def make_customers(admin_user):
    def _make(n, *, consent=True, prefix="c", **kw):
        rows = [Customer(name=f"{prefix}{i}", email=f"{prefix}{i}@example.cn", phone=f"1380000{i:04d}",
                         consent_email=consent, consent_sms=consent, owner=admin_user, **kw) for i in range(n)]
        made = Customer.objects.bulk_create(rows)
        # The consent ledger (privacy) follows the booleans, as after an import.
        from valuecrm.privacy.services import consent_follow_legacy

        consent_follow_legacy([c.pk for c in made], source="import")
        return made
    return _make


@pytest.fixture
def daytime():
    """10:00 site time: outside quiet hours."""
    return timezone.make_aware(dt.datetime(2026, 6, 3, 10, 0))


@pytest.fixture
def email_template(admin_user):
    return services.template_create(actor=admin_user, data={
        "name": "夏季", "channel": "email", "language": "zh-hans",
        "subject": '{{ customer.name|default:"朋友" }}，夏季新品',
        "body_text": '{{ customer.name|default:"朋友" }}，您好！退订：{{ unsubscribe_url }}',
        "body_html": '<style>p{color:#c00}</style><p>{{ customer.name|default:"朋友" }}</p>'
                     '<a href="https://shop.example.cn/new">看看</a><script>alert(1)</script>'})
