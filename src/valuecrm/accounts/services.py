"""Writes for users, teams and API tokens."""

from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.models import ApiToken, Team, User
from valuecrm.accounts.roles import Role
from valuecrm.common import events
from valuecrm.common.errors import ValidationFailed


def password_check(password: str, user: User) -> None:
    """Django's password validators (settings.AUTH_PASSWORD_VALIDATORS), as a 422 naming
    `password`: the same rules for the sign-up form, the admin, the CLI and resets."""
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        messages = list(exc.messages)
        raise ValidationFailed(" ".join(messages), errors={"password": messages}) from exc


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str = Role.SALES_REP, team: Team | None = None,
    email: str = "", first_name: str = "", last_name: str = "", is_superuser: bool = False,
) -> User:
    user = User(
        username=username, role=role, team=team, email=email,
        first_name=first_name, last_name=last_name,
        is_superuser=is_superuser, is_staff=is_superuser,
    )
    password_check(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    events.emit(events.ConfigChanged(kind="user", object_id=str(user.pk), action="created"), actor=None)
    return user


def admin_ensure(*, username: str, password: str) -> tuple[User, bool]:
    """Create the admin, or reset its password: re-running `make demo` is safe."""
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username)
    user.role = Role.ADMIN
    user.is_superuser = user.is_staff = True
    password_check(password, user)
    user.set_password(password)
    user.save()
    events.emit(events.ConfigChanged(kind="user", object_id=str(user.pk), action="created" if created else "updated"), actor=None)
    return user, created


def api_token_create(*, user: User, name: str = "", expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Returns the token row and the raw token, which is never stored.

    `expires_at` (optional) must be in the future; without it the token lives until revoked.
    """
    if expires_at is not None and expires_at <= timezone.now():
        message = _("The expiry date must be in the future.")
        raise ValidationFailed(message, errors={"expires_at": [message]})
    raw = ApiToken.new_raw_token()
    token = ApiToken.objects.create(
        user=user, name=name, digest=ApiToken.digest_of(raw), hint=raw[:10], expires_at=expires_at,
    )
    events.emit(events.ConfigChanged(kind="api_token", object_id=str(token.pk), action="created"), actor=user)
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        events.emit(events.ConfigChanged(kind="api_token", object_id=str(token.pk), action="revoked"), actor=token.user)


def user_preferences_update(*, user: User, language: str | None = None, theme: str | None = None):
    fields = []
    if language is not None:
        user.language = language
        fields.append("language")
    if theme is not None:
        user.theme = theme
        fields.append("theme")
    if fields:
        user.save(update_fields=fields)
    return user
