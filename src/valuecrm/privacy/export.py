"""Per-person export (PIPL Art. 45): everything held about one customer, as JSON or a zip of CSVs.

One function, `personal_data_export`, checks the capability and visibility, builds
the document, logs the export (who, when, which sections and how many rows — no
content) and emits `customer.personal_data_exported`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.common.events import current_origin
from valuecrm.customers.extensions import registry
from valuecrm.customers.models import (
    Address,
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    Interaction,
    Note,
    Task,
)
from valuecrm.customers.visibility import can_see_customer
from valuecrm.insights.models import CustomerScore, StageChange, ValueAlert
from valuecrm.orders.models import Order, OrderLine
from valuecrm.privacy.events import PersonalDataExported
from valuecrm.privacy.explain import explain
from valuecrm.privacy.models import ConsentRecord, ConsentText, Erasure, PersonalDataExport
from valuecrm.privacy.selectors import consent_overview

FORMATS = ("json", "zip")
DOCUMENT_FORMAT = "valuecrm.personal-data/1"


def _plain(value):
    """A JSON-safe copy of a value read from the ORM."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, models.Model):
        return value.pk
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _row(obj, exclude=()) -> dict:
    out = {}
    for field in obj._meta.concrete_fields:
        if field.name in exclude:
            continue
        out[field.attname] = _plain(getattr(obj, field.attname))
    return out


def _history_rows(queryset) -> list[dict]:
    rows = []
    for row in queryset.select_related("history_user").order_by("history_date", "history_id"):
        data = _row(row, exclude=("history_user", "history_id"))
        data["history_user"] = row.history_user.get_username() if row.history_user else None
        data["table"] = queryset.model._meta.db_table
        rows.append(data)
    return rows


def personal_data(customer: Customer) -> dict:
    """The whole document; the caller has checked capability and visibility."""
    custom_labels = {d.key: d.label for d in CustomFieldDefinition.objects.all()}
    orders = list(Order.objects.filter(customer=customer).order_by("placed_at", "id"))
    lines: dict[int, list[dict]] = {}
    for line in OrderLine.objects.filter(order__customer=customer).order_by("order_id", "id"):
        lines.setdefault(line.order_id, []).append(_row(line))
    history = _history_rows(Customer.history.filter(id=customer.pk))
    history += _history_rows(Interaction.history.filter(customer_id=customer.pk))
    for source in registry.history_sources:
        history += _history_rows(source.rows(customer))
    ledger = list(ConsentRecord.objects.filter(customer=customer).select_related("actor")
                  .order_by("recorded_at", "id"))
    text_ids = {r.text_id for r in ledger if r.text_id}
    explanation = explain(customer)
    if explanation is not None:
        run = explanation.pop("run")
        explanation["run"] = None if run is None else {
            "id": run.pk, "as_of": run.as_of, "unit": run.unit, "model": run.transaction_model,
            "finished_at": run.finished_at, "calibration_end": run.calibration_end,
            "clv_basis": run.clv_basis, "customers": run.n_customers}
    overview = consent_overview(customer)
    current_consent = [
        {"channel": c["channel"], "purpose": c["purpose"], "granted": c["granted"], "by_default": c["by_default"]}
        for row in overview["channels"] for c in row["cells"]
    ] + [{"channel": c["channel"], "purpose": c["purpose"], "granted": c["granted"],
          "by_default": c["by_default"]} for c in overview["person"]]
    return _plain({
        "format": DOCUMENT_FORMAT,
        "exported_at": timezone.now(),
        "customer": {
            **_row(customer),
            "owner": customer.owner.get_username() if customer.owner_id else None,
            "team": customer.team.name if customer.team_id else None,
            "tags": sorted(customer.tags.values_list("name", flat=True)),
            "erased": Erasure.objects.filter(customer_ref=customer.pk).exists(),
        },
        "custom_fields": [{"key": k, "label": custom_labels.get(k, k), "value": v}
                          for k, v in sorted((customer.custom_fields or {}).items())],
        "contact_points": [_row(p) for p in ContactPoint.objects.filter(customer=customer)],
        "addresses": [_row(a) for a in Address.objects.filter(customer=customer)],
        "orders": [{**_row(o), "lines": lines.get(o.pk, [])} for o in orders],
        "interactions": [_row(i) for i in Interaction.objects.filter(customer=customer).order_by("occurred_at", "id")],
        "notes": [_row(n) for n in Note.objects.filter(customer=customer).order_by("created_at", "id")],
        "tasks": [_row(t) for t in Task.objects.filter(customer=customer).order_by("created_at", "id")],
        "history": history,
        "consent_ledger": [{**_row(r, exclude=("actor",)),
                            "actor": r.actor.get_username() if r.actor_id else None} for r in ledger],
        "consent_texts": [_row(t, exclude=("created_by",)) for t in ConsentText.objects.filter(pk__in=text_ids)],
        "consent_current": current_consent,
        "scores": {
            "explanation": explanation,
            "history": [_row(s) for s in CustomerScore.objects.filter(customer=customer).order_by("as_of", "id")],
            "stage_changes": [_row(s) for s in StageChange.objects.filter(customer=customer).order_by("changed_on", "id")],
            "alerts": [_row(a) for a in ValueAlert.objects.filter(customer=customer).order_by("created_on", "id")],
        },
        "exports": [_row(e, exclude=("actor",)) for e in PersonalDataExport.objects.filter(customer_ref=customer.pk)],
    })


