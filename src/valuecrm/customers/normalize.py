"""Normalising contact data so that search and de-duplication compare like with like.

Chinese keyboards often produce full-width characters (＠, １３８…), users paste
addresses with stray spaces and capitals, and phone numbers arrive in every local
format. Everything is stored in one canonical form: e-mail lower-case and trimmed,
phones in E.164 (+8613800138000).
"""

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
