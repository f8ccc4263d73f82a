"""Inbound e-mail: a message becomes a reply on its ticket or a new ticket.

Threading, in order: the In-Reply-To / References headers name a Message-ID we
sent or received on a ticket; else the subject carries the ticket token "[#123]"
of a ticket of the same sender; else it is a new ticket of the customer whose
e-mail address sent it (unknown senders are skipped and reported, not guessed).
`poll_imap` reads the unseen messages of an IMAP mailbox and marks them seen.
"""

import imaplib
import re
from email import message_from_bytes, policy
from email.utils import parseaddr

from django.db import transaction
from django.utils import timezone

from valuecrm.customers.selectors import customers_with_email
from valuecrm.service.models import Channel, Ticket, TicketMessage, TicketStatus

TOKEN = re.compile(r"\[#(\d{1,18})\]")
_IDS = re.compile(r"<[^<>\s]+>")


def _body(message) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return (part.get_content() if part is not None else "").strip()


@transaction.atomic
def inbound_email(raw: bytes, *, now=None) -> tuple[str, Ticket | None]:
    """("reply" | "created" | "duplicate" | "unknown_sender", ticket)."""
    from valuecrm.service import services

    now = now or timezone.now()
    message = message_from_bytes(raw, policy=policy.default)
    message_id = (message.get("Message-ID") or "").strip()
    if message_id and TicketMessage.objects.filter(message_id=message_id).exists():
        return "duplicate", None
    sender = parseaddr(message.get("From", ""))[1].strip().lower()
    subject = str(message.get("Subject", "")).strip()[:200] or "(no subject)"
    body = _body(message)[:services.MAX_BODY] or subject
    refs = _IDS.findall(f"{message.get('In-Reply-To', '')} {message.get('References', '')}")
    ticket = None
    if refs:
        hit = TicketMessage.objects.filter(message_id__in=refs).select_related("ticket").order_by("-id").first()
        ticket = hit.ticket if hit else None
    if ticket is None and (token := TOKEN.search(subject)):
        # E-mail is encrypted at rest: matched through its blind index, never in SQL clear text.
        ticket = Ticket.objects.filter(pk=int(token.group(1)),
                                       customer__in=customers_with_email(sender)).first() if sender else None
    if ticket is not None and ticket.status != TicketStatus.CLOSED:
        # The customer answered: a waiting or solved ticket opens again; after an agent's
        # reply the next-response clock starts.
        services.ticket_customer_message(ticket=ticket, body=body, message_id=message_id, now=now)
        return "reply", ticket
    customer = customers_with_email(sender).order_by("id").first() if sender else None
    if customer is None:
        return "unknown_sender", None
    ticket = services.ticket_create_from_channel(customer=customer, subject=subject, body=body,
                                                 channel=Channel.EMAIL, message_id=message_id, now=now)
    return "created", ticket


def poll_imap(*, host: str, port: int, user: str, password: str, mailbox: str = "INBOX",
              ssl: bool = True) -> list[tuple[str, int | None]]:
    """Fetch the unseen messages, file each, mark it seen. Returns (outcome, ticket id) per message."""
    client = imaplib.IMAP4_SSL(host, port) if ssl else imaplib.IMAP4(host, port)
    outcomes = []
    try:
        client.login(user, password)
        client.select(mailbox)
        _typ, data = client.uid("SEARCH", None, "UNSEEN")
        for uid in (data[0] or b"").split():
            _typ, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(p[1] for p in parts if isinstance(p, tuple))
            outcome, ticket = inbound_email(raw)
            client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            outcomes.append((outcome, ticket.pk if ticket else None))
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return outcomes
