"""API v1: the loyalty programme, accounts, the ledger, redemption, adjustment, referrals.

Same permissions as the pages (the services check them); errors are problem+json.
POST /loyalty/redeem is idempotent per (customer, reference): the first call creates the
redemption (201), a repeat with the same points returns it (200), a different amount
or too few points is a 409.
"""

from ninja import Path, Query, Router, Status

from valuecrm.common.schemas import MAX_ID, ProblemOut, Text
from valuecrm.loyalty import selectors, services
from valuecrm.loyalty.schemas import (
    AccountOut,
    AdjustIn,
    EntryOut,
    EntryPage,
    ProgramOut,
    ProgramPatch,
    RedeemIn,
    ReferralIn,
    ReferralOut,
)

router = Router(tags=["loyalty"])

MAX_PAGE = 200
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
READ_ERRORS = {404: ProblemOut, 422: ProblemOut}


@router.get("/loyalty/program", response={200: ProgramOut})
def get_program(request):
    """The rules in force today."""
    return selectors.program_current()


@router.patch("/loyalty/program", response={200: ProgramOut, 403: ProblemOut, 422: ProblemOut})
def update_program(request, payload: ProgramPatch):
    """Save a new version of the rules (from ``effective_from``, today by default)."""
    data = payload.model_dump(exclude_unset=True, exclude_none=True)
    version = services.program_update(actor=request.auth, data=data)
    return selectors.program_current(version.effective_from)


def _account_out(view) -> dict:
    return {
        "customer_id": view.customer_id, "member": view.member, "balance": view.balance, "pending": view.pending,
        "tier": view.tier.code if view.tier else None, "tier_name": view.tier.label if view.tier else None,
        "lifetime_earned": view.lifetime_earned, "expiring_30d": view.expiring_30d,
        "next_tier": view.next_tier.code if view.next_tier else None, "points_to_next_tier": view.points_to_next,
        "referral_code": view.referral_code, "balance_value_cny": view.value_cny,
    }


@router.get("/loyalty/accounts/{customer_id}", response={200: AccountOut, **READ_ERRORS})
def get_account(request, customer_id: int = Path(..., ge=1, le=MAX_ID)):
    """Balance, pending and expiring points are derived from the ledger."""
    return _account_out(selectors.account_view(user=request.auth, customer_id=customer_id))


@router.get("/loyalty/ledger", response={200: EntryPage, **READ_ERRORS})
def list_ledger(request, customer_id: int = Query(..., ge=1, le=MAX_ID),
                cursor: Text | None = Query(None, max_length=500), limit: int = Query(50, ge=1, le=MAX_PAGE)):
    """The customer's ledger rows, newest first."""
    rows, next_cursor = selectors.ledger_page(user=request.auth, customer_id=customer_id, after=cursor, limit=limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/loyalty/redeem", response={200: EntryOut, 201: EntryOut, **ERRORS})
def redeem(request, payload: RedeemIn):
    entry, created = services.points_redeem(actor=request.auth, customer_id=payload.customer_id,
                                            points=payload.points, reference=payload.reference,
                                            order_total=payload.order_total)
    return Status(201 if created else 200, entry)


@router.post("/loyalty/adjust", response={201: EntryOut, **ERRORS})
def adjust(request, payload: AdjustIn):
    """A manual correction with its reason (capability loyalty.adjust)."""
    entry = services.points_adjust(actor=request.auth, customer_id=payload.customer_id, points=payload.points,
                                   reason=payload.reason)
    return Status(201, entry)


def _referral_out(r) -> dict:
    return {"id": r.pk, "referrer_customer_id": r.referrer.customer_id, "referee_customer_id": r.referee.customer_id,
            "status": r.status, "order_id": r.order_id, "order_total": r.order_total, "rewarded_at": r.rewarded_at}


@router.get("/loyalty/referrals", response={200: list[ReferralOut], **READ_ERRORS})
def list_referrals(request, customer_id: int | None = Query(None, ge=1, le=MAX_ID)):
    """Referrals made by or to the customer (all visible ones when none is given), newest first."""
    return [_referral_out(r) for r in selectors.referrals_for(user=request.auth, customer_id=customer_id)]


@router.post("/loyalty/referrals", response={201: ReferralOut, **ERRORS})
def create_referral(request, payload: ReferralIn):
    """Record that the customer was referred by the holder of ``code``."""
    referral = services.referral_register(actor=request.auth, customer_id=payload.customer_id, code=payload.code)
    return Status(201, _referral_out(referral))
