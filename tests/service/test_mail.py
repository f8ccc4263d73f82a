"""E-mail round trip against real servers on 127.0.0.1: Dovecot (IMAP, started from
scripts/start-dovecot.sh) for inbound mail and aiosmtpd (SMTP) for outbound replies.
No protocol is mocked: messages go in by IMAP APPEND and out through Django's SMTP backend."""

import imaplib
import shutil
import socket
import subprocess
import tempfile
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from valuecrm.service.mail import poll_imap
from valuecrm.service.models import Ticket
from valuecrm.service.services import ticket_reply

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/usr/sbin/dovecot").exists(), reason="dovecot-imapd not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            threading.Event().wait(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def imap_server():
    # Not under pytest's tmp_path: Dovecot's auth and mail processes run as its own
    # users and must reach the passwd file and the maildir.
    home = Path(tempfile.mkdtemp(prefix="valuecrm-dovecot-"))
    home.chmod(0o755)
    port = _free_port()
    proc = subprocess.Popen([str(ROOT / "scripts/start-dovecot.sh"), str(home), str(port), "support", "s3cret"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port)
        yield {"host": "127.0.0.1", "port": port, "user": "support", "password": "s3cret", "ssl": False}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def smtp_server(settings):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "support@shop.example"
    yield received
    controller.stop()


def _append(server, *, sender, subject, body, message_id, in_reply_to=""):
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = sender, "support@shop.example", subject, \
        message_id
    if in_reply_to:
        mail["In-Reply-To"], mail["References"] = in_reply_to, in_reply_to
    mail.set_content(body)
    client = imaplib.IMAP4(server["host"], server["port"])
    client.login(server["user"], server["password"])
    client.append("INBOX", None, None, mail.as_bytes())
    client.logout()


def _poll(server):
    return poll_imap(host=server["host"], port=server["port"], user=server["user"],
                     password=server["password"], ssl=False)


def test_inbound_mail_opens_a_ticket_the_reply_threads_and_the_answer_comes_back(
        imap_server, smtp_server, agent, customer, policies, django_capture_on_commit_callbacks):
    _append(imap_server, sender="王芳 <Wang.Fang@example.com>", subject="快递破损",
            body="收到的茶叶罐子压坏了。", message_id="<c1@mail.example.com>")
    [(outcome, ticket_id)] = _poll(imap_server)
    ticket = Ticket.objects.get(pk=ticket_id)
    assert (outcome, ticket.customer_id, ticket.channel, ticket.subject) == ("created", customer.pk, "email",
                                                                            "快递破损")
    assert _poll(imap_server) == []  # marked seen: not filed twice

    with django_capture_on_commit_callbacks(execute=True):
        reply = ticket_reply(actor=agent, ticket=ticket, body="很抱歉，我们马上为您补发。")
    [(rcpts, sent)] = smtp_server
    assert rcpts == ["wang.fang@example.com"]
    assert sent["Subject"] == f"[#{ticket.pk}] 快递破损"
    assert sent["Message-ID"] == reply.message_id
    assert (sent["In-Reply-To"], sent["References"]) == ("<c1@mail.example.com>", "<c1@mail.example.com>")
    assert sent.get_body().get_content().strip() == "很抱歉，我们马上为您补发。"

    _append(imap_server, sender="wang.fang@example.com", subject=f"Re: [#{ticket.pk}] 快递破损",
            body="谢谢！", message_id="<c2@mail.example.com>", in_reply_to=reply.message_id)
    assert _poll(imap_server) == [("reply", ticket.pk)]
    assert [(m.kind, m.body) for m in ticket.messages.all()] == [
        ("inbound", "收到的茶叶罐子压坏了。"), ("reply", "很抱歉，我们马上为您补发。"), ("inbound", "谢谢！")]


def test_a_reply_with_only_the_ticket_token_threads_and_strangers_are_not_filed(imap_server, customer, policies):
    _append(imap_server, sender="wang.fang@example.com", subject="发票", body="请开发票", message_id="<d1@x>")
    [(_, ticket_id)] = _poll(imap_server)
    _append(imap_server, sender="wang.fang@example.com", subject=f"Re: [#{ticket_id}] 发票", body="抬头是…",
            message_id="<d2@x>")
    _append(imap_server, sender="spam@elsewhere.example", subject=f"[#{ticket_id}] win", body="$$$",
            message_id="<d3@x>")
    assert _poll(imap_server) == [("reply", ticket_id), ("unknown_sender", None)]
    assert Ticket.objects.count() == 1
