"""Columns of the customer list and of its CSV export, defined once.

The list template draws the cells (they carry links, badges and avatars); the CSV
export uses ``text`` for the same column, so the two never disagree on what a
column means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from valuecrm.customers.models import Customer


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    text: Callable[[Customer], str]
    sort: str | None = None  # the list's sort key (customers.selectors.SORT_KEYS)
    default: bool = True  # shown until the user chooses otherwise
    required: bool = False  # cannot be hidden (the name links to the record)


COLUMNS: tuple[Column, ...] = (
    Column("name", _("Name"), lambda c: c.name, sort="name", required=True),
    Column("kind", _("Kind"), lambda c: str(c.get_kind_display()), default=False),
    Column("company", _("Company"), lambda c: c.company.name if c.company else ""),
    Column("email", _("Email"), lambda c: c.email),
    Column("phone", _("Phone"), lambda c: c.phone),
    Column("owner", _("Owner"), lambda c: _person(c.owner)),
    Column("team", _("Team"), lambda c: c.team.name if c.team else "", default=False),
    Column("city", _("City"), lambda c: c.city),
    Column("region", _("Region"), lambda c: c.region, default=False),
    Column("channel", _("Acquisition channel"),
           lambda c: str(c.get_acquisition_channel_display()) if c.acquisition_channel else "",
           default=False),
    Column("tags", _("Tags"), lambda c: ", ".join(t.name for t in c.tags.all())),
    Column("created", _("Created"), lambda c: _local(c.created_at), sort="created"),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}
DEFAULT_COLUMNS = tuple(column.key for column in COLUMNS if column.default)


def clean_columns(keys: Iterable[str] | None) -> list[str]:
    """Known keys in the canonical order, always with the required ones; defaults if empty."""
    chosen = {key for key in (keys or []) if key in COLUMNS_BY_KEY}
    if not chosen:
        return list(DEFAULT_COLUMNS)
    return [c.key for c in COLUMNS if c.key in chosen or c.required]
