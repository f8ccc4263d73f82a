"""Writes an administrator makes on other people's accounts: users, their role and
team, their password, and teams with their members.

Every function takes the acting user first (keyword-only), checks `admin.users`
before anything else, validates everything before writing, and emits a
`config.changed` event with the change. An administrator cannot lock themselves
out: they may not deactivate their own account or take the administrator role
away from themselves, so an installation always keeps someone who can manage it.
"""

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.accounts.models import Team, User
from valuecrm.accounts.roles import Role
from valuecrm.accounts.services import password_check
from valuecrm.common import events
from valuecrm.common.errors import NotFound, ValidationFailed

USER_FIELDS = ("username", "email", "first_name", "last_name", "role", "team_id", "is_active", "language")
TEAM_NAME_MAX = Team._meta.get_field("name").max_length


def _require_admin(actor) -> None:
    require(actor, Capability.ADMIN_USERS, _("Only administrators can manage users and teams."))


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


def _text(data: dict, key: str, errors: dict) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(_("Enter text."))
        return ""
    if "\x00" in value:
        errors.setdefault(key, []).append(_("Null characters are not allowed."))
    return value.strip()


def _emit(kind: str, pk: int, action: str, actor) -> None:
    events.emit(events.ConfigChanged(kind=kind, object_id=str(pk), action=action), actor=actor)


def _apply_user_data(user: User, data: dict, errors: dict, *, actor) -> None:
    for key in data:
        if key not in USER_FIELDS:
            errors.setdefault(key, []).append(_("Unknown field."))
    for key in ("username", "first_name", "last_name", "language"):
        if key in data:
            setattr(user, key, _text(data, key, errors))
    if user.language and user.language not in {code for code, _name in settings.LANGUAGES}:
        errors.setdefault("language", []).append(_("Not a valid choice."))
    if "email" in data:
        email = _text(data, "email", errors).lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors.setdefault("email", []).append(_("Enter a valid e-mail address."))
        user.email = email
    if "role" in data:
        if data["role"] not in Role.values:
            errors.setdefault("role", []).append(_("Not a valid choice."))
        else:
            user.role = data["role"]
    if "team_id" in data:
        team_id = data["team_id"]
        if team_id in (None, ""):
            user.team = None
        else:
            try:
                user.team = Team.objects.get(pk=int(team_id))
            except (Team.DoesNotExist, TypeError, ValueError, OverflowError):
                errors.setdefault("team_id", []).append(_("Unknown team."))
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            errors.setdefault("is_active", []).append(_("Enter true or false."))
        else:
            user.is_active = data["is_active"]
    if user.pk is not None and user.pk == actor.pk:
        # An administrator cannot lock themselves out (see the module docstring).
        if not user.is_active:
            errors.setdefault("is_active", []).append(_("You cannot deactivate your own account."))
        if user.role != Role.ADMIN and not user.is_superuser:
            errors.setdefault("role", []).append(_("You cannot take the administrator role away from yourself."))
    if user.username and "username" not in errors:
        clash = User.objects.filter(username__iexact=user.username)
        if user.pk:
            clash = clash.exclude(pk=user.pk)
        if clash.exists():
            errors.setdefault("username", []).append(_("A user with this username already exists."))
    try:
        user.full_clean(exclude=["password", *errors], validate_unique=False)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault({"team": "team_id"}.get(key, key), []).extend(messages)


@transaction.atomic
def user_admin_create(*, actor, data: dict, password: str = "") -> User:
    """A new account. Without a password it cannot sign in until the person sets one
    through a reset link (see user_password_reset_send)."""
    _require_admin(actor)
    data = dict(data)
    errors: dict[str, list[str]] = {}
    user = User(role=Role.SALES_REP)
    if not isinstance(data.get("username"), str) or not data["username"].strip():
        errors.setdefault("username", []).append(_("This field is required."))
    _apply_user_data(user, data, errors, actor=actor)
    if password:
        try:
            password_check(password, user)
        except ValidationFailed as exc:
            errors.setdefault("password", []).extend(exc.errors["password"])
    _raise_if(errors)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    _emit("user", user.pk, "created", actor)
    return user


