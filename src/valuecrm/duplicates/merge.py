"""Merging two customers into one, and undoing it exactly.

customer_merge moves every row that points at the merged-away customer — found
by walking the model registry, so tables added by later apps (tickets, deals,
points) move too — to the survivor, applies the field values the user chose,
and deletes the merged customer. Rows the survivor already has an equal of (the
same e-mail contact point, the same tag, a score for the same run) cannot move
without breaking a unique constraint; they are deleted and kept in the snapshot.

customer_merge_undo re-creates the merged customer with its original primary
key and every field as it was, moves the moved rows back, re-inserts the removed
ones and restores the survivor's fields and contact points. Undo is
last-in-first-out per survivor: a later merge into the same survivor must be
undone first, because its snapshot was taken on top of this one.

History rows (django-simple-history) are never rewritten: the merged customer's
change history stays under its id, and comes back with it on undo.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal

from django.apps import apps
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events, history
from valuecrm.common.encryption import (
    EncryptedJSONField,
    blind_index,
    encrypt_json_fields,
    encrypted_fields,
)
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.customers import search_index
from valuecrm.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomerSearchToken,
    CustomFieldDefinition,
)
from valuecrm.customers.search_tokens import refresh_tokens
from valuecrm.customers.services import CUSTOMER_FIELDS
from valuecrm.customers.visibility import can_see_customer
from valuecrm.duplicates.models import CustomerMerge

# The customer fields a user chooses between, in form order (FKs by attname): every
# field a customer write may set, so a new one is offered here without a second list.
MERGE_FIELDS = CUSTOMER_FIELDS
CUSTOM_PREFIX = "custom_fields."
SURVIVOR, MERGED = "survivor", "merged"


# ---------------------------------------------------------------- row snapshots

def _encode(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()  # keeps microseconds, unlike DjangoJSONEncoder
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _sealed_paths(model) -> tuple[str, ...]:
    """The snapshot paths of the fields `model` keeps encrypted: they stay encrypted in the
    snapshot too (row_restore reads them back through the fields' own to_python)."""
    return tuple(f"fields.{f.attname}" for f in encrypted_fields(model) if not isinstance(f, EncryptedJSONField))


def row_snapshot(obj: models.Model) -> dict:
    """Every concrete column of `obj` (many-to-many excluded), JSON-safe and lossless; the
    values of encrypted fields as tokens."""
    return encrypt_json_fields({
        "model": obj._meta.label,
        "fields": {f.attname: _encode(getattr(obj, f.attname)) for f in obj._meta.concrete_fields},
    }, _sealed_paths(type(obj)))


def row_restore(snapshot: dict) -> models.Model:
    """Write the row back as it was (same primary key, same timestamps, no signals' side effects)."""
    model = apps.get_model(snapshot["model"])
    values = {}
    for f in model._meta.concrete_fields:
        if f.attname in snapshot["fields"]:
            raw = snapshot["fields"][f.attname]
            values[f.attname] = raw if raw is None or isinstance(f, models.JSONField) else f.to_python(raw)
    obj = model(**values)
    # raw=True: auto_now fields keep the stored value and history is not written twice.
    obj.save_base(raw=True)
    return obj


# ---------------------------------------------------------------- relations

def _is_historical(model) -> bool:
    names = {f.name for f in model._meta.concrete_fields}
    return "history_id" in names and "history_type" in names


def _refresh_search_tokens(ids: list[int]) -> None:
    rows = list(Customer.objects.filter(pk__in=ids).values_list("pk", "email", "phone", "name"))
    refresh_tokens([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], replace=True)
    search_index.refresh([r[0] for r in rows], [r[3] for r in rows])


def customer_relations() -> list[tuple[type[models.Model], models.Field]]:
    """(model, field) for every concrete foreign key to Customer, outside this app and history."""
    relations = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.app_label == "duplicates" or _is_historical(model):
            continue
        if model is CustomerSearchToken:  # derived from the customer's own phone/e-mail: rebuilt
            continue
        for f in meta.local_concrete_fields:
            if (f.many_to_one or f.one_to_one) and f.remote_field.model is Customer:
                relations.append((model, f))
    return relations


def _unique_sets(model, field) -> list[list[str]]:
    """Attname sets that must stay unique and include `field`."""
    by_name = {f.name: f.attname for f in model._meta.concrete_fields}
    sets = []
    if field.unique or field.primary_key:
        sets.append([field.attname])
    for names in model._meta.unique_together:
        sets.append([by_name[n] for n in names])
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
            sets.append([by_name[n] for n in constraint.fields])
    return [s for s in sets if field.attname in s]


def _conflicting_pks(model, field, survivor_id: int, merged_id: int) -> set:
    manager = model._base_manager
    conflicting = set()
    for names in _unique_sets(model, field):
        others = [n for n in names if n != field.attname]
        if not others:
            if manager.filter(**{field.attname: survivor_id}).exists():
                conflicting |= set(manager.filter(**{field.attname: merged_id}).values_list("pk", flat=True))
            continue
        taken = set(manager.filter(**{field.attname: survivor_id}).values_list(*others))
        for row in manager.filter(**{field.attname: merged_id}).values_list("pk", *others):
            if tuple(row[1:]) in taken:
                conflicting.add(row[0])
    return conflicting


# ---------------------------------------------------------------- field choices

def custom_field_keys(*customers: Customer) -> list[str]:
    keys = list(CustomFieldDefinition.objects.values_list("key", flat=True))
    for customer in customers:
        keys += [k for k in (customer.custom_fields or {}) if k not in keys]
    return keys


def _value(customer: Customer, key: str):
    if key.startswith(CUSTOM_PREFIX):
        return (customer.custom_fields or {}).get(key[len(CUSTOM_PREFIX):])
    return getattr(customer, key)


def _blank(value) -> bool:
    return value is None or value == "" or value == {} or value == []


def merge_fields(survivor: Customer, merged: Customer) -> list[str]:
    return [*MERGE_FIELDS, *(CUSTOM_PREFIX + k for k in custom_field_keys(survivor, merged))]


def default_choices(survivor: Customer, merged: Customer) -> dict[str, str]:
    """The survivor's value wins unless it is blank and the merged one is not."""
    choices = {}
    for key in merge_fields(survivor, merged):
        a, b = _value(survivor, key), _value(merged, key)
        if a != b:
            choices[key] = MERGED if _blank(a) and not _blank(b) else SURVIVOR
    return choices


def _clean_choices(survivor: Customer, merged: Customer, field_choices) -> dict[str, str]:
    if field_choices is None:
        field_choices = {}
    if not isinstance(field_choices, dict):
        raise ValidationFailed(_("Validation failed"),
                               errors={"field_choices": [_("Expected an object of field: side.")]})
    allowed = set(merge_fields(survivor, merged))
    errors: dict[str, list[str]] = {}
    for key, side in field_choices.items():
        if key not in allowed:
            errors[f"field_choices.{key}"] = [_("Unknown field.")]
        elif side not in (SURVIVOR, MERGED):
            errors[f"field_choices.{key}"] = [_("Choose “survivor” or “merged”.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    choices = default_choices(survivor, merged)
    choices.update({k: v for k, v in field_choices.items() if _value(survivor, k) != _value(merged, k)})
    return choices


# ---------------------------------------------------------------- permission

def _require_merger(actor, *customers: Customer) -> None:
    require(actor, Capability.CUSTOMERS_MERGE, _("Only managers and administrators can merge customers."))
    for customer in customers:
        if not can_see_customer(actor, customer):
            raise NotFound(_("Customer not found."))


# ---------------------------------------------------------------- merge

def _fix_primary_points(survivor: Customer) -> list[int]:
    """One primary e-mail/phone point, equal to the survivor's field; returns created point ids."""
    created = []
    for kind in (ContactPointKind.EMAIL, ContactPointKind.PHONE):
        value = getattr(survivor, kind)
        points = ContactPoint.objects.filter(customer=survivor, kind=kind)
        value_bidx = blind_index("contact", value)
        points.exclude(value_bidx=value_bidx).filter(is_primary=True).update(is_primary=False)
        if value:
            point = points.filter(value_bidx=value_bidx).first()
            if point is None:
                point = ContactPoint.objects.create(customer=survivor, kind=kind, value=value, is_primary=True)
                created.append(point.pk)
            elif not point.is_primary:
                ContactPoint.objects.filter(pk=point.pk).update(is_primary=True)
    return created


@transaction.atomic
def customer_merge(*, actor, survivor: Customer, merged: Customer, field_choices=None) -> CustomerMerge:
    """Merge `merged` into `survivor`; `field_choices` maps a field (or "custom_fields.<key>")
    to "survivor" or "merged" — unspecified differing fields keep the survivor's value
    unless it is blank. Returns the merge record (undo with customer_merge_undo).

    Raises NotFound, PermissionDenied, ValidationFailed (errors by field), Conflict.
    """
    if survivor.pk == merged.pk:
        raise ValidationFailed(_("Validation failed"),
                               errors={"merged_id": [_("A customer cannot be merged into itself.")]})
    _require_merger(actor, survivor, merged)
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])}
    if len(locked) != 2:
        raise NotFound(_("Customer not found."))
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if survivor.company_id == merged.pk or merged.company_id == survivor.pk:
        raise ValidationFailed(_("Validation failed"), errors={"merged_id": [
            _("A contact cannot be merged with its own company.")]})
    choices = _clean_choices(survivor, merged, field_choices)

    snapshot = {
        "survivor": row_snapshot(survivor),
        "merged": row_snapshot(merged),
        "contact_points": [row_snapshot(p) for p in
                           ContactPoint.objects.filter(customer_id__in=[survivor.pk, merged.pk])],
        "moved": [],
        "removed": [],
    }
    for model, field in customer_relations():
        manager = model._base_manager
        conflicts = _conflicting_pks(model, field, survivor.pk, merged.pk)
        if conflicts:
            rows = list(manager.filter(pk__in=conflicts))
            snapshot["removed"] += [row_snapshot(r) for r in rows]
            manager.filter(pk__in=conflicts).delete()
        rows = manager.filter(**{field.attname: merged.pk})
        pks = list(rows.values_list("pk", flat=True))
        if not pks:
            continue
        rows.update(**{field.attname: survivor.pk})
        snapshot["moved"].append({
            "model": model._meta.label, "field": field.attname,
            # A primary-key foreign key (one value row per customer) takes the survivor's id.
            "pks": [survivor.pk] if field.primary_key else pks,
        })

    merged_pk = merged.pk
    merged._history_user = actor
    merged.delete()

    custom = dict(survivor.custom_fields or {})
    for key, side in choices.items():
        if side != MERGED:
            continue
        value = _value(merged, key)
        if key.startswith(CUSTOM_PREFIX):
            name = key[len(CUSTOM_PREFIX):]
            if value is None:
                custom.pop(name, None)
            else:
                custom[name] = value
        else:
            setattr(survivor, key, value)
    survivor.custom_fields = custom
    survivor._history_user = actor
    survivor._change_reason = f"merge:{merged_pk}"
    try:
        with transaction.atomic():
            survivor.save()
    except IntegrityError as exc:
        raise Conflict(_("The chosen values conflict with another customer.")) from exc
    snapshot["created_contact_points"] = _fix_primary_points(survivor)
    _refresh_search_tokens([survivor.pk, merged.pk])

    record = CustomerMerge.objects.create(
        survivor_pk=survivor.pk, merged_pk=merged_pk, survivor_name=survivor.name,
        merged_name=merged.name, performed_by=actor, field_choices=choices, snapshot=snapshot,
    )
    events.emit_many([
        events.CustomerMerged(customer_id=record.survivor_pk, merge_id=record.pk, merged_id=record.merged_pk),
        events.CustomerDeleted(customer_id=record.merged_pk),
    ], actor=actor)
    return record


