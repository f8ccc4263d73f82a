"""Writes on customers and their timeline (contact points, notes, interactions, tasks).

Every function checks permission against the same visibility rule as the pages
and the API (customers.visibility), validates everything before writing, and
writes inside one transaction, so a refused or invalid request changes nothing.
An object the actor cannot see raises NotFound (its existence is not revealed);
a visible object the actor may not change raises PermissionDenied.

History rows (django-simple-history) carry the acting user because each function
sets `_history_user` on the instance before saving it.
"""

from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, has_capability, require
from valuecrm.accounts.models import Team, User
from valuecrm.accounts.roles import Scope
from valuecrm.common import events
from valuecrm.common.datetimes import parse_aware_datetime
from valuecrm.common.encryption import blind_index
from valuecrm.common.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    validation_failed_from_django,
)
from valuecrm.customers.custom_fields import clean_custom_fields
from valuecrm.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomerKind,
    Interaction,
    Note,
    Tag,
    Task,
)
from valuecrm.customers.normalize import normalize_email, normalize_phone
from valuecrm.customers.personal_data import scrub_history
from valuecrm.customers.visibility import can_see_customer, visible_customers

CUSTOMER_FIELDS = (
    "kind", "name", "company_id", "job_title", "email", "phone", "birthday", "gender",
    "age_band", "occupation", "income_band", "region", "city", "preferred_language",
    "acquisition_source", "acquisition_channel", "acquisition_cost", "acquired_at", "owner_id", "team_id",
    "consent_email", "consent_sms", "consent_phone", "consent_wechat", "source", "external_id",
)
CUSTOMER_EXTRA_KEYS = ("tags", "custom_fields")
TASK_FIELDS = ("title", "description", "due_at", "assignee_id", "customer_id", "done")
INTERACTION_FIELDS = ("kind", "direction", "occurred_at", "subject", "body")
TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length
# Optional text fields: null from an API client means "clear it".
_BLANKABLE_TEXT = ("gender", "age_band", "income_band", "preferred_language", "acquisition_channel",
                   "job_title", "occupation", "region", "city", "acquisition_source", "source", "external_id")

# full_clean names FK errors after the field ("owner"); callers send "owner_id".
_FK_ERROR_KEYS = {"owner": "owner_id", "team": "team_id", "company": "company_id",
                  "assignee": "assignee_id", "customer": "customer_id"}


# ---------------------------------------------------------------- shared checks

def _errors_from(exc: ValidationError) -> dict[str, list[str]]:
    errors = validation_failed_from_django(exc).errors
    return {_FK_ERROR_KEYS.get(k, k): v for k, v in errors.items()}


def _merge(errors: dict, more: dict) -> None:
    for key, msgs in more.items():
        errors.setdefault(key, []).extend(m for m in msgs if m not in errors.get(key, []))


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


def _require_writer(actor) -> None:
    require(actor, Capability.CUSTOMERS_CHANGE)


def _require_visible(actor, customer: Customer) -> None:
    if not can_see_customer(actor, customer):
        raise NotFound(_("Customer not found."))


def _require_changeable(actor, customer: Customer) -> None:
    _require_visible(actor, customer)
    _require_writer(actor)


def _check_text(errors: dict, key: str, value) -> None:
    # PostgreSQL refuses NUL bytes; say so here instead of failing at the INSERT.
    if isinstance(value, str) and "\x00" in value:
        errors.setdefault(key, []).append(_("Null characters are not allowed."))


def _as_aware(value):
    if isinstance(value, datetime) and timezone.is_naive(value):
        return timezone.make_aware(value, timezone.get_default_timezone())
    return value


def _save(instance, actor, **kwargs) -> None:
    instance._history_user = actor
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        raise Conflict(_("This change conflicts with an existing record.")) from exc


# ---------------------------------------------------------------- customers

def _active_user(pk) -> User | None:
    try:
        return User.objects.filter(pk=pk, is_active=True).first()
    except (TypeError, ValueError, OverflowError):
        return None