@transaction.atomic
def user_admin_update(*, actor, user: User, data: dict) -> User:
    _require_admin(actor)
    fresh = User.objects.select_for_update().filter(pk=user.pk).first()
    if fresh is None:
        raise NotFound(_("User not found."))
    errors: dict[str, list[str]] = {}
    was_active = fresh.is_active
    _apply_user_data(fresh, dict(data), errors, actor=actor)
    _raise_if(errors)
    fresh.save()
    action = "updated"
    if was_active and not fresh.is_active:
        action = "deactivated"
    elif not was_active and fresh.is_active:
        action = "activated"
    _emit("user", fresh.pk, action, actor)
    return fresh


@transaction.atomic
def user_password_set(*, actor, user: User, password: str) -> User:
    """An administrator gives someone a new password (e.g. they lost access to their mail)."""
    _require_admin(actor)
    fresh = User.objects.select_for_update().filter(pk=user.pk).first()
    if fresh is None:
        raise NotFound(_("User not found."))
    if not isinstance(password, str) or not password:
        raise ValidationFailed(_("Validation failed"), errors={"password": [_("This field is required.")]})
    password_check(password, fresh)
    fresh.set_password(password)
    fresh.save(update_fields=["password"])
    _emit("user", fresh.pk, "password_set", actor)
    return fresh


def user_password_reset_send(*, actor, user: User, domain: str, use_https: bool) -> None:
    """Send the person the same reset mail as "Forgot your password?" on the sign-in page."""
    _require_admin(actor)
    if not user.email:
        raise ValidationFailed(_("Validation failed"), errors={
            "email": [_("This user has no e-mail address. Add one, or set a password instead.")]})
    if not user.is_active:
        raise ValidationFailed(_("Validation failed"), errors={
            "is_active": [_("Activate the account before sending a reset link.")]})
    form = PasswordResetForm({"email": user.email})
    form.is_valid()
    # PasswordResetForm mails every active user with a usable password at that address;
    # an account created without a password must get the link too, so ask for this one.
    form.get_users = lambda email: [user]
    form.save(
        domain_override=domain, use_https=use_https,
        email_template_name="accounts/email/password_reset.txt",
        subject_template_name="accounts/email/password_reset_subject.txt",
    )
    with transaction.atomic():
        _emit("user", user.pk, "password_reset_sent", actor)


# ---------------------------------------------------------------- teams

def _team_name(name, errors: dict, *, team: Team | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        errors.setdefault("name", []).append(_("This field is required."))
        return ""
    name = name.strip()
    if "\x00" in name:
        errors.setdefault("name", []).append(_("Null characters are not allowed."))
    elif len(name) > TEAM_NAME_MAX:
        errors.setdefault("name", []).append(
            _("Enter at most %(n)d characters.") % {"n": TEAM_NAME_MAX})
    else:
        clash = Team.objects.filter(name__iexact=name)
        if team is not None:
            clash = clash.exclude(pk=team.pk)
        if clash.exists():
            errors.setdefault("name", []).append(_("A team with this name already exists."))
    return name


@transaction.atomic
def team_create(*, actor, name: str) -> Team:
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    name = _team_name(name, errors)
    _raise_if(errors)
    team = Team.objects.create(name=name)
    _emit("team", team.pk, "created", actor)
    return team


@transaction.atomic
def team_rename(*, actor, team: Team, name: str) -> Team:
    _require_admin(actor)
    fresh = Team.objects.select_for_update().filter(pk=team.pk).first()
    if fresh is None:
        raise NotFound(_("Team not found."))
    errors: dict[str, list[str]] = {}
    name = _team_name(name, errors, team=fresh)
    _raise_if(errors)
    if fresh.name != name:
        fresh.name = name
        fresh.save(update_fields=["name"])
        _emit("team", fresh.pk, "renamed", actor)
    return fresh


@transaction.atomic
def team_members_set(*, actor, team: Team, user_ids) -> Team:
    """Make exactly these users the team's members. A user belongs to one team, so
    adding someone moves them from their previous team; people taken off are left
    without a team (and with it lose team visibility)."""
    _require_admin(actor)
    fresh = Team.objects.select_for_update().filter(pk=team.pk).first()
    if fresh is None:
        raise NotFound(_("Team not found."))
    try:
        wanted = {int(pk) for pk in user_ids}
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed(_("Validation failed"), errors={
            "members": [_("Choose users from the list.")]}) from None
    found = set(User.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if found != wanted:
        raise ValidationFailed(_("Validation failed"), errors={"members": [_("Unknown user.")]})
    User.objects.filter(team=fresh).exclude(pk__in=wanted).update(team=None)
    User.objects.filter(pk__in=wanted).update(team=fresh)
    _emit("team", fresh.pk, "members_changed", actor)
    return fresh
