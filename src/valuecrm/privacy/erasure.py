"""Erasure (PIPL Art. 47): anonymise one person everywhere, keep their orders as anonymous facts.

`customer_erase` runs in one transaction:

1. the live row: personal fields take anonymous values (customers.personal_data),
   contact points and addresses are deleted, note and interaction texts, task
   titles and descriptions are replaced;
2. change history: every historical row of the customer (and of the records merged
   into it) and of its interactions is scrubbed the same way;
3. copies elsewhere: duplicate-candidate pairs with the person are deleted; merge
   snapshots, import change snapshots, import review lists and row errors, webhook
   delivery payloads, the admin log and any other text or JSON column of any table
   are swept for the person's identifiers (e-mail, phone, contact values, address
   lines, and the name where the row belongs to the person or also holds one of
   the other identifiers — a bare name elsewhere may be somebody else's);
4. marketing consents are withdrawn in the ledger (source "erasure");
5. the proof (`Erasure`): who, when, why (a code), which tables and how many rows,
   what was kept — no personal data.

Orders, order lines, scores and stage changes keep the customer id, so the value
models still count the purchases. Erasing twice returns the first proof.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.common.events import current_origin
from valuecrm.customers import search_index
from valuecrm.customers.models import (
    Address,
    ContactPoint,
    Customer,
    CustomerSearchToken,
    Interaction,
    Note,
    Task,
)
from valuecrm.customers.personal_data import ERASED_TEXT, anonymous_values, scrub_history
from valuecrm.customers.visibility import can_see_customer
from valuecrm.privacy.events import CustomerErased
from valuecrm.privacy.models import ConsentState, Erasure, ErasureReason, Source
from valuecrm.privacy.services import _append

MIN_NEEDLE = 3  # shorter strings would match unrelated text
# Tables whose rows are other people's records (or handled by name above): the sweep
# leaves them to the targeted steps, so another customer who shares a family e-mail
# keeps their own data.
_OWNED_ELSEWHERE = {"customers.Customer", "customers.HistoricalCustomer", "customers.ContactPoint",
                    "customers.Address", "sessions.Session", "privacy.Erasure",
                    "privacy.PersonalDataExport", "privacy.ConsentRecord", "privacy.ConsentState",
                    "privacy.ConsentText"}


def _phone_variants(phone: str) -> set[str]:
    variants = {phone}
    if phone.startswith("+86") and len(phone) > 6:
        variants.add(phone[3:])  # written without the country code in free text
    return variants


def identifiers(customer: Customer, merged_ids: list[int]) -> tuple[set[str], set[str]]:
    """(strong identifiers, names) of the person, current and past."""
    strong: set[str] = set()
    names: set[str] = set()
    history = Customer.history.filter(id__in=[customer.pk, *merged_ids])
    for name, email, phone, external_id in history.values_list("name", "email", "phone", "external_id"):
        names.add(name)
        strong.add(email)
        strong |= _phone_variants(phone)
        strong.add(external_id)
    names.add(customer.name)
    strong.add(customer.email)
    strong |= _phone_variants(customer.phone)
    strong.add(customer.external_id)
    for value in ContactPoint.objects.filter(customer=customer).values_list("value", flat=True):
        strong |= _phone_variants(value)
    for line1, line2 in Address.objects.filter(customer=customer).values_list("line1", "line2"):
        strong |= {line1, line2}
    clean = lambda values: {v.strip() for v in values if v and len(v.strip()) >= MIN_NEEDLE}  # noqa: E731
    return clean(strong), clean(names) - {ERASED_TEXT}


def _escaped(needle: str) -> str:
    # JSON columns store non-ASCII as \uXXXX on SQLite (json.dumps' default).
    return json.dumps(needle)[1:-1]


def _replace(value, needles: list[str]):
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, ERASED_TEXT)
        return value
    if isinstance(value, list):
        return [_replace(v, needles) for v in value]
    if isinstance(value, dict):
        return {_replace(k, needles): _replace(v, needles) for k, v in value.items()}
    return value


# Keys of other records (an order's shop id may embed the customer's): changing them
# would break idempotent ingestion and uniqueness, and they are facts we keep.
_KEY_NAMES = {"external_id", "source", "sku", "event_id", "key", "secret", "url", "file_path"}


def _key_fields(model) -> set[str]:
    names = {f.name for f in model._meta.concrete_fields if f.unique}
    for constraint in model._meta.constraints:
        names |= set(getattr(constraint, "fields", ()) or ())
    for group in model._meta.unique_together:
        names |= set(group)
    return names | _KEY_NAMES


def _text_fields(model) -> list[models.Field]:
    keys = _key_fields(model)
    return [f for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.primary_key
            and not f.choices and f.name not in keys]


def _linked_q(model, customer_id: int) -> Q | None:
    """Rows that belong to the customer: a foreign key to it (or the admin log's object)."""
    q = None
    for field in model._meta.concrete_fields:
        target = getattr(field, "related_model", None)
        if isinstance(field, models.ForeignKey) and target is Customer:
            q = (q or Q()) | Q(**{field.attname: customer_id})
    if model is LogEntry:
        q = Q(content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer_id))
    return q