def _resolve_owner_and_team(actor, customer: Customer, data: dict, *, creating: bool,
                            errors: dict) -> None:
    """Apply owner_id/team_id from `data` to `customer`, enforcing who may assign whom."""
    owner_given = "owner_id" in data
    team_given = "team_id" in data
    restricted = actor.scope != Scope.ALL

    owner = customer.owner
    if owner_given:
        owner_id = data["owner_id"]
        owner = None
        if owner_id not in (None, ""):
            owner = _active_user(owner_id)
            if owner is None:
                errors.setdefault("owner_id", []).append(_("Unknown user."))
                return
        changing = (owner.pk if owner else None) != customer.owner_id or creating
        if changing and not (owner is not None and owner.pk == actor.pk) and not has_capability(actor, Capability.CUSTOMERS_REASSIGN):
            raise PermissionDenied(
                _("You can only assign customers to yourself."),
                errors={"owner_id": [_("You can only assign customers to yourself.")]},
            )
        if changing and restricted and owner is not None and owner.pk != actor.pk \
                and owner.team_id != actor.team_id:
            raise PermissionDenied(
                _("You can only assign customers to members of your team."),
                errors={"owner_id": [_("You can only assign customers to members of your team.")]},
            )
    elif creating:
        owner = actor
    customer.owner = owner

    if team_given:
        team_id = data["team_id"]
        team = None
        if team_id not in (None, ""):
            try:
                team = Team.objects.filter(pk=team_id).first()
            except (TypeError, ValueError, OverflowError):
                team = None
            if team is None:
                errors.setdefault("team_id", []).append(_("Unknown team."))
                return
        if restricted and (team.pk if team else None) != actor.team_id \
                and (team.pk if team else None) != customer.team_id:
            raise PermissionDenied(
                _("You can only assign customers to your own team."),
                errors={"team_id": [_("You can only assign customers to your own team.")]},
            )
        customer.team = team
    elif creating:
        customer.team = owner.team if owner is not None and owner.team_id else actor.team
    elif owner_given and owner is not None and owner.team_id:
        # The team follows a reassigned owner, so the new owner's manager sees the customer.
        customer.team_id = owner.team_id


def _resolve_company(actor, customer: Customer, company_id, errors: dict) -> None:
    if company_id in (None, ""):
        customer.company = None
        return
    try:
        company = (
            visible_customers(actor)
            .filter(pk=company_id, kind=CustomerKind.ORGANIZATION)
            .first()
        )
    except (TypeError, ValueError, OverflowError):
        company = None
    if company is None:
        errors.setdefault("company_id", []).append(_("Unknown company."))
        return
    if customer.pk is not None and company.pk == customer.pk:
        errors.setdefault("company_id", []).append(_("A customer cannot be its own company."))
        return
    customer.company = company


def _clean_tag_names(names, errors: dict) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, list | tuple | set):
        errors.setdefault("tags", []).append(_("Expected a list of tag names."))
        return []
    cleaned: list[str] = []
    for name in names:
        if not isinstance(name, str):
            errors.setdefault("tags", []).append(_("Tag names must be text."))
            continue
        name = name.strip()
        if not name:
            continue
        if len(name) > TAG_MAX_LENGTH or "\x00" in name:
            errors.setdefault("tags", []).append(
                _("Tag names must be at most %(n)d characters.") % {"n": TAG_MAX_LENGTH}
                if len(name) > TAG_MAX_LENGTH else _("Null characters are not allowed.")
            )
            continue
        if name.lower() not in {c.lower() for c in cleaned}:
            cleaned.append(name)
    return cleaned


def _tags_for(names: list[str]) -> list[Tag]:
    """Existing tags matched case-insensitively, missing ones created."""
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            tag, _created = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    return tags


def _apply_customer_data(actor, customer: Customer, data: dict, *, creating: bool):
    """Validate `data` onto `customer` (unsaved). Returns (tag names or None, errors)."""
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in CUSTOMER_FIELDS and key not in CUSTOMER_EXTRA_KEYS:
            errors.setdefault(key, []).append(_("Unknown field."))
    for key in CUSTOMER_FIELDS:
        if key in data:
            _check_text(errors, key, data[key])

    if "owner_id" in data or "team_id" in data or creating:
        _resolve_owner_and_team(actor, customer, data, creating=creating, errors=errors)
    if "company_id" in data:
        _resolve_company(actor, customer, data["company_id"], errors)

    for key in CUSTOMER_FIELDS:
        if key not in data or key in ("owner_id", "team_id", "company_id"):
            continue
        value = data[key]
        if key == "email":
            try:
                value = normalize_email(value)
            except ValidationError as exc:
                errors.setdefault("email", []).extend(exc.messages)
                continue
        elif key == "phone":
            try:
                value = normalize_phone(value)
            except ValidationError as exc:
                errors.setdefault("phone", []).extend(exc.messages)
                continue
        elif key == "acquired_at":
            value = parse_aware_datetime(value, key, errors)
        elif isinstance(value, str) and key in ("name", "job_title", "occupation", "region",
                                               "city", "acquisition_source", "source",
                                               "external_id"):
            value = value.strip()
        elif value is None and key in _BLANKABLE_TEXT:
            value = ""
        setattr(customer, key, value)

    if creating or "custom_fields" in data:
        try:
            customer.custom_fields = clean_custom_fields(
                data.get("custom_fields"), existing=None if creating else customer.custom_fields,
            )
        except ValidationFailed as exc:
            _merge(errors, exc.errors)

    tag_names = _clean_tag_names(data["tags"], errors) if "tags" in data else None

    try:
        customer.full_clean(exclude=list(errors), validate_constraints=False)
    except ValidationError as exc:
        _merge(errors, _errors_from(exc))
    customer.acquired_at = _as_aware(customer.acquired_at)

    if customer.external_id and "external_id" not in errors:
        clash = Customer.objects.filter(source=customer.source, external_id=customer.external_id)
        if customer.pk:
            clash = clash.exclude(pk=customer.pk)
        if clash.exists():
            errors.setdefault("external_id", []).append(
                _("A customer with this source and external id already exists.")
            )
    return tag_names, errors


