import hashlib
import re
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from valuecrm.accounts.roles import ROLE_SCOPE, Role, Scope

# Han ideographs (with extension A and compatibility forms), kana and Hangul: names
# written in these scripts put the family name first, with no space (刘洋, not 洋 刘).
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def person_name(first_name: str, last_name: str, username: str = "") -> str:
    """How a user's name is shown: 刘洋 for a CJK name, "Ada Lovelace" otherwise,
    the username when both parts are empty."""
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if _CJK.search(first) or _CJK.search(last):
        full = f"{last}{first}"
    else:
        full = f"{first} {last}".strip()
    return full or username or ""


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")

    def __str__(self):
        return self.name


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALES_REP)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members",
        verbose_name=_("team"),
    )
    # Empty means "follow the browser's Accept-Language".
    language = models.CharField(_("language"), max_length=10, blank=True, default="")
    theme = models.CharField(_("theme"), max_length=10, blank=True, default="light")

    def get_full_name(self):
        # Django's "first last" reads backwards for Chinese names; admin pages use this.
        return person_name(self.first_name, self.last_name)

    @property
    def display_name(self) -> str:
        """The name to show anywhere in the UI (see person_name)."""
        return person_name(self.first_name, self.last_name, self.username)

    @property
    def scope(self) -> str:
        if self.is_superuser:
            return Scope.ALL
        return ROLE_SCOPE.get(self.role, Scope.OWN)

    def can(self, capability: str) -> bool:
        """Whether the role grants `capability` (accounts.capabilities holds the table)."""
        from valuecrm.accounts.capabilities import has_capability

        return has_capability(self, capability)

    @property
    def capabilities(self) -> frozenset:
        """For templates: {% if "deals.change" in user.capabilities %}."""
        from valuecrm.accounts.capabilities import capabilities_of

        return frozenset(str(c) for c in capabilities_of(self))

    # The two questions most pages ask, kept as names templates can use.
    @property
    def can_write(self) -> bool:
        return self.can("customers.change")

    @property
    def can_manage(self) -> bool:
        return self.can("customers.reassign")


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now=None):
        """Not revoked and not expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A per-user API token. Only a SHA-256 digest is stored; the token is shown once."""

    PREFIX = "vcrm_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)  # first characters, to recognise it in a list
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Empty: valid until revoked.
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def digest_of(raw: str) -> str:
        # Tokens are 256-bit random, so a fast hash is enough (no dictionary to attack).
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def new_raw_token(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)