def _sweep(customer_id: int, strong: set[str], names: set[str]) -> dict[str, int]:
    touched: dict[str, int] = {}
    everything = sorted(strong | names, key=len, reverse=True)  # longest first: "a@b.cn" before "b.cn"
    for model in apps.get_models():
        if model._meta.label in _OWNED_ELSEWHERE or model._meta.proxy or not model._meta.managed:
            continue
        fields = _text_fields(model)
        if any(getattr(f, "encrypted", False) for f in fields):
            count = _sweep_sealed(model, fields, customer_id, strong, names, everything)
            if count:
                touched[model._meta.db_table] = touched.get(model._meta.db_table, 0) + count
            continue
        if not fields:
            continue
        # JSON has no substring lookup: compare on the stored text (cast), which is what a reader sees.
        base = model._default_manager.all()
        query = Q()
        if strong:
            query |= _contains_q_cast(fields, strong)
        linked = _linked_q(model, customer_id)
        if linked is not None and names:
            query |= linked & _contains_q_cast(fields, names)
        if not query:
            continue
        qs = _annotated(base, fields).filter(query)
        count = 0
        for obj in qs.iterator():
            changes = {}
            for field in fields:
                old = getattr(obj, field.attname)
                new = _replace(old, everything)
                if new != old:
                    changes[field.attname] = new
            if changes:
                model._default_manager.filter(pk=obj.pk).update(**changes)
                count += 1
        if count:
            touched[model._meta.db_table] = touched.get(model._meta.db_table, 0) + count
    return touched


def _sweep_sealed(model, fields, customer_id: int, strong: set[str], names: set[str],
                  everything: list[str]) -> int:
    """A table with encrypted columns (JSON copies, webhook bodies): SQL cannot see into
    ciphertext, so every row's text columns are read in clear here, in batches, and
    rewritten (encrypted again) where they mention the person."""
    linked = _linked_q(model, customer_id)
    linked_pks = (set(model._default_manager.filter(linked).values_list("pk", flat=True))
                  if linked is not None and names else set())
    count = 0
    for obj in model._default_manager.only("pk", *[f.attname for f in fields]).iterator(chunk_size=2000):
        needles = strong | names if obj.pk in linked_pks else strong
        values = {f.attname: getattr(obj, f.attname) for f in fields}
        text = json.dumps(list(values.values()), ensure_ascii=False, default=str)
        if not any(n in text for n in needles):
            continue
        # As in the SQL sweep: a row that mentions the person loses every identifier, names too.
        changes = {}
        for name, old in values.items():
            new = _replace(old, everything)
            if new != old:
                changes[name] = new
        if changes:
            model._default_manager.filter(pk=obj.pk).update(**changes)
            count += 1
    return count


def _annotated(queryset, fields):
    from django.db.models import TextField
    from django.db.models.functions import Cast

    return queryset.annotate(**{f"_t_{f.attname}": Cast(f.attname, TextField())
                                for f in fields if isinstance(f, models.JSONField)})


def _contains_q_cast(fields, needles) -> Q:
    q = Q()
    for field in fields:
        name = f"_t_{field.attname}" if isinstance(field, models.JSONField) else field.attname
        for needle in needles:
            q |= Q(**{f"{name}__contains": needle})
            if isinstance(field, models.JSONField) and _escaped(needle) != needle:
                q |= Q(**{f"{name}__contains": _escaped(needle)})
    return q


def _file_holds(path: Path, needles: set[str]) -> bool:
    """Whether an uploaded import file (CSV/JSON in UTF-8 or GBK, or XLSX) mentions a needle."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                blobs = [archive.read(n) for n in archive.namelist() if n.endswith(".xml")]
        else:
            blobs = [path.read_bytes()]
    except (OSError, zipfile.BadZipFile):
        return False
    for blob in blobs:
        for needle in needles:
            forms = {needle.encode("utf-8"), _escaped(needle).encode("ascii", "ignore")}
            try:
                forms.add(needle.encode("gbk"))
            except UnicodeEncodeError:
                pass
            if any(form and form in blob for form in forms):
                return True
    return False


def _remove_uploads(needles: set[str], touched: dict) -> None:
    """Stored import uploads that hold the person: the runs keep their counts and row
    errors (already swept), the file goes — after commit, as a file is not transactional."""
    if not needles or not apps.is_installed("valuecrm.imports"):
        return
    run_model = apps.get_model("imports", "ImportRun")
    # A file being read right now is left to its run (its rows arrive after this erasure).
    busy = ("analysing", "queued", "running")
    paths = set(run_model.objects.filter(file_removed_at__isnull=True).exclude(status__in=busy)
                .exclude(file_path="").values_list("file_path", flat=True))
    doomed = [p for p in paths if Path(p).is_file() and _file_holds(Path(p), needles)]
    if not doomed:
        return
    now = timezone.now()
    count = run_model.objects.filter(file_path__in=doomed).update(file_removed_at=now)
    _add(touched, "import upload files", len(doomed))
    _add(touched, run_model._meta.db_table, count)
    transaction.on_commit(lambda: [Path(p).unlink(missing_ok=True) for p in doomed])


def _add(touched: dict, table: str, count: int) -> None:
    if count:
        touched[table] = touched.get(table, 0) + count


def _merged_ids(customer_id: int) -> list[int]:
    """Customers merged into this one: their history rows are this person's past records."""
    model = apps.get_model("duplicates", "CustomerMerge") if apps.is_installed("valuecrm.duplicates") else None
    if model is None:
        return []
    return list(model.objects.filter(survivor_pk=customer_id).values_list("merged_pk", flat=True))