def _sync_primary_contact_point(customer: Customer, kind: str, value: str) -> None:
    """Keep the customer's primary email/phone mirrored as its primary ContactPoint."""
    customer.contact_points.filter(kind=kind, is_primary=True).exclude(
        value_bidx=blind_index("contact", value)).update(is_primary=False)
    if value:
        point, created = ContactPoint.objects.get_or_create(
            customer=customer, kind=kind, value_bidx=blind_index("contact", value),
            defaults={"is_primary": True, "value": value}
        )
        if not created and not point.is_primary:
            point.is_primary = True
            point.save(update_fields=["is_primary", "updated_at"])


@transaction.atomic
def customer_create(*, actor, data: dict) -> Customer:
    """Create a customer from `data` (Customer field names, FKs as *_id, plus "tags":
    list of names and "custom_fields": dict). Owner defaults to the actor, team to the
    owner's team; the primary email/phone also become ContactPoints.

    Raises ValidationFailed (errors by field), PermissionDenied.
    """
    _require_writer(actor)
    customer = Customer(created_by=actor)
    tag_names, errors = _apply_customer_data(actor, customer, dict(data), creating=True)
    _raise_if(errors)
    _save(customer, actor)
    if tag_names:
        customer.tags.set(_tags_for(tag_names))
    _sync_primary_contact_point(customer, ContactPointKind.EMAIL, customer.email)
    _sync_primary_contact_point(customer, ContactPointKind.PHONE, customer.phone)
    emitted = [events.CustomerCreated(customer_id=customer.pk)]
    if tag_names:
        emitted.append(events.CustomerTagged(customer_id=customer.pk, tags=tuple(sorted(tag_names))))
    events.emit_many(emitted, actor=actor)
    return customer


@transaction.atomic
def customer_update(*, actor, customer: Customer, data: dict, recorded_as=None) -> Customer:
    """Change only the keys present in `data`; "tags" replaces the set, "custom_fields"
    is merged over the stored values (None clears a key). Returns the updated row;
    the `customer` instance passed in is left as it was.

    `recorded_as`: when `actor` is a system account acting for a person whose own checks
    its caller made (the 公海 pool claiming for a rep), the history row and the events
    name that person instead of the system account.

    Raises NotFound (not visible), PermissionDenied, ValidationFailed, Conflict.
    """
    _require_changeable(actor, customer)
    # Work on a fresh copy so a refused update leaves the caller's instance untouched.
    fresh = Customer.objects.select_for_update().get(pk=customer.pk)
    old_email, old_phone = fresh.email, fresh.phone
    before = _customer_state(fresh)
    tag_names, errors = _apply_customer_data(actor, fresh, dict(data), creating=False)
    _raise_if(errors)
    _save(fresh, recorded_as or actor)
    if tag_names is not None:
        fresh.tags.set(_tags_for(tag_names))
    if fresh.email != old_email:
        _sync_primary_contact_point(fresh, ContactPointKind.EMAIL, fresh.email)
    if fresh.phone != old_phone:
        _sync_primary_contact_point(fresh, ContactPointKind.PHONE, fresh.phone)
    _emit_customer_changes(recorded_as or actor, fresh.pk, before, _customer_state(fresh))
    return fresh


def _customer_state(customer: Customer) -> dict:
    state = {f: getattr(customer, f) for f in CUSTOMER_FIELDS}
    state["custom_fields"] = dict(customer.custom_fields or {})
    state["tags"] = frozenset(customer.tags.values_list("name", flat=True)) if customer.pk else frozenset()
    return state


def _emit_customer_changes(actor, customer_id: int, before: dict, after: dict) -> None:
    """customer.updated with the changed fields, plus the specific events rules key on."""
    changed = tuple(sorted(k for k in after if after[k] != before[k]))
    if not changed:
        return
    emitted: list[events.Event] = [events.CustomerUpdated(customer_id=customer_id, changed_fields=changed)]
    if "owner_id" in changed:
        emitted.append(events.CustomerOwnerChanged(
            customer_id=customer_id, from_owner_id=before["owner_id"], to_owner_id=after["owner_id"]))
    if added := after["tags"] - before["tags"]:
        emitted.append(events.CustomerTagged(customer_id=customer_id, tags=tuple(sorted(added))))
    if removed := before["tags"] - after["tags"]:
        emitted.append(events.CustomerUntagged(customer_id=customer_id, tags=tuple(sorted(removed))))
    events.emit_many(emitted, actor=actor)


