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
from valuecrm.deals import pool, saved_views, selectors, services
from valuecrm.deals.schemas import (
    DEAL_PATCH_NOT_NULL,
    DEAL_VIEW_PATCH_NOT_NULL,
    CategoryValue,
    DealContactIn,
    DealContactOut,
    DealIn,
    DealOut,
    DealPage,
    DealPatch,
    DealViewIn,
    DealViewOut,
    DealViewPatch,
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


# ---------------------------------------------------------------- saved views (before /deals/{deal_id})

def _view_out(view, default_id):
    return {"id": view.pk, "name": view.name, "owner_id": view.owner_id, "visibility": view.visibility,
            "team_id": view.team_id, "filters": view.filters, "is_default": view.pk == default_id}


@router.get("/deals/views", response={200: list[DealViewOut], **READ_ERRORS})
def list_deal_views(request):
    """Saved views of the deal board and list you can see: yours, your team's, everyone's."""
    default_id = saved_views.default_view_id(request.auth)
    return [_view_out(v, default_id) for v in saved_views.deal_views_for(request.auth)]


@router.post("/deals/views", response={201: DealViewOut, **ERRORS})
def create_deal_view(request, payload: DealViewIn):
    view = saved_views.deal_view_create(actor=request.auth, name=payload.name, filters=payload.filters,
                                        visibility=payload.visibility, make_default=payload.is_default)
    return Status(201, _view_out(view, saved_views.default_view_id(request.auth)))


@router.get("/deals/views/{view_id}", response={200: DealViewOut, **READ_ERRORS})
def get_deal_view(request, view_id: int = PathId):
    view = saved_views.deal_view_get(user=request.auth, pk=view_id)
    return _view_out(view, saved_views.default_view_id(request.auth))


@router.patch("/deals/views/{view_id}", response={200: DealViewOut, **ERRORS})
def update_deal_view(request, payload: DealViewPatch, view_id: int = PathId):
    view = saved_views.deal_view_get(user=request.auth, pk=view_id)
    view = saved_views.deal_view_update(actor=request.auth, view=view,
                                        data=patch_data(payload, DEAL_VIEW_PATCH_NOT_NULL))
    return _view_out(view, saved_views.default_view_id(request.auth))


@router.delete("/deals/views/{view_id}", response={204: None, **ERRORS})
def delete_deal_view(request, view_id: int = PathId):
    saved_views.deal_view_delete(actor=request.auth, view=saved_views.deal_view_get(user=request.auth, pk=view_id))
    return Status(204, None)


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


@router.get("/deals/{deal_id}/contacts", response={200: list[DealContactOut], **READ_ERRORS})
def list_deal_contacts(request, deal_id: int = PathId):
    """The contact persons of the deal's customer on this deal, with their role."""
    return selectors.deal_contacts(user=request.auth, deal=selectors.deal_get(user=request.auth, pk=deal_id))


@router.post("/deals/{deal_id}/contacts", response={200: DealContactOut, **ERRORS})
def set_deal_contact(request, payload: DealContactIn, deal_id: int = PathId):
    """Add a contact person (or change their role); 422 on `person_id` when the person is not
    a contact of the deal's customer."""
    deal = selectors.deal_get(user=request.auth, pk=deal_id)
    return services.deal_contact_set(actor=request.auth, deal=deal, person_id=payload.person_id, role=payload.role)


@router.delete("/deals/{deal_id}/contacts/{person_id}", response={204: None, **ERRORS})
def remove_deal_contact(request, deal_id: int = PathId, person_id: int = PathId):
    deal = selectors.deal_get(user=request.auth, pk=deal_id)
    services.deal_contact_remove(actor=request.auth, deal=deal, person_id=person_id)
    return Status(204, None)


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

