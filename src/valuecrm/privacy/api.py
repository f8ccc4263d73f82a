"""API v1: PIPL rights on one customer — consent, personal-data export, erasure.

    GET  /customers/{id}/personal-data   everything held (JSON; ?format=zip for CSVs)
    POST /customers/{id}/erase           anonymise the person; the proof comes back
    GET  /customers/{id}/consent         current consent and the ledger
    POST /customers/{id}/consent         append a grant or withdrawal

Thin: visibility and capabilities are checked in the services, so a customer the
caller cannot see is a 404, a right the role lacks a 403, bad input a 422.
"""

import json
from typing import Literal

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status
from pydantic import ValidationError as PydanticValidationError

from valuecrm.common.errors import Malformed, ValidationFailed
from valuecrm.common.schemas import MAX_ID, ProblemOut
from valuecrm.customers.selectors import customer_get
from valuecrm.privacy import selectors, services
from valuecrm.privacy.erasure import customer_erase
from valuecrm.privacy.export import personal_data_export
from valuecrm.privacy.models import Erasure, ErasureReason
from valuecrm.privacy.schemas import ConsentIn, ConsentOut, ConsentRecordOut, EraseIn, ErasureOut

router = Router(tags=["privacy"])
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)


def _record_out(record) -> dict:
    return {"id": record.pk, "customer_id": record.customer_id, "channel": record.channel,
            "purpose": record.purpose, "granted": record.granted, "recorded_at": record.recorded_at,
            "source": record.source, "text_id": record.text_id,
            "text_version": record.text.version if record.text_id else None, "reference": record.reference}


def _erasure_out(proof: Erasure, already: bool) -> dict:
    return {"id": proof.pk, "customer_id": proof.customer_ref, "erased_at": proof.erased_at,
            "reason": proof.reason, "tables": proof.tables, "kept": proof.kept,
            "rows_touched": proof.rows_touched, "orders_kept": proof.orders_kept,
            "duration_seconds": proof.duration_seconds, "already_erased": already}


@router.get("/customers/{customer_id}/personal-data",
            response={200: dict, 403: ProblemOut, 404: ProblemOut, 422: ProblemOut},
            openapi_extra={"responses": {200: {"description": "The person's data", "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}})
def personal_data(request, customer_id: int = PathId, format: Literal["json", "zip"] = Query("json")):  # noqa: A002
    """Everything held about one person (PIPL Art. 45): fields, contact points, custom
    fields, change history, orders and lines, interactions, notes, tasks, the consent
    ledger, scores and how they were made. The export is logged."""
    customer = customer_get(user=request.auth, pk=customer_id)
    name, content, content_type = personal_data_export(actor=request.auth, customer=customer,
                                                       file_format=format)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.post("/customers/{customer_id}/erase", response={200: ErasureOut, 400: ProblemOut, **ERRORS},
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": EraseIn.json_schema()}}}})
def erase(request, customer_id: int = PathId):
    """Anonymise the person everywhere, keeping orders as anonymous facts; returns the
    proof. Erasing again returns the first proof with `already_erased: true`. The body
    (`{"reason": …}`) is optional: a bare POST erases on the person's request."""
    reason = _erase_reason(request)
    customer = customer_get(user=request.auth, pk=customer_id)
    already = selectors.is_erased(customer)
    proof = customer_erase(actor=request.auth, customer=customer, reason=reason)
    return Status(200, _erasure_out(proof, already))


def _erase_reason(request) -> str:
    content_type = request.content_type or ""
    if not request.body or not content_type.endswith("json"):
        return ErasureReason.REQUEST
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed(_("The body is not valid JSON.")) from None
    if not isinstance(data, dict):  # the body is optional; when sent, an object
        raise ValidationFailed(_("Validation failed"), errors={"body": [_("Send a JSON object.")]})
    try:
        return EraseIn.model_validate(data).reason
    except PydanticValidationError:
        raise ValidationFailed(_("Validation failed"), errors={"reason": [_("Unknown reason.")]}) from None


@router.get("/customers/{customer_id}/consent", response={200: ConsentOut, 404: ProblemOut, 422: ProblemOut})
def consent(request, customer_id: int = PathId):
    customer = customer_get(user=request.auth, pk=customer_id)
    overview = selectors.consent_overview(customer)
    cells = [c for row in overview["channels"] for c in row["cells"]] + overview["person"]
    return {"current": [{k: c[k] for k in ("channel", "purpose", "granted", "by_default")} for c in cells],
            "ledger": [_record_out(r) for r in selectors.consent_ledger(customer, limit=500)]}


@router.post("/customers/{customer_id}/consent", response={201: ConsentRecordOut, **ERRORS})
def consent_add(request, payload: ConsentIn, customer_id: int = PathId):
    customer = customer_get(user=request.auth, pk=customer_id)
    record = services.consent_record(actor=request.auth, customer=customer, **payload.dict())
    return Status(201, _record_out(record))