@transaction.atomic
def customer_delete(*, actor, customer: Customer) -> None:
    _require_visible(actor, customer)
    require(actor, Capability.CUSTOMERS_DELETE)
    if customer.orders.exists():
        raise Conflict(_("This customer has orders and cannot be deleted."))
    customer._history_user = actor
    customer_id = customer.pk
    try:
        with transaction.atomic():
            customer.delete()
    except IntegrityError as exc:
        raise Conflict(_("This customer is still referenced and cannot be deleted.")) from exc
    # The history rows (including the deletion row just written) would otherwise keep
    # the person's e-mail, phone and other personal fields after the record is gone.
    scrub_history([customer_id])
    events.emit(events.CustomerDeleted(customer_id=customer_id), actor=actor)


@transaction.atomic
def customer_archive(*, actor, customer: Customer) -> Customer:
    """Take a customer out of the lists without losing anything: orders, tasks, notes and
    history stay, and the "archived" list filter (or the record page) brings it back."""
    _require_visible(actor, customer)
    require(actor, Capability.CUSTOMERS_DELETE, _("Only managers can archive customers."))
    fresh = Customer.objects.select_for_update().get(pk=customer.pk)
    if fresh.archived_at is not None:
        return fresh
    fresh.archived_at = timezone.now()
    _save(fresh, actor, update_fields=["archived_at", "updated_at"])
    events.emit(events.CustomerArchived(customer_id=fresh.pk), actor=actor)
    return fresh


@transaction.atomic
def customer_unarchive(*, actor, customer: Customer) -> Customer:
    _require_visible(actor, customer)
    require(actor, Capability.CUSTOMERS_DELETE, _("Only managers can archive customers."))
    fresh = Customer.objects.select_for_update().get(pk=customer.pk)
    if fresh.archived_at is None:
        return fresh
    fresh.archived_at = None
    _save(fresh, actor, update_fields=["archived_at", "updated_at"])
    events.emit(events.CustomerUnarchived(customer_id=fresh.pk), actor=actor)
    return fresh


# ---------------------------------------------------------------- contact points

def _clean_contact_value(kind: str, value, errors: dict) -> str:
    if not isinstance(value, str):
        errors.setdefault("value", []).append(_("Enter a value."))
        return ""
    try:
        if kind == ContactPointKind.EMAIL:
            value = normalize_email(value)
        elif kind == ContactPointKind.PHONE:
            value = normalize_phone(value)
        else:
            value = value.strip()
    except ValidationError as exc:
        errors.setdefault("value", []).extend(exc.messages)
        return ""
    if not value:
        errors.setdefault("value", []).append(_("This field cannot be blank."))
    _check_text(errors, "value", value)
    return value


@transaction.atomic
def contact_point_add(*, actor, customer: Customer, kind: str, value: str, label: str = "",
                      is_primary: bool = False) -> ContactPoint:
    _require_changeable(actor, customer)
    errors: dict[str, list[str]] = {}
    if kind not in ContactPointKind.values:
        errors["kind"] = [_("Choose one of: %(choices)s.") % {
            "choices": ", ".join(ContactPointKind.values)}]
    else:
        value = _clean_contact_value(kind, value, errors)
    _check_text(errors, "label", label)
    point = ContactPoint(customer=customer, kind=kind, value=value if not errors else "",
                         label=(label or "").strip(), is_primary=bool(is_primary))
    if not errors:
        try:
            point.full_clean(exclude=["customer"], validate_constraints=False)
        except ValidationError as exc:
            _merge(errors, _errors_from(exc))
    _raise_if(errors)
    if customer.contact_points.filter(kind=kind, value_bidx=blind_index("contact", point.value)).exists():
        raise Conflict(_("This contact point already exists."),
                       errors={"value": [_("This contact point already exists.")]})
    mirrored = kind in (ContactPointKind.EMAIL, ContactPointKind.PHONE)
    if mirrored and not getattr(customer, kind):
        point.is_primary = True  # the first email/phone becomes the customer's primary one
    if point.is_primary:
        customer.contact_points.filter(kind=kind, is_primary=True).update(is_primary=False)
    _save(point, actor)
    if point.is_primary and mirrored:
        fresh = Customer.objects.get(pk=customer.pk)
        setattr(fresh, kind, point.value)
        _save(fresh, actor, update_fields=[kind, "updated_at"])
        setattr(customer, kind, point.value)
    events.emit(events.ContactPointAdded(customer_id=customer.pk, contact_point_id=point.pk, kind=kind),
                actor=actor)
    return point


@transaction.atomic
def contact_point_delete(*, actor, contact_point: ContactPoint) -> None:
    customer = contact_point.customer
    _require_changeable(actor, customer)
    kind, value, was_primary = contact_point.kind, contact_point.value, contact_point.is_primary
    events.emit(events.ContactPointDeleted(customer_id=customer.pk, contact_point_id=contact_point.pk,
                                           kind=kind), actor=actor)
    contact_point.delete()
    if kind in (ContactPointKind.EMAIL, ContactPointKind.PHONE) and was_primary:
        # Promote the next one of the same kind, so the customer keeps a primary address.
        successor = customer.contact_points.filter(kind=kind).order_by("id").first()
        if successor is not None:
            successor.is_primary = True
            successor.save(update_fields=["is_primary", "updated_at"])
        fresh = Customer.objects.get(pk=customer.pk)
        if getattr(fresh, kind) == value:
            setattr(fresh, kind, successor.value if successor else "")
            _save(fresh, actor, update_fields=[kind, "updated_at"])
            setattr(customer, kind, getattr(fresh, kind))


