"""Change history of one customer: who changed what, when, from what to what.

django-simple-history keeps a full copy of the row per save; the entries here
are the differences between consecutive copies of the same record, for the
customer itself and for its orders and interactions. Each source is one
bounded query; names behind foreign keys (owner, team, company) are resolved in
one query per referenced model, never per row.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.apps import apps
from django.db import models
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from valuecrm.common.encryption import BlindIndexField
from valuecrm.customers.extensions import registry
from valuecrm.customers.models import Customer, CustomFieldDefinition, Interaction

DEFAULT_LIMIT = 50

# Bookkeeping columns that change on every save or never mean anything to a user.
IGNORED_FIELDS = {"id", "created_at", "updated_at", "created_by"}

ACTIONS = {
    "+": gettext_lazy("created"),
    "~": gettext_lazy("changed"),
    "-": gettext_lazy("deleted"),
}


@dataclass(frozen=True)
class FieldChange:
    field: str  # the field's verbose name, translated
    before: str
    after: str


@dataclass
class HistoryEntry:
    when: datetime
    who: str  # "" when the change came from a script or import without a user
    subject: str  # "Customer", "Order web:1001", "Interaction: Call"
    action: str  # "+", "~" or "-"
    changes: list[FieldChange] = field(default_factory=list)
    # How the change came in ("through the API", "by import #12"); "" when unknown.
    via: str = ""
    # The raw reason code ("api", "import:12"), for the API.
    reason: str = ""

    @property
    def action_label(self) -> str:
        return str(ACTIONS[self.action])


def customer_history(*, customer: Customer, limit: int = DEFAULT_LIMIT) -> list[HistoryEntry]:
    """The newest `limit` changes of the customer, its orders and its interactions.

    The caller has already checked that the user may see `customer`.
    """
    # One extra row per source lets the oldest shown change be diffed against its predecessor.
    sources = [
        (Customer, Customer.history.filter(id=customer.pk)),
        *((source.model, source.rows(customer)) for source in registry.history_sources),
        (Interaction, Interaction.history.filter(customer_id=customer.pk)),
    ]
    rows_by_model = []
    for model, qs in sources:
        rows = list(qs.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1])
        rows_by_model.append((model, rows))

    names = _foreign_key_names(rows_by_model)
    custom_labels = _CustomFieldLabels()
    entries: list[HistoryEntry] = []
    for model, rows in rows_by_model:
        entries += _entries_for(model, rows, names, custom_labels)
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries[:limit]


def _tracked_fields(model) -> list[models.Field]:
    return [
        f for f in model._meta.concrete_fields
        if f.name not in IGNORED_FIELDS and not f.name.startswith("history_")
        and not isinstance(f, BlindIndexField)  # keyed hashes, shown as their source field
    ]


def _entries_for(model, rows, names, custom_labels) -> list[HistoryEntry]:
    fields = _tracked_fields(model)
    # Oldest first per record, so each copy is compared with the one just before it.
    by_record: dict[int, list] = {}
    for row in reversed(rows):
        by_record.setdefault(row.id, []).append(row)
    entries = []
    for versions in by_record.values():
        for index, row in enumerate(versions):
            previous = versions[index - 1] if index else None
            if row.history_type == "~" and previous is None:
                continue  # its predecessor is beyond the window; a diff would be a guess
            reason = row.history_change_reason or ""
            entry = HistoryEntry(
                when=row.history_date,
                who=_user_label(row.history_user),
                subject=_subject(model, row),
                action=row.history_type,
                via=via_label(reason),
                reason=reason,
            )
            if row.history_type == "~":
                entry.changes = _diff(fields, previous, row, names, custom_labels)
                # A merge or its undo is worth a line even when no field changed.
                if not entry.changes and not reason.startswith("merge"):
                    continue  # a save that changed nothing the user can see
            entries.append(entry)
    return entries


def _diff(fields, before_row, after_row, names, custom_labels) -> list[FieldChange]:
    changes = []
    for f in fields:
        before = getattr(before_row, f.attname)
        after = getattr(after_row, f.attname)
        if before == after:
            continue
        if f.name == "custom_fields":
            changes += _custom_fields_diff(before or {}, after or {}, custom_labels)
            continue
        changes.append(FieldChange(
            field=str(f.verbose_name),
            before=_display(f, before, names),
            after=_display(f, after, names),
        ))
    return changes


def _custom_fields_diff(before: dict, after: dict, custom_labels) -> list[FieldChange]:
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes.append(FieldChange(
                field=custom_labels.get(key, key),
                before=_plain(before.get(key)),
                after=_plain(after.get(key)),
            ))
    return changes


def _display(f: models.Field, value, names) -> str:
    if value is None or value == "":
        return "—"
    if f.is_relation:
        return names.get((f.related_model, value), f"#{value}")
    if f.choices:
        return str(dict(f.flatchoices).get(value, value))
    return _plain(value)


def _plain(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, Decimal):
        return formats.number_format(value, 2)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _foreign_key_names(rows_by_model) -> dict:
    """{(related model, pk): label} for every FK value that appears in the rows."""
    wanted: dict[type, set] = {}
    for model, rows in rows_by_model:
        for f in _tracked_fields(model):
            if not f.is_relation:
                continue
            ids = {getattr(r, f.attname) for r in rows} - {None}
            if ids:
                wanted.setdefault(f.related_model, set()).update(ids)
    names = {}
    user_model = apps.get_model("accounts", "User")
    for related, ids in wanted.items():
        for obj in related._default_manager.filter(pk__in=ids):
            names[(related, obj.pk)] = _user_label(obj) if related is user_model else str(obj)
    return names


class _CustomFieldLabels:
    """key → label in the active language; queried only if a custom field changed."""

    def __init__(self):
        self._labels = None

    def get(self, key: str, default: str) -> str:
        if self._labels is None:
            chinese = (get_language() or "").startswith("zh")
            self._labels = {
                d.key: (d.label_zh if chinese and d.label_zh else d.label)
                for d in CustomFieldDefinition.objects.only("key", "label", "label_zh")
            }
        return self._labels.get(key, default)


def _user_label(user) -> str:
    if user is None:
        return ""
    return user.display_name


_ORIGINS = {
    "web": gettext_lazy("on the web"),
    "api": gettext_lazy("through the API"),
    "cli": gettext_lazy("from the command line"),
    "import": gettext_lazy("by an import"),
    "automation": gettext_lazy("by an automation rule"),
    "worker": gettext_lazy("by a background job"),
}
_WITH_ID = {
    "import": gettext_lazy("by import #%(id)s"),
    "import-undo": gettext_lazy("undo of import #%(id)s"),
    "merge": gettext_lazy("merged with #%(id)s"),
    "merge-undo": gettext_lazy("undo of the merge with #%(id)s"),
    "automation": gettext_lazy("by automation rule #%(id)s"),
}


def via_label(reason: str) -> str:
    """How a change came in, from its history reason (common/history.py)."""
    kind, _sep, ident = reason.partition(":")
    if ident and kind in _WITH_ID:
        return str(_WITH_ID[kind]) % {"id": ident}
    return str(_ORIGINS.get(kind, ""))


def _subject(model, row) -> str:
    if model is Customer:
        return _("Customer")
    source = next((s for s in registry.history_sources if s.model is model), None)
    if source is not None:
        return source.subject(row)
    kind = dict(model._meta.get_field("kind").flatchoices).get(row.kind, row.kind)
    return _("Interaction: %(kind)s") % {"kind": kind}
