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

from valuecrm.accounts.models import person_name
from valuecrm.customers.extensions import registry
from valuecrm.customers.models import AcquisitionChannel, CustomerKind


def _person(row: dict) -> str:
    return person_name(row["owner__first_name"], row["owner__last_name"], row["owner__username"])


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _choice_text(choices):
    labels = dict(choices)  # lazy labels: translated when the cell is written

    def text(value) -> str:
        return str(labels.get(value, value)) if value else ""

    return text


@dataclass(frozen=True)
class Column:
    """``fields`` are the values() the CSV export fetches; ``text`` turns that row
    (a dict, plus "tags": [names]) into the cell. Rows are dicts rather than model
    instances because an export of 100k customers spends most of its time building
    model objects otherwise."""

    key: str
    label: str
    fields: tuple[str, ...]
    text: Callable[[dict], str]
    sort: str | None = None  # the list's sort key (customers.selectors.SORT_KEYS)
    default: bool = True  # shown until the user chooses otherwise
    required: bool = False  # cannot be hidden (the name links to the record)


_kind_text = _choice_text(CustomerKind.choices)
_channel_text = _choice_text(AcquisitionChannel.choices)

OWN_COLUMNS: tuple[Column, ...] = (
    Column("name", _("Name"), ("name",), lambda r: r["name"], sort="name", required=True),
    Column("kind", _("Kind"), ("kind",), lambda r: _kind_text(r["kind"]), default=False),
    Column("company", _("Company"), ("company__name",), lambda r: r["company__name"] or ""),
    Column("email", _("Email"), ("email",), lambda r: r["email"]),
    Column("phone", _("Phone"), ("phone",), lambda r: r["phone"]),
    Column("owner", _("Owner"), ("owner__username", "owner__first_name", "owner__last_name"), _person),
    Column("team", _("Team"), ("team__name",), lambda r: r["team__name"] or "", default=False),
    Column("city", _("City"), ("city",), lambda r: r["city"]),
    Column("region", _("Region"), ("region",), lambda r: r["region"], default=False),
    Column("channel", _("Acquisition channel"), ("acquisition_channel",),
           lambda r: _channel_text(r["acquisition_channel"]), default=False),
    Column("tags", _("Tags"), (), lambda r: ", ".join(r["tags"]), default=False),
    Column("created", _("Created"), ("created_at",), lambda r: _local(r["created_at"]), sort="created",
           default=False),
)


def all_columns() -> tuple[Column, ...]:
    """Our columns, then those other apps registered (customer value: CLV, churn risk, …)."""
    return (*OWN_COLUMNS, *(Column(c.key, c.label, c.fields, c.text, sort=c.sort, default=c.default)
                            for c in registry.columns))


def column_by_key() -> dict[str, Column]:
    return {column.key: column for column in all_columns()}


def default_columns() -> tuple[str, ...]:
    return tuple(column.key for column in all_columns() if column.default)


def clean_columns(keys: Iterable[str] | None) -> list[str]:
    """Known keys in the canonical order, always with the required ones; defaults if empty."""
    columns = all_columns()
    chosen = {key for key in (keys or []) if key in {c.key for c in columns}}
    if not chosen:
        return list(default_columns())
    return [c.key for c in columns if c.key in chosen or c.required]