# ---------------------------------------------------------------- notes and interactions

@transaction.atomic
def note_create(*, actor, customer: Customer, body: str) -> Note:
    _require_changeable(actor, customer)
    errors: dict[str, list[str]] = {}
    body = body.strip() if isinstance(body, str) else ""
    if not body:
        errors["body"] = [_("This field cannot be blank.")]
    _check_text(errors, "body", body)
    _raise_if(errors)
    note = Note(customer=customer, author=actor, body=body)
    _save(note, actor)
    events.emit(events.NoteAdded(customer_id=customer.pk, note_id=note.pk), actor=actor)
    return note


def _apply_interaction_data(interaction: Interaction, data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        if key not in INTERACTION_FIELDS:
            errors.setdefault(key, []).append(_("Unknown field."))
            continue
        _check_text(errors, key, value)
        if key == "occurred_at":
            value = parse_aware_datetime(value, key, errors)
            if value is None and key not in errors:
                errors[key] = [_("This field cannot be blank.")]
                continue
        elif key in ("subject", "body") and value is None:
            value = ""
        elif isinstance(value, str) and key == "subject":
            value = value.strip()
        setattr(interaction, key, value)
    try:
        interaction.full_clean(exclude=["customer", "author", *errors])
    except ValidationError as exc:
        _merge(errors, _errors_from(exc))
    return errors


@transaction.atomic
def interaction_create(*, actor, customer: Customer, kind: str, direction: str = "outbound",
                       occurred_at=None, subject: str = "", body: str = "") -> Interaction:
    _require_changeable(actor, customer)
    interaction = Interaction(customer=customer, author=actor)
    data = {"kind": kind, "direction": direction, "subject": subject, "body": body}
    if occurred_at is not None:
        data["occurred_at"] = occurred_at
    _raise_if(_apply_interaction_data(interaction, data))
    _save(interaction, actor)
    events.emit(events.InteractionLogged(customer_id=customer.pk, interaction_id=interaction.pk,
                                         kind=interaction.kind), actor=actor)
    return interaction


@transaction.atomic
def interaction_update(*, actor, interaction: Interaction, data: dict) -> Interaction:
    _require_changeable(actor, interaction.customer)
    fresh = Interaction.objects.select_related("customer").get(pk=interaction.pk)
    _raise_if(_apply_interaction_data(fresh, dict(data)))
    _save(fresh, actor)
    events.emit(events.InteractionUpdated(customer_id=fresh.customer_id, interaction_id=fresh.pk),
                actor=actor)
    return fresh


@transaction.atomic
def interaction_delete(*, actor, interaction: Interaction) -> None:
    _require_changeable(actor, interaction.customer)
    if interaction.author_id != actor.pk and not has_capability(actor, Capability.CUSTOMERS_DELETE):
        raise PermissionDenied(_("Only the author or a manager can delete this interaction."))
    interaction._history_user = actor
    events.emit(events.InteractionDeleted(customer_id=interaction.customer_id,
                                          interaction_id=interaction.pk), actor=actor)
    interaction.delete()


# ---------------------------------------------------------------- tasks

def _may_assign_to(actor, assignee: User) -> bool:
    """Whether `actor` may give a task to `assignee`: any user they can see (see
    customers.followups.assignable_users: everyone for an all-scope role, else their
    team), if they may write at all."""
    from valuecrm.customers.followups import user_visible_to

    if assignee.pk == actor.pk:
        return True
    return bool(actor.can_write) and user_visible_to(actor, assignee)


def _may_change_task(actor, task: Task) -> bool:
    if task.assignee_id == actor.pk or task.created_by_id == actor.pk:
        return True
    if not actor.can_manage:
        return False
    if task.customer_id is not None:
        return can_see_customer(actor, task.customer)
    assignee = task.assignee
    return actor.scope == Scope.ALL or (
        assignee is not None and bool(actor.team_id) and assignee.team_id == actor.team_id
    )


def _apply_task_data(actor, task: Task, data: dict, errors: dict) -> None:
    for key, value in data.items():
        if key not in TASK_FIELDS:
            errors.setdefault(key, []).append(_("Unknown field."))
            continue
        _check_text(errors, key, value)
        if key == "due_at":
            task.due_at = parse_aware_datetime(value, key, errors)
        elif key == "assignee_id":
            if value in (None, ""):
                task.assignee = None
                continue
            assignee = _active_user(value)
            if assignee is None:
                errors.setdefault("assignee_id", []).append(_("Unknown user."))
            elif assignee.pk != task.assignee_id and not _may_assign_to(actor, assignee):
                raise PermissionDenied(
                    _("You cannot assign tasks to this user."),
                    errors={"assignee_id": [_("You cannot assign tasks to this user.")]},
                )
            else:
                task.assignee = assignee
        elif key == "customer_id":
            if value in (None, ""):
                task.customer = None
                continue
            try:
                customer = visible_customers(actor).filter(pk=value).first()
            except (TypeError, ValueError, OverflowError):
                customer = None
            if customer is None:
                errors.setdefault("customer_id", []).append(_("Unknown customer."))
            else:
                task.customer = customer
        elif key == "done":
            done = bool(value)
            if done and not task.done:
                task.done_at = timezone.now()
            elif not done:
                task.done_at = None
            task.done = done
        elif key == "description":
            task.description = "" if value is None else value
        elif key == "title":
            task.title = value.strip() if isinstance(value, str) else value
    # A task about a customer its assignee cannot see would vanish from their inbox.
    if task.assignee is not None and task.customer is not None and "assignee_id" not in errors \
            and not can_see_customer(task.assignee, task.customer):
        errors.setdefault("assignee_id", []).append(
            _("%(user)s cannot see this customer, so cannot work on this follow-up.")
            % {"user": task.assignee.display_name})
    try:
        task.full_clean(exclude=["customer", "assignee", "created_by", "assigned_by", *errors])
    except ValidationError as exc:
        _merge(errors, _errors_from(exc))


@transaction.atomic
def task_create(*, actor, title: str, customer: Customer | None = None, due_at=None,
                assignee: User | None = None, description: str = "") -> Task:
    _require_writer(actor)
    if customer is not None:
        _require_visible(actor, customer)
    task = Task(created_by=actor, customer=customer, assignee=actor)
    errors: dict[str, list[str]] = {}
    data = {"title": title, "description": description, "due_at": due_at}
    if assignee is not None:
        data["assignee_id"] = assignee.pk
    _apply_task_data(actor, task, data, errors)
    _raise_if(errors)
    _note_assignment(actor, task, previous_assignee_id=actor.pk)
    _save(task, actor)
    events.emit(events.TaskCreated(customer_id=task.customer_id, task_id=task.pk,
                                   assignee_id=task.assignee_id), actor=actor)
    return task


@transaction.atomic
def task_update(*, actor, task: Task, data: dict) -> Task:
    _require_writer(actor)
    if not _may_change_task(actor, task):
        raise PermissionDenied(_("Only the assignee, the creator or a manager can change this task."))
    fresh = Task.objects.select_related("customer", "assignee").get(pk=task.pk)
    before = {f: getattr(fresh, f) for f in TASK_FIELDS}
    errors: dict[str, list[str]] = {}
    _apply_task_data(actor, fresh, dict(data), errors)
    _raise_if(errors)
    _note_assignment(actor, fresh, previous_assignee_id=before["assignee_id"])
    _save(fresh, actor)
    changed = tuple(sorted(f for f in TASK_FIELDS if getattr(fresh, f) != before[f]))
    emitted: list[events.Event] = []
    if changed:
        emitted.append(events.TaskUpdated(customer_id=fresh.customer_id, task_id=fresh.pk,
                                          changed_fields=changed))
    if fresh.done and not before["done"]:
        emitted.append(events.TaskCompleted(customer_id=fresh.customer_id, task_id=fresh.pk))
    events.emit_many(emitted, actor=actor)
    return fresh


def _note_assignment(actor, task: Task, *, previous_assignee_id) -> None:
    """A task given to someone else is new in their inbox until they have seen it."""
    if task.assignee_id == previous_assignee_id:
        return
    if task.assignee_id is None or task.assignee_id == actor.pk:
        task.assigned_by, task.assigned_at, task.assignment_seen_at = None, None, None
        return
    task.assigned_by = actor
    task.assigned_at = timezone.now()
    task.assignment_seen_at = None


@transaction.atomic
def task_assignments_seen(*, actor, task_ids=None) -> int:
    """The assignee has seen the follow-ups others gave them (all, or those in
    `task_ids`); they stop showing as new in the inbox. Returns how many."""
    tasks = Task.objects.filter(assignee=actor, assigned_by__isnull=False,
                                assignment_seen_at__isnull=True)
    if task_ids is not None:
        tasks = tasks.filter(pk__in=list(task_ids))
    return tasks.update(assignment_seen_at=timezone.now())


def task_complete(*, actor, task: Task) -> Task:
    return task_update(actor=actor, task=task, data={"done": True})


@transaction.atomic
def task_delete(*, actor, task: Task) -> None:
    _require_writer(actor)
    if task.created_by_id != actor.pk and not (actor.can_manage and _may_change_task(actor, task)):
        raise PermissionDenied(_("Only the creator or a manager can delete this task."))
    events.emit(events.TaskDeleted(customer_id=task.customer_id, task_id=task.pk), actor=actor)
    task.delete()


# ---------------------------------------------------------------- bulk actions

BULK_CHUNK = 2000  # ids per IN (...) list: far below every database's variable limit


def _bulk_ids(actor, customer_ids) -> list[int]:
    """The visible customers among `customer_ids`: a list of ids (the rows ticked on a
    page) or a queryset of customers (everything matching the list's filter, applied on
    the server — never the ids the page happened to show)."""
    if isinstance(customer_ids, QuerySet):
        selection = customer_ids.values("pk")
        return list(visible_customers(actor).filter(pk__in=selection).order_by("pk")
                    .values_list("pk", flat=True))
    wanted = sorted({int(pk) for pk in customer_ids})
    ids: list[int] = []
    for start in range(0, len(wanted), BULK_CHUNK):
        chunk = events.ids_in(Customer, "id", wanted[start:start + BULK_CHUNK])
        ids += visible_customers(actor).filter(pk__in=chunk).values_list("pk", flat=True)
    return sorted(ids)


def _chunks(ids: list[int]):
    for start in range(0, len(ids), BULK_CHUNK):
        yield ids[start:start + BULK_CHUNK]


@transaction.atomic
def customers_bulk_tag(*, actor, customer_ids, tag_names) -> int:
    """Add tags to the visible, changeable customers among `customer_ids` (ids, or a
    queryset of customers: see _bulk_ids).

    Returns how many customers gained at least one tag.
    """
    _require_writer(actor)
    errors: dict[str, list[str]] = {}
    names = _clean_tag_names(list(tag_names or []), errors)
    _raise_if(errors)
    if not names:
        raise ValidationFailed(_("Validation failed"), errors={"tags": [_("Choose at least one tag.")]})
    tags = _tags_for(names)
    ids = _bulk_ids(actor, customer_ids)
    through = Customer.tags.through
    new_links: list[tuple[int, int]] = []
    tag_ids = [tag.pk for tag in tags]
    for chunk in _chunks(ids):
        existing = set(through.objects.filter(customer_id__in=events.ids_in(through, "customer_id", chunk),
                                              tag_id__in=tag_ids)
                       .values_list("customer_id", "tag_id"))
        new_links += [(cid, tid) for cid in chunk for tid in tag_ids if (cid, tid) not in existing]
    # Plain multi-row INSERTs (no model instance per link); a concurrent duplicate is skipped.
    events.insert_rows(through, ("customer_id", "tag_id"), new_links, ignore_conflicts=True)
    tag_name = {tag.pk: tag.name for tag in tags}
    added: dict[int, list[str]] = {}
    for cid, tid in new_links:
        added.setdefault(cid, []).append(tag_name[tid])
    events.emit_many([
        events.CustomersBulkChanged(action="tag", count=len(added)),
        *(events.CustomerTagged(customer_id=cid, tags=tuple(sorted(names))) for cid, names in added.items()),
    ], actor=actor)
    return len(added)


@transaction.atomic
def customers_bulk_untag(*, actor, customer_ids, tag_names) -> int:
    """Remove tags (matched by name, ignoring case) from the visible customers among
    `customer_ids` (ids or a queryset, see _bulk_ids). Tags themselves stay.

    Returns how many customers lost at least one tag.
    """
    _require_writer(actor)
    errors: dict[str, list[str]] = {}
    names = _clean_tag_names(list(tag_names or []), errors)
    _raise_if(errors)
    if not names:
        raise ValidationFailed(_("Validation failed"), errors={"tags": [_("Choose at least one tag.")]})
    name_q = Q()
    for name in names:
        name_q |= Q(name__iexact=name)
    tags = {tag.pk: tag.name for tag in Tag.objects.filter(name_q)}
    if not tags:
        raise ValidationFailed(_("Validation failed"), errors={"tags": [
            _("No tag named %(names)s.") % {"names": ", ".join(names)}]})
    ids = _bulk_ids(actor, customer_ids)
    through = Customer.tags.through
    removed: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        links = through.objects.filter(customer_id__in=chunk, tag_id__in=list(tags))
        for cid, tid in links.values_list("customer_id", "tag_id"):
            removed.setdefault(cid, []).append(tags[tid])
        links.delete()
    events.emit_many([
        events.CustomersBulkChanged(action="untag", count=len(removed)),
        *(events.CustomerUntagged(customer_id=cid, tags=tuple(sorted(gone)))
          for cid, gone in removed.items()),
    ], actor=actor)
    return len(removed)


@transaction.atomic
def customers_bulk_assign(*, actor, customer_ids, owner: User) -> int:
    """Reassign the visible customers among `customer_ids` (ids or a queryset, see
    _bulk_ids) to `owner` (managers only).

    The team follows the owner. Returns how many customers changed owner.
    """
    require(actor, Capability.CUSTOMERS_REASSIGN)
    if owner is None or not owner.is_active:
        raise ValidationFailed(_("Validation failed"), errors={"owner_id": [_("Unknown user.")]})
    if actor.scope != Scope.ALL and owner.pk != actor.pk and owner.team_id != actor.team_id:
        raise PermissionDenied(
            _("You can only assign customers to members of your team."),
            errors={"owner_id": [_("You can only assign customers to members of your team.")]},
        )
    changed = 0
    ids = _bulk_ids(actor, customer_ids)
    emitted: list[events.Event] = []
    for chunk in _chunks(ids):
        # Lock by primary key only: PostgreSQL refuses FOR UPDATE across the visibility joins.
        rows = Customer.objects.filter(pk__in=chunk).filter(
            ~Q(owner_id=owner.pk) | Q(owner_id__isnull=True)).select_for_update()
        for customer in rows:
            from_owner, from_team = customer.owner_id, customer.team_id
            customer.owner = owner
            if owner.team_id:
                customer.team_id = owner.team_id
            _save(customer, actor)
            changed += 1
            fields = ("owner_id", "team_id") if customer.team_id != from_team else ("owner_id",)
            emitted += [events.CustomerUpdated(customer_id=customer.pk, changed_fields=fields),
                        events.CustomerOwnerChanged(customer_id=customer.pk, from_owner_id=from_owner,
                                                    to_owner_id=owner.pk)]
    events.emit_many([events.CustomersBulkChanged(action="assign", count=changed), *emitted], actor=actor)
    return changed


# ---------------------------------------------------------------- bulk follow-ups (automation)

_TASK_FIELDS = ("customer_id", "title", "description", "due_at", "assignee_id", "created_by_id", "assigned_by_id",
                "assigned_at", "created_at", "updated_at")


class CreatedTask(NamedTuple):
    """A task tasks_bulk_create wrote."""

    pk: int
    customer_id: int | None
    assignee_id: int | None


@transaction.atomic
def tasks_bulk_create(*, actor, tasks: list[dict]) -> list[CreatedTask]:
    """Create many follow-ups at once (an automation rule acting on a batch of events):
    each item has "title", "customer_id" and optionally "description", "due_at",
    "assignee_id". A constant number of queries however many tasks: visibility is
    checked per distinct assignee, not per task; the rows are written with multi-row
    INSERTs (no model instance per task). Returns (pk, customer_id, assignee_id) of each
    task created, in the order of `tasks`.

    Items about customers the actor cannot see are skipped; an assignee who cannot see
    the customer gets no task (it would vanish from their inbox) — the task stays
    unassigned instead. Raises ValidationFailed naming `tasks.<i>.<field>`.
    """
    _require_writer(actor)
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(tasks):
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            errors[f"tasks.{i}.title"] = [_("This field cannot be blank.")]
        elif len(title) > 200 or "\x00" in title:
            errors[f"tasks.{i}.title"] = [_("Enter at most 200 characters without null characters.")]
        if "\x00" in str(item.get("description") or ""):
            errors[f"tasks.{i}.description"] = [_("Null characters are not allowed.")]
    _raise_if(errors)
    wanted = sorted({int(t["customer_id"]) for t in tasks if t.get("customer_id") is not None})
    visible: set[int] = set()
    for chunk in _chunks(wanted):
        visible.update(visible_customers(actor).filter(pk__in=events.ids_in(Customer, "id", chunk))
                       .values_list("pk", flat=True))
    assignee_ids = {t.get("assignee_id") for t in tasks if t.get("assignee_id")}
    assignees = {u.pk: u for u in User.objects.filter(pk__in=assignee_ids, is_active=True)}
    seen_by: dict[int, set[int]] = {}
    for pk, user in assignees.items():
        mine = [cid for t in tasks if t.get("assignee_id") == pk for cid in [t.get("customer_id")]
                if cid is not None]
        seen_by[pk] = set()
        for chunk in _chunks(sorted(set(mine))):
            seen_by[pk].update(visible_customers(user).filter(pk__in=events.ids_in(Customer, "id", chunk))
                               .values_list("pk", flat=True))
    now = timezone.now()
    rows = []
    for item in tasks:
        cid = item.get("customer_id")
        if cid is not None:
            cid = int(cid)
            if cid not in visible:
                continue
        assignee_id = item.get("assignee_id")
        if assignee_id not in assignees or (cid is not None and cid not in seen_by[assignee_id]):
            assignee_id = None
        assigned = assignee_id is not None and assignee_id != actor.pk
        rows.append((cid, item["title"].strip()[:200], item.get("description") or "", _as_aware(item.get("due_at")),
                     assignee_id, actor.pk, actor.pk if assigned else None, now if assigned else None, now, now))
    ids = events.insert_rows_returning_ids(Task, _TASK_FIELDS, rows)
    created = [CreatedTask(pk, row[0], row[4]) for pk, row in zip(ids, rows, strict=True)]
    events.emit_many([events.TaskCreated(customer_id=t.customer_id, task_id=t.pk, assignee_id=t.assignee_id)
                      for t in created], actor=actor)
    return created
