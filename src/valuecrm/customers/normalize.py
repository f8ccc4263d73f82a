"""Normalising contact data so that search and de-duplication compare like with like.

Chinese keyboards often produce full-width characters (＠, １３８…), users paste
addresses with stray spaces and capitals, and phone numbers arrive in every local
format. Everything is stored in one canonical form: e-mail lower-case and trimmed,
phones in E.164 (+8613800138000).
"""

import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

# U+FF01..U+FF5E are the full-width forms of ASCII U+0021..U+007E, at a fixed offset.
_FULL_WIDTH_OFFSET = 0xFEE0
_HALF_WIDTH_TABLE = {code: code - _FULL_WIDTH_OFFSET for code in range(0xFF01, 0xFF5F)}
_HALF_WIDTH_TABLE[0x3000] = 0x20  # ideographic space
_HALF_WIDTH_TABLE.update({ord("。"): ord("."), ord("－"): ord("-")})


def half_width(text: str) -> str:
    """Full-width ASCII forms (and the ideographic space) → their ASCII equivalents."""
    return text.translate(_HALF_WIDTH_TABLE)


def normalize_email(value: str | None) -> str:
    """'  Li.Lei＠Example.COM ' → 'li.lei@example.com'; '' stays ''.

    Raises django ValidationError when the result is not an e-mail address.
    """
    if value is None:
        return ""
    email = half_width(str(value)).strip().lower()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(_("Enter a valid email address.")) from None
    return email


def normalize_phone(value: str | None, region: str | None = None) -> str:
    """A phone number in E.164, read in `region` (default VALUECRM_PHONE_REGION) when it
    has no country code: '138 0013 8000' → '+8613800138000'; '' stays ''.

    Raises django ValidationError when it is not a valid number.
    """
    if value is None:
        return ""
    raw = half_width(str(value)).strip()
    if not raw:
        return ""
    region = (region or settings.VALUECRM_PHONE_REGION or "").upper() or None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("Enter a valid phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid phone number.")) from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_search_prefixes(text: str, region: str | None = None) -> list[str]:
    """The E.164 prefixes typed phone digits can be the start of — the one place that turns
    a phone search into keys (a future blind index replaces this function, not its callers).

    '1519960' → ['+861519960'] (national digits in the default region); '021 6123' →
    ['+86216123'] (trunk 0 dropped); '+852 9123' or '00852 9123' → ['+8529123'];
    '86 151 9960' → ['+86861519960', '+861519960'] (the country code typed without '+').
    Stored phones are E.164, so each prefix is a range on the indexed phone column.
    """
    raw = half_width(text or "").strip()
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return []
    if raw.startswith("+") or digits.startswith("00"):
        return ["+" + digits.removeprefix("00")]
    region = (region or settings.VALUECRM_PHONE_REGION or "CN").upper()
    code = str(phonenumbers.country_code_for_region(region) or "")
    national = digits.lstrip("0") or digits
    prefixes = [f"+{code}{national}"]
    if code and digits.startswith(code) and len(digits) > len(code) + 3:
        prefixes.append("+" + digits)
    return prefixes


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest digit string above every string starting with ``prefix`` (None if none):
    '+861519960' → '+861519961', '+86159' → '+8616'. Digit strings sort alike in every
    collation, so ``prefix <= value < bound`` is an index range on SQLite and PostgreSQL."""
    head = prefix.rstrip("9")
    if not head or not head[-1].isdigit():
        return None
    return head[:-1] + str(int(head[-1]) + 1)


def normalize_email_quiet(value: str | None) -> str:
    """normalize_email, or the trimmed lower-case text when it is not an address."""
    try:
        return normalize_email(value)
    except ValidationError:
        return half_width(str(value or "")).strip().lower()


def normalize_phone_quiet(value: str | None) -> str:
    """normalize_phone, or the trimmed text when it is not a valid number."""
    try:
        return normalize_phone(value)
    except ValidationError:
        return half_width(str(value or "")).strip()
