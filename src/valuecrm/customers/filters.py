"""Customer-list filters, defined once: label, input type, parsing and the Q they become.

The list page, the export, saved views and the API all take the same flat
``{key: "raw string"}`` dict (a query string), so a filter chip, a saved view and a
``?owner=12&tag=vip`` URL mean exactly the same thing everywhere.

Custom fields take part as ``cf_<key>`` using the admin's CustomFieldDefinition.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.datetimes import parse_bounded_date
from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import (
    AcquisitionChannel,
    Customer,
    CustomerKind,
    CustomFieldDefinition,
    CustomFieldType,
)

CUSTOM_FIELD_PREFIX = "cf_"
NONE_VALUE = "none"  # owner=none / team=none: the unassigned ones
ME_VALUE = "me"  # owner=me: the signed-in user's own book


@dataclass(frozen=True)
class FilterSpec:
    """One filter.

    ``parse`` turns the raw string into a value (raising ValueError with a user-facing
    message); ``to_q`` turns that value into a Q over Customer; ``display`` renders
    the value for a chip. ``widget`` tells the filter panel which input to draw.
    """

    key: str
    label: str
    widget: str  # select | text | date | user | team | tag | boolean | number
    parse: Callable[[str, object], object]
    to_q: Callable[[object], Q]
    display: Callable[[object], str] = str
    # (user) → [(raw value, label)]; the user narrows owner/team options to their scope
    choices: Callable[[object], list[tuple[str, str]]] | None = field(default=None, compare=False)


# ---------------------------------------------------------------- parsers

def _choice_parser(choices_enum):
    valid = {value for value, _label in choices_enum.choices}

    def parse(raw: str, user) -> str:
        if raw not in valid:
            raise ValueError(_("Not a valid choice."))
        return raw

    return parse


def _text(raw: str, user) -> str:
    text = raw.strip()
    if not text:
        raise ValueError(_("Enter a value."))
    if len(text) > 100:
        raise ValueError(_("Enter at most 100 characters."))
    return text


def _date(raw: str, user) -> datetime.date:
    # The shared bounds: year 1 or 9999 would overflow when local midnight is
    # converted to UTC for the query.
    return parse_bounded_date(raw)


def _boolean(raw: str, user) -> bool:
    text = raw.strip().lower()
    if text in {"yes", "true", "1"}:
        return True
    if text in {"no", "false", "0"}:
        return False
    raise ValueError(_("Enter yes or no."))


def _pk_or_none(raw: str) -> int | None:
    text = raw.strip().lower()
    if text == NONE_VALUE:
        return None
    if not text.isdigit():
        raise ValueError(_("Choose a valid option."))
    return int(text)


def _owner(raw: str, user) -> int | None:
    if raw.strip().lower() == ME_VALUE:
        if user is None or not getattr(user, "pk", None):
            raise ValueError(_("Choose a valid option."))
        return user.pk
    return _pk_or_none(raw)


def _team(raw: str, user) -> int | None:
    return _pk_or_none(raw)


# ---------------------------------------------------------------- Q builders

def _start_of_day(day: datetime.date) -> datetime.datetime:
    # "Created on or after 3 May" means local midnight, not UTC midnight.
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _tag_q(name: str) -> Q:
    # A subquery instead of a join: several tag filters, or a tag filter with a
    # sort, never duplicate rows.
    through = Customer.tags.through
    return Q(pk__in=through.objects.filter(tag__name=name).values("customer_id"))


def _user_label(pk) -> str:
    from valuecrm.accounts.models import User

    if pk is None:
        return _("Unassigned")
    user = User.objects.filter(pk=pk).only("username", "first_name", "last_name").first()
    return user.display_name if user else f"#{pk}"


def _team_label(pk) -> str:
    from valuecrm.accounts.models import Team

    if pk is None:
        return _("No team")
    team = Team.objects.filter(pk=pk).first()
    return team.name if team else f"#{pk}"


def _choice_label(choices_enum):
    labels = dict(choices_enum.choices)
    return lambda value: str(labels.get(value, value))


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def _owner_choices(user) -> list[tuple[str, str]]:
    from valuecrm.accounts.models import User
    from valuecrm.accounts.roles import Scope

    # Offer only owners whose customers the user could see at all.
    users = User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")
    scope = getattr(user, "scope", Scope.OWN)
    if scope == Scope.TEAM and user.team_id:
        users = users.filter(team_id=user.team_id)
    elif scope != Scope.ALL:
        users = users.filter(pk=getattr(user, "pk", None))
    options = [(ME_VALUE, _("Me"))] if getattr(user, "pk", None) else []
    if scope == Scope.ALL:
        options.append((NONE_VALUE, _("Unassigned")))
    return options + [(str(u.pk), u.display_name) for u in users]


def _team_choices(user) -> list[tuple[str, str]]:
    from valuecrm.accounts.models import Team
    from valuecrm.accounts.roles import Scope

    if getattr(user, "scope", Scope.OWN) == Scope.ALL:
        return [(NONE_VALUE, _("No team"))] + [(str(t.pk), t.name) for t in Team.objects.all()]
    team = getattr(user, "team", None)
    return [(str(team.pk), team.name)] if team else []


def _tag_choices(user) -> list[tuple[str, str]]:
    from valuecrm.customers.models import Tag

    return [(t.name, t.name) for t in Tag.objects.all()]


def _yes_no_choices(user) -> list[tuple[str, str]]:
    return [("yes", _("Yes")), ("no", _("No"))]


def _enum_choices(choices_enum):
    return lambda user: [(v, str(label)) for v, label in choices_enum.choices if v]


STATIC_FILTERS: tuple[FilterSpec, ...] = (
    FilterSpec("kind", gettext_lazy("Kind"), "select", _choice_parser(CustomerKind),
               lambda v: Q(kind=v), _choice_label(CustomerKind), _enum_choices(CustomerKind)),
    FilterSpec("owner", gettext_lazy("Owner"), "user", _owner,
               lambda v: Q(owner__isnull=True) if v is None else Q(owner_id=v),
               _user_label, _owner_choices),
    FilterSpec("team", gettext_lazy("Team"), "team", _team,
               lambda v: Q(team__isnull=True) if v is None else Q(team_id=v),
               _team_label, _team_choices),
    FilterSpec("tag", gettext_lazy("Tag"), "tag", _text, _tag_q, str, _tag_choices),
    FilterSpec("city", gettext_lazy("City"), "text", _text, lambda v: Q(city__iexact=v)),
    FilterSpec("region", gettext_lazy("Region"), "text", _text, lambda v: Q(region__iexact=v)),
    FilterSpec("channel", gettext_lazy("Acquisition channel"), "select",
               _choice_parser(AcquisitionChannel), lambda v: Q(acquisition_channel=v),
               _choice_label(AcquisitionChannel), _enum_choices(AcquisitionChannel)),
    FilterSpec("created_from", gettext_lazy("Created from"), "date", _date,
               lambda v: Q(created_at__gte=_start_of_day(v)), lambda v: v.isoformat()),
    FilterSpec("created_to", gettext_lazy("Created until"), "date", _date,
               lambda v: Q(created_at__lt=_start_of_day(v + datetime.timedelta(days=1))),
               lambda v: v.isoformat()),
)


def boolean_filter(key: str, label, to_q) -> FilterSpec:
    """A yes/no filter (for the apps that register filters: see customers.extensions)."""
    return FilterSpec(key, label, "boolean", _boolean, to_q, _yes_no, _yes_no_choices)


# Archived customers are left out of every list, search and export unless this filter
# is set: "yes" shows only the archived ones, "no" only the others (the default).
ARCHIVED_FILTER_KEY = "archived"


def _archived_q(value: bool) -> Q:
    return Q(archived_at__isnull=not value)


def archived_filter() -> FilterSpec:
    return boolean_filter(ARCHIVED_FILTER_KEY, gettext_lazy("Archived"), _archived_q)


def hide_archived_unless_asked(active: Iterable[ActiveFilter]) -> Q:
    if any(item.key == ARCHIVED_FILTER_KEY for item in active):
        return Q()
    return Q(archived_at__isnull=True)


# ---------------------------------------------------------------- custom fields

def _custom_field_spec(definition: CustomFieldDefinition, language: str = "") -> FilterSpec:
    from valuecrm.customers.custom_fields import choice_values, clean_value

    lookup = f"custom_fields__{definition.key}"

    def parse(raw: str, user):
        return clean_value(definition, raw)

    if definition.field_type == CustomFieldType.TEXT:
        def to_q(value):
            return Q(**{f"{lookup}__icontains": value})
    else:
        def to_q(value):
            return Q(**{lookup: value})

    display = _yes_no if definition.field_type == CustomFieldType.BOOLEAN else str
    widget = {
        CustomFieldType.TEXT: "text",
        CustomFieldType.NUMBER: "number",
        CustomFieldType.DATE: "date",
        CustomFieldType.BOOLEAN: "boolean",
        CustomFieldType.CHOICE: "select",
    }[definition.field_type]
    choices = None
    if definition.field_type == CustomFieldType.CHOICE:
        values = choice_values(definition)
        choices = lambda user: [(v, v) for v in values]  # noqa: E731
    elif definition.field_type == CustomFieldType.BOOLEAN:
        choices = _yes_no_choices
    label = definition.label_zh if language.startswith("zh") and definition.label_zh else definition.label
    return FilterSpec(CUSTOM_FIELD_PREFIX + definition.key, label, widget, parse, to_q, display, choices)


def filter_specs(language: str = "") -> dict[str, FilterSpec]:
    """All filters by key: the fixed ones, then one per custom field definition."""
    from valuecrm.customers.extensions import registry

    registered = [spec for provider in registry.filter_providers for spec in provider()]
    specs = {spec.key: spec for spec in (*STATIC_FILTERS, archived_filter(), *registered)}
    for definition in CustomFieldDefinition.objects.all():
        spec = _custom_field_spec(definition, language)
        specs[spec.key] = spec
    return specs


# ---------------------------------------------------------------- parsing a whole set

@dataclass(frozen=True)
class ActiveFilter:
    spec: FilterSpec
    raw: str
    value: object

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def display(self) -> str:
        return self.spec.display(self.value)


def parse_filters(
    raw: Mapping[str, object] | None, *, user=None, specs: dict[str, FilterSpec] | None = None,
    ignore_unknown: bool = False,
) -> tuple[list[ActiveFilter], dict[str, list[str]]]:
    """Raw ``{key: value}`` → (valid filters, errors by key). Blank values are skipped.

    With ``ignore_unknown`` keys that are not filters (page parameters such as ``q``
    or ``sort``) are passed over; otherwise they are errors.
    """
    specs = filter_specs() if specs is None else specs
    active: list[ActiveFilter] = []
    errors: dict[str, list[str]] = {}
    for key, value in (raw or {}).items():
        spec = specs.get(key)
        if spec is None:
            if not ignore_unknown:
                errors[key] = [_("Unknown filter.")]
            continue
        if value is None:
            continue
        text = str(value)
        if not text.strip():
            continue
        try:
            active.append(ActiveFilter(spec, text, spec.parse(text, user)))
        except ValueError as exc:
            errors[key] = [str(exc)]
    return active, errors


def filters_q(active: Iterable[ActiveFilter]) -> Q:
    q = Q()
    for item in active:
        q &= item.spec.to_q(item.value)
    return q


def clean_filters(raw: Mapping[str, object] | None, *, user=None) -> list[ActiveFilter]:
    """Like parse_filters, but any bad key or value raises ValidationFailed naming it."""
    active, errors = parse_filters(raw, user=user)
    if errors:
        raise ValidationFailed(_("Invalid filter"), errors=errors)
    return active