def _delete_duplicate_pairs(customer_id: int, touched: dict) -> None:
    if not apps.is_installed("valuecrm.duplicates"):
        return
    model = apps.get_model("duplicates", "DuplicateCandidate")
    count, _by_model = model.objects.filter(Q(customer_a_id=customer_id) | Q(customer_b_id=customer_id)).delete()
    _add(touched, model._meta.db_table, count)


@transaction.atomic
def customer_erase(*, actor, customer: Customer, reason: str = ErasureReason.REQUEST) -> Erasure:
    """Anonymise the person everywhere; returns the proof (the first one when already erased).

    Raises NotFound (not visible), PermissionDenied, ValidationFailed (reason).
    """
    require(actor, Capability.PRIVACY_ERASE)
    if not can_see_customer(actor, customer):
        raise NotFound(_("Customer not found."))
    if reason not in ErasureReason.values:
        raise ValidationFailed(_("Validation failed"), errors={"reason": [_("Unknown reason.")]})
    fresh = Customer.objects.select_for_update().get(pk=customer.pk)
    done = Erasure.objects.filter(customer_ref=fresh.pk).first()
    if done is not None:
        return done
    started = time.monotonic()
    touched: dict[str, int] = {}
    merged = _merged_ids(fresh.pk)
    strong, names = identifiers(fresh, merged)

    # 1. the live records
    anonymous = anonymous_values(fresh.pk)
    _add(touched, Customer._meta.db_table, Customer.objects.filter(pk=fresh.pk).update(**anonymous))
    # The name's search terms go with the name.
    search_index.refresh([fresh.pk], [anonymous["name"]])
    fresh.tags.clear()
    # The phone and e-mail search tokens (keyed hashes) go with the values.
    for model in (ContactPoint, Address, CustomerSearchToken):
        count, _by_model = model.objects.filter(customer=fresh).delete()
        _add(touched, model._meta.db_table, count)
    _add(touched, Note._meta.db_table, Note.objects.filter(customer=fresh).update(body=ERASED_TEXT))
    _add(touched, Interaction._meta.db_table,
         Interaction.objects.filter(customer=fresh).update(subject="", body=ERASED_TEXT))
    _add(touched, Task._meta.db_table,
         Task.objects.filter(customer=fresh).update(title=ERASED_TEXT, description=""))
    # Contact persons of an erased organisation keep their records and the link (to an
    # anonymous row): their own data is theirs.

    # 2. change history (and that of records merged into this one)
    for table, count in scrub_history([fresh.pk, *merged]).items():
        _add(touched, table, count)

    # 3. copies in other tables
    _delete_duplicate_pairs(fresh.pk, touched)
    for table, count in _sweep(fresh.pk, strong, names).items():
        _add(touched, table, count)
    _remove_uploads(strong, touched)

    # 4. consent: what was granted is withdrawn, so nobody contacts an erased person
    withdrawn = 0
    for state in ConsentState.objects.filter(customer=fresh, granted=True):
        _append(fresh.pk, channel=state.channel, purpose=state.purpose, granted=False,
                source=Source.ERASURE, text=None, actor=actor)
        withdrawn += 1
    # Defaults need no rows: can_contact refuses an erased person outright.
    _add(touched, "privacy_consentrecord", withdrawn)

    kept = _kept(fresh.pk)
    proof = Erasure.objects.create(
        customer=fresh, customer_ref=fresh.pk, actor=actor, reason=reason, tables=touched, kept=kept,
        orders_kept=kept.get("sales_order", 0), origin=current_origin().origin,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    events.emit(CustomerErased(customer_id=fresh.pk, erasure_id=proof.pk, rows_touched=proof.rows_touched),
                actor=actor)
    return proof


def _kept(customer_id: int) -> dict[str, int]:
    from valuecrm.insights.models import CustomerScore, StageChange
    from valuecrm.orders.models import Order, OrderLine

    return {
        Order._meta.db_table: Order.objects.filter(customer_id=customer_id).count(),
        OrderLine._meta.db_table: OrderLine.objects.filter(order__customer_id=customer_id).count(),
        CustomerScore._meta.db_table: CustomerScore.objects.filter(customer_id=customer_id).count(),
        StageChange._meta.db_table: StageChange.objects.filter(customer_id=customer_id).count(),
        Interaction._meta.db_table: Interaction.objects.filter(customer_id=customer_id).count(),
    }