# ---------------------------------------------------------------- undo

@transaction.atomic
def customer_merge_undo(*, actor, merge: CustomerMerge) -> tuple[Customer, Customer]:
    """Restore both customers and every related row as they were before `merge`.

    Returns (survivor, merged). Raises PermissionDenied, NotFound, Conflict.
    """
    merge = CustomerMerge.objects.select_for_update().filter(pk=merge.pk).first()
    if merge is None:
        raise NotFound(_("Merge not found."))
    survivor = Customer.objects.select_for_update().filter(pk=merge.survivor_pk).first()
    if survivor is None:
        raise Conflict(_("The surviving customer no longer exists."))
    _require_merger(actor, survivor)
    if merge.undone_at is not None:
        raise Conflict(_("This merge has already been undone."))
    later = CustomerMerge.objects.filter(survivor_pk=merge.survivor_pk, undone_at__isnull=True,
                                         pk__gt=merge.pk)
    if later.exists():
        raise Conflict(_("Undo the later merges into this customer first."))
    if Customer.objects.filter(pk=merge.merged_pk).exists():
        raise Conflict(_("The merged customer already exists again."))

    snapshot = merge.snapshot
    try:
        with transaction.atomic():
            # Survivor first: it may hold the merged customer's unique external id.
            row_restore(snapshot["survivor"])
            merged = row_restore(snapshot["merged"])
            for moved in snapshot["moved"]:
                model = apps.get_model(moved["model"])
                model._base_manager.filter(
                    pk__in=moved["pks"], **{moved["field"]: survivor.pk}
                ).update(**{moved["field"]: merged.pk})
            ContactPoint.objects.filter(pk__in=snapshot.get("created_contact_points", [])).delete()
            for row in snapshot["removed"]:
                row_restore(row)
            for row in snapshot["contact_points"]:
                row_restore(row)
    except IntegrityError as exc:
        raise Conflict(_("The records changed too much since the merge to restore them exactly.")) from exc

    _refresh_search_tokens([merge.survivor_pk, merge.merged_pk])
    merge.undone_at = timezone.now()
    merge.undone_by = actor
    merge.save(update_fields=["undone_at", "undone_by"])
    # The rows came back through raw restores; put the undo on both records' history.
    history.record_bulk_changes(Customer, {merge.survivor_pk: {}}, actor=actor,
                                reason=f"merge-undo:{merge.merged_pk}")
    history.record_bulk_changes(Customer, {merge.merged_pk: {}}, actor=actor,
                                reason=f"merge-undo:{merge.survivor_pk}")
    survivor = Customer.objects.get(pk=merge.survivor_pk)
    merged = Customer.objects.get(pk=merge.merged_pk)
    # The pair comes back to the review list (unless it no longer looks alike).
    from valuecrm.duplicates.duplicates import pair_rescore

    pair_rescore(survivor.pk, merged.pk)

    events.emit_many([
        events.MergeUndone(customer_id=survivor.pk, merge_id=merge.pk, merged_id=merged.pk),
        events.CustomerUpdated(customer_id=survivor.pk, changed_fields=tuple(sorted(merge.field_choices))),
        events.CustomerCreated(customer_id=merged.pk),
    ], actor=actor)
    return survivor, merged
