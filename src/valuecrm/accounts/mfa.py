"""Two-step sign-in with time-based one-time codes (django-otp) and recovery codes.

Who must use it: superusers and the roles in VALUECRM_MFA_REQUIRED_ROLES (default:
administrators); everyone else may turn it on for themselves. A user has at most one
authenticator app (a TOTP device) and one set of ten single-use recovery codes (a static
device), which are shown once, when they are made.
"""

from dataclasses import dataclass

import segno
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from valuecrm.accounts.models import User
from valuecrm.accounts.roles import Role
from valuecrm.common import events
from valuecrm.common.errors import ValidationFailed

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "authenticator"
RECOVERY_DEVICE_NAME = "recovery"


def mfa_required(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    required = settings.VALUECRM_MFA_REQUIRED_ROLES
    if user.is_superuser and Role.ADMIN in required:
        return True
    return user.role in required


def mfa_enabled(user) -> bool:
    return user_has_device(user, confirmed=True)


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    secret: str  # base32, for typing into an app by hand
    qr_svg: str  # inline <svg>, generated here (no image service, works offline)


def totp_enrolment_start(*, user: User) -> Enrolment:
    """The pending (unconfirmed) authenticator for `user`, created when there is none.

    Re-opening the page shows the same secret until it is confirmed, so a user who
    scanned it already is not silently given another.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return Enrolment(device=device, secret=_base32(device), qr_svg=qr_svg(device.config_url))


def totp_enrolment_confirm(*, user: User, code: str) -> list[str]:
    """Confirm the pending authenticator with a code from the app; return new recovery codes.

    Any earlier authenticator is replaced. Raises ValidationFailed naming `code`.
    """
    code = (code or "").replace(" ", "").strip()
    with transaction.atomic():
        device = (TOTPDevice.objects.select_for_update()
                  .filter(user=user, confirmed=False).order_by("-pk").first())
        if device is None:
            raise _invalid("code", _("Start again: there is no authenticator waiting to be confirmed."))
        # A wrong code must leave its throttling count behind, so it is not raised in here.
        accepted = code.isdigit() and device.verify_token(code)
        if accepted:
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _new_recovery_codes(user)
            events.emit(events.ConfigChanged(kind="mfa", object_id=str(user.pk), action="enabled"), actor=user)
    if not accepted:
        raise _invalid("code", _("That code is not right. Enter the 6 digits the app shows now."))
    return codes


def recovery_codes_regenerate(*, user: User) -> list[str]:
    if not mfa_enabled(user):
        raise _invalid("code", _("Turn on two-step sign-in first."))
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        events.emit(events.ConfigChanged(kind="mfa", object_id=str(user.pk), action="recovery_codes"), actor=user)
    return codes


def mfa_disable(*, user: User) -> None:
    """Remove the user's authenticator and recovery codes (refused when it is required)."""
    if mfa_required(user):
        raise _invalid("mfa", _("Your role requires two-step sign-in; it cannot be turned off."))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        events.emit(events.ConfigChanged(kind="mfa", object_id=str(user.pk), action="disabled"), actor=user)


def mfa_reset_for(*, actor: User, user: User) -> None:
    """An administrator removes a user's devices (lost phone); they enrol again at sign-in."""
    from valuecrm.accounts.capabilities import require

    require(actor, "admin.users")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        events.emit(events.ConfigChanged(kind="mfa", object_id=str(user.pk), action="reset"), actor=actor)


def verify_code(*, user: User, code: str):
    """The device (authenticator or recovery codes) that accepts `code`, or None.

    A recovery code works once. django-otp throttles each device after failures.
    """
    code = (code or "").replace(" ", "").strip().lower()
    if not code:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, TOTPDevice) and not code.isdigit():
                continue
            if device.verify_token(code):
                return device
    return None


def code_entry_throttled(user: User) -> bool:
    """After wrong codes django-otp makes each device wait (1 s, 2 s, 4 s, …)."""
    return any(not device.verify_is_allowed()[0] for device in devices_for_user(user, confirmed=True))


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def qr_svg(data: str) -> str:
    """An inline SVG QR code (segno), drawn in the text colour so it works in dark mode."""
    qr = segno.make(data, error="m")
    return qr.svg_inline(scale=5, border=2, dark="#111", light="#fff", omitsize=False)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={field: [message]})


def _base32(device: TOTPDevice) -> str:
    from base64 import b32encode

    raw = b32encode(device.bin_key).decode()
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes
