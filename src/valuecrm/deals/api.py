"""API v1: pipelines, deals (CRUD, stage log), the forecast and the 公海 pool.

The same services as the pages: permissions and visibility hold here too; errors are
problem+json naming the field.
"""

from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from valuecrm.common.errors import ValidationFailed
from valuecrm.common.patch import patch_data
from valuecrm.common.schemas import MAX_ID, Day, ProblemOut, Text
from valuecrm.deals import forecast as forecast_mod
from valuecrm.deals import pool, selectors, services
from valuecrm.deals.schemas import (
    DEAL_PATCH_NOT_NULL,
    CategoryValue,
    DealIn,
    DealOut,
    DealPage,
    DealPatch,
    ForecastOut,
    PipelineOut,
    PoolMoveOut,
    PoolPage,
    ReleaseIn,
    StageLogOut,
    StatusValue,
)

router = Router(tags=["deals"])

MAX_PAGE = 200
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
READ_ERRORS = {404: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)


@router.get("/pipelines", response={200: list[PipelineOut], **READ_ERRORS})
def list_pipelines(request):
    return selectors.pipelines()


@router.get("/deals", response={200: DealPage, **READ_ERRORS})
def list_deals(request, pipeline_id: int | None = Query(None, ge=1, le=MAX_ID),
               status: StatusValue | None = None,
               owner_id: int | None = Query(None, ge=1, le=MAX_ID),
               team_id: int | None = Query(None, ge=1, le=MAX_ID),
               customer_id: int | None = Query(None, ge=1, le=MAX_ID),
               close_from: Day | None = None, close_to: Day | None = None,
               forecast_category: CategoryValue | None = None,
               q: Text = Query("", max_length=100),
               cursor: Text | None = Query(None, max_length=500),
               limit: int = Query(50, ge=1, le=MAX_PAGE)):
    """Visible deals, newest first."""
    filters = selectors.DealFilters(pipeline_id=pipeline_id, status=status or "", owner_id=owner_id,
                                    team_id=team_id, customer_id=customer_id, close_from=close_from,
                                    close_to=close_to, category=forecast_category or "", q=q.strip())
    rows, next_cursor = selectors.deal_list(user=request.auth, filters=filters, after=cursor, limit=limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/deals", response={201: DealOut, **ERRORS})
def create_deal(request, payload: DealIn):
    data = payload.model_dump(exclude_unset=True)
    if payload.lines is not None:
        data["lines"] = [line.model_dump(exclude_unset=True) for line in payload.lines]
    deal = services.deal_create(actor=request.auth, data=data)
    return Status(201, selectors.deal_get(user=request.auth, pk=deal.pk))


@router.get("/deals/{deal_id}", response={200: DealOut, **READ_ERRORS})
def get_deal(request, deal_id: int = PathId):
    return selectors.deal_get(user=request.auth, pk=deal_id)


@router.patch("/deals/{deal_id}", response={200: DealOut, **ERRORS})
def update_deal(request, payload: DealPatch, deal_id: int = PathId):
    deal = selectors.deal_get(user=request.auth, pk=deal_id)
    data = patch_data(payload, DEAL_PATCH_NOT_NULL)
    services.deal_update(actor=request.auth, deal=deal, data=data)
    return selectors.deal_get(user=request.auth, pk=deal_id)


@router.delete("/deals/{deal_id}", response={204: None, **ERRORS})
def delete_deal(request, deal_id: int = PathId):
    services.deal_delete(actor=request.auth, deal=selectors.deal_get(user=request.auth, pk=deal_id))
    return Status(204, None)


@router.get("/deals/{deal_id}/stage-log", response={200: list[StageLogOut], **READ_ERRORS})
def get_stage_log(request, deal_id: int = PathId):
    return selectors.stage_log(user=request.auth, deal_id=deal_id)


@router.get("/forecast", response={200: ForecastOut, **READ_ERRORS})
def get_forecast(request, period: Text = Query(..., max_length=7, description="2027-Q1 or 2027-03"),
                 owner_id: int | None = Query(None, ge=1, le=MAX_ID)):
    try:
        start, end = forecast_mod.parse_period(period)
    except ValueError:
        raise ValidationFailed(_("Validation failed"),
                               errors={"period": [_("Enter a period like 2027-Q1 or 2027-03.")]}) from None
    rows = forecast_mod.forecast(user=request.auth, period=period, owner_id=owner_id)
    return {"period": period, "start": start, "end": end,
            "rows": [{**r.__dict__, "attainment": r.attainment} for r in rows]}


@router.get("/pool", response={200: PoolPage, 403: ProblemOut, **READ_ERRORS})
def list_pool(request, q: Text = Query("", max_length=100),
              cursor: int | None = Query(None, ge=1, le=MAX_ID),
              limit: int = Query(50, ge=1, le=MAX_PAGE)):
    """Customers without an owner (anyone who works deals may see and claim them)."""
    services.require_pool_access(request.auth)
    rows, next_cursor = pool.pool_customers(user=request.auth, search=q.strip(), after=cursor, limit=limit)
    return {"items": rows, "next_cursor": str(next_cursor) if next_cursor else None}


@router.post("/pool/{customer_id}/claim", response={200: PoolMoveOut, **ERRORS})
def claim(request, customer_id: int = PathId):
    return services.pool_claim(actor=request.auth, customer_id=customer_id)


@router.post("/pool/{customer_id}/release", response={200: PoolMoveOut, **ERRORS})
def release(request, payload: ReleaseIn, customer_id: int = PathId):
    return services.pool_release(actor=request.auth, customer_id=customer_id, reason=payload.reason)