def _counts(document: dict) -> dict:
    counts = {}
    for key, value in document.items():
        if isinstance(value, list):
            counts[key] = len(value)
    scores = document["scores"]
    counts["score_history"] = len(scores["history"])
    counts["order_lines"] = sum(len(o["lines"]) for o in document["orders"])
    return counts


def _csv(rows: list[dict]) -> bytes:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or ["empty"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                         for k, v in row.items()})
    # A BOM so spreadsheet programs read the UTF-8 (Chinese names) correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _zip(document: dict, customer_id: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("personal-data.json", json.dumps(document, ensure_ascii=False, indent=2))
        archive.writestr("customer.csv", _csv([{k: v for k, v in document["customer"].items()}]))
        for key in ("custom_fields", "contact_points", "addresses", "interactions", "notes", "tasks",
                    "history", "consent_ledger", "consent_texts", "consent_current", "exports"):
            archive.writestr(f"{key}.csv", _csv(document[key]))
        archive.writestr("orders.csv", _csv([{k: v for k, v in o.items() if k != "lines"}
                                             for o in document["orders"]]))
        archive.writestr("order_lines.csv", _csv([line for o in document["orders"] for line in o["lines"]]))
        scores = document["scores"]
        for key in ("history", "stage_changes", "alerts"):
            archive.writestr(f"scores_{key}.csv", _csv(scores[key]))
        explanation = scores["explanation"]
        if explanation:
            flat = [{"item": k, "value": v} for k, v in explanation.items()]
            archive.writestr("score_explanation.csv", _csv(flat))
    return buffer.getvalue()


@transaction.atomic
def personal_data_export(*, actor, customer: Customer, file_format: str = "json") -> tuple[str, bytes, str]:
    """(file name, content, content type) of everything held about `customer`.

    Raises NotFound (not visible), PermissionDenied, ValidationFailed (format).
    """
    require(actor, Capability.PRIVACY_EXPORT)
    if not can_see_customer(actor, customer):
        raise NotFound(_("Customer not found."))
    if file_format not in FORMATS:
        raise ValidationFailed(_("Validation failed"), errors={"format": [_("Choose json or zip.")]})
    fresh = Customer.objects.select_related("owner", "team").get(pk=customer.pk)
    document = personal_data(fresh)
    log = PersonalDataExport.objects.create(
        customer=fresh, customer_ref=fresh.pk, actor=actor, file_format=file_format,
        counts=_counts(document), origin=current_origin().origin,
    )
    events.emit(PersonalDataExported(customer_id=fresh.pk, export_id=log.pk, file_format=file_format),
                actor=actor)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    name = f"personal-data-{fresh.pk}-{stamp}"
    if file_format == "json":
        return f"{name}.json", json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"), \
            "application/json"
    return f"{name}.zip", _zip(document, fresh.pk), "application/zip"
