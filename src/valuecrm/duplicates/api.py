"""API v1: duplicate pairs and merges (with undo).

The tag and the operation ids are the ones these endpoints had in the integrations app
(valuecrm_integrations_api_*): generated clients rely on them.
"""

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status

from valuecrm.common.errors import NotFound
from valuecrm.common.schemas import MAX_ID, ProblemOut
from valuecrm.customers.models import Customer
from valuecrm.customers.schemas import CustomerOut
from valuecrm.duplicates import selectors, services
from valuecrm.duplicates.merge import customer_merge, customer_merge_undo
from valuecrm.duplicates.models import CustomerMerge

router = Router(tags=["integrations"])
ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)
OP = "valuecrm_integrations_api_"


class CandidateCustomerOut(Schema):
    id: int
    name: str
    email: str
    phone: str


class DuplicateOut(Schema):
    id: int
    customer_a: CandidateCustomerOut
    customer_b: CandidateCustomerOut
    score: int
    matched_on: list[str]
    evidence: dict[str, Any]
    status: str
    found_at: datetime


class DuplicatePage(Schema):
    items: list[DuplicateOut]
    total: int


class ScanOut(Schema):
    compared: int = Field(description="Pairs compared (sharing at least one blocking key).")
    found: int
    new: int
    removed: int = Field(description="Open pairs no longer found.")
    skipped_blocks: int = Field(description="Blocking keys shared by too many customers to mean anything.")


class MergeIn(Schema):
    survivor_id: int = Field(..., ge=1, le=MAX_ID)
    merged_id: int = Field(..., ge=1, le=MAX_ID)
    field_choices: dict[str, str] = Field(default_factory=dict, description='{"email": "merged", ...}')


class MergeOut(Schema):
    id: int
    survivor_id: int = Field(alias="survivor_pk")
    merged_id: int = Field(alias="merged_pk")
    performed_at: datetime
    performed_by_id: int | None
    field_choices: dict[str, str]
    undone_at: datetime | None


class UndoOut(Schema):
    merge: MergeOut
    survivor: CustomerOut
    merged: CustomerOut


@router.get("/duplicates", operation_id=OP + "list_duplicates", response={200: DuplicatePage, **ERRORS})
def list_duplicates(request, status: str = Query("open", pattern="^(open|dismissed)$"),
                    limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)):
    services.require_duplicate_manager(request.auth)
    pairs = selectors.duplicate_candidates(user=request.auth, status=status)
    return {"items": list(pairs[offset:offset + limit]), "total": pairs.count()}


@router.post("/duplicates/scan", operation_id=OP + "scan_duplicates", response={200: ScanOut, **ERRORS})
def scan_duplicates(request):
    return services.duplicate_scan_run(actor=request.auth)


@router.post("/duplicates/{pair_id}/dismiss", operation_id=OP + "dismiss_duplicate", response={200: DuplicateOut, **ERRORS})
def dismiss_duplicate(request, pair_id: int = PathId):
    return services.duplicate_dismiss(actor=request.auth, pk=pair_id)


def _visible_customer(user, pk: int, field: str) -> Customer:
    from valuecrm.customers.visibility import visible_customers

    customer = visible_customers(user).filter(pk=pk).first()
    if customer is None:
        raise NotFound(_("Customer not found."), errors={field: [_("Unknown customer.")]})
    return customer


@router.post("/merges", operation_id=OP + "create_merge", response={201: MergeOut, **ERRORS})
def create_merge(request, payload: MergeIn):
    survivor = _visible_customer(request.auth, payload.survivor_id, "survivor_id")
    merged = _visible_customer(request.auth, payload.merged_id, "merged_id")
    merge = customer_merge(actor=request.auth, survivor=survivor, merged=merged,
                           field_choices=payload.field_choices)
    return Status(201, merge)


@router.post("/merges/{merge_id}/undo", operation_id=OP + "undo_merge", response={200: UndoOut, **ERRORS})
def undo_merge(request, merge_id: int = PathId):
    merge = selectors.customer_merges(user=request.auth).filter(pk=merge_id).first()
    if merge is None:
        raise NotFound(_("Merge not found."))
    survivor, merged = customer_merge_undo(actor=request.auth, merge=merge)
    merge = CustomerMerge.objects.get(pk=merge.pk)
    survivor = Customer.objects.prefetch_related("tags").get(pk=survivor.pk)
    merged = Customer.objects.prefetch_related("tags").get(pk=merged.pk)
    return {"merge": merge, "survivor": survivor, "merged": merged}

