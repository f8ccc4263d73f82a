"""Search tokens of customers' phones and e-mails (CustomerSearchToken rows).

Phones and e-mails are encrypted (common/encryption.py), so the list search cannot
compare them with LIKE or a range. Instead each customer gets keyed hashes of what a
search can be: every prefix of the E.164 number with at least PHONE_PREFIX_MIN_DIGITS
digits ("+8613800…"), the last 1…TAIL_SEARCH_MAX_DIGITS digits, and the e-mail's local
part and domain. A search hashes what was typed the same way and matches the token rows.
The exact e-mail and phone go through Customer.email_bidx / phone_bidx.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import connection

from valuecrm.common.encryption import search_token

PHONE_PREFIX_MIN_DIGITS = 4  # = selectors.PHONE_SEARCH_MIN_DIGITS
TAIL_SEARCH_MAX_DIGITS = 6  # = selectors.TAIL_SEARCH_MAX_DIGITS


def phone_prefix_token(prefix: str) -> int:
    return search_token("phone_prefix", prefix)


def phone_tail_token(digits: str) -> int:
    return search_token("phone_tail", digits)


def email_part_token(part: str) -> int:
    return search_token("email_part", part)


def tokens_for(email: str, phone: str) -> set[int]:
    tokens: set[int] = set()
    if phone:
        digits = re.sub(r"\D", "", phone)
        for end in range(PHONE_PREFIX_MIN_DIGITS, len(digits) + 1):
            tokens.add(phone_prefix_token("+" + digits[:end]))
        for length in range(1, min(TAIL_SEARCH_MAX_DIGITS, len(digits)) + 1):
            tokens.add(phone_tail_token(digits[-length:]))
    if email and "@" in email:
        local, _, domain = email.rpartition("@")
        tokens.add(email_part_token(local))
        tokens.add(email_part_token(domain))
    return tokens


def token_rows(ids: Sequence[int], emails: Sequence[str], phones: Sequence[str]) -> tuple[list, list]:
    """(customer ids, tokens) as two parallel columns, for a bulk writer."""
    customer_ids: list[int] = []
    tokens: list[int] = []
    for pk, email, phone in zip(ids, emails, phones, strict=True):
        for token in tokens_for(email or "", phone or ""):
            customer_ids.append(pk)
            tokens.append(token)
    return customer_ids, tokens


def refresh_tokens(ids: Sequence[int], emails: Sequence[str], phones: Sequence[str], *,
                   replace: bool) -> None:
    """Write the tokens of customers `ids` (with these e-mails and phones), in the caller's
    transaction; ``replace`` deletes their old tokens first. A few statements for any
    number of customers, no query per row."""
    from valuecrm.customers.models import CustomerSearchToken

    if replace:
        for start in range(0, len(ids), 900):
            CustomerSearchToken.objects.filter(customer_id__in=ids[start:start + 900]).delete()
    customer_ids, tokens = token_rows(ids, emails, phones)
    if not tokens:
        return
    table = connection.ops.quote_name(CustomerSearchToken._meta.db_table)
    step = 5000
    with connection.cursor() as cursor:
        for start in range(0, len(tokens), step):
            chunk_ids, chunk_tokens = customer_ids[start:start + step], tokens[start:start + step]
            marks = ", ".join(["(%s, %s)"] * len(chunk_ids))
            params = [v for pair in zip(chunk_ids, chunk_tokens, strict=True) for v in pair]
            cursor.execute(f"INSERT INTO {table} (customer_id, token) VALUES {marks}", params)
