"""Delivery: e-mail over SMTP (Django's SMTP backend), short messages and WeChat/WeCom
through a provider webhook signed with HMAC-SHA256 over the body.

Settings: VALUECRM_MARKETING_SMTP = {host, port, user, password, use_tls, from};
VALUECRM_MARKETING_WEBHOOKS = {"sms": {"url", "secret"}, "wechat": {...}}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection


class DeliveryError(Exception):
    pass


def smtp_connection():
    conf = getattr(settings, "VALUECRM_MARKETING_SMTP", {}) or {}
    if not conf.get("host"):
        return get_connection()  # the site's e-mail backend
    return get_connection("django.core.mail.backends.smtp.EmailBackend", host=conf["host"],
                          port=int(conf.get("port", 25)), username=conf.get("user", ""),
                          password=conf.get("password", ""), use_tls=bool(conf.get("use_tls")),
                          timeout=int(conf.get("timeout", 10)))


def email_message(*, to: str, subject: str, text: str, html: str, unsubscribe_url: str,
                  message_key: str, connection=None) -> EmailMultiAlternatives:
    conf = getattr(settings, "VALUECRM_MARKETING_SMTP", {}) or {}
    sender = conf.get("from") or settings.DEFAULT_FROM_EMAIL
    msg = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender, to=[to], connection=connection,
        headers={
            # RFC 8058: the one-click unsubscribe is a POST to this URL.
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-ValueCRM-Message": message_key,
        },
    )
    if html:
        msg.attach_alternative(html, "text/html")
    return msg


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_send(channel: str, *, to: str, text: str, message_key: str) -> None:
    conf = (getattr(settings, "VALUECRM_MARKETING_WEBHOOKS", {}) or {}).get(channel) or {}
    if not conf.get("url"):
        raise DeliveryError(f"no {channel} provider configured")
    body = json.dumps({"to": to, "text": text, "id": message_key}, ensure_ascii=False).encode()
    request = urllib.request.Request(conf["url"], data=body, method="POST", headers={
        "Content-Type": "application/json", "X-ValueCRM-Signature": sign(conf.get("secret", ""), body),
        "Idempotency-Key": message_key,
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 — configured URL
            if response.status >= 300:
                raise DeliveryError(f"provider answered {response.status}")
    except OSError as exc:
        raise DeliveryError(str(exc)[:200]) from exc
