"""API v1: segments, message templates, campaigns (launch, members, results) and a
customer's product recommendations. Writes need ``campaigns.send``; the customer
visibility rule bounds segment counts, audiences and recommendations."""

from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from valuecrm.common.errors import Conflict, NotFound
from valuecrm.common.patch import patch_data
from valuecrm.common.schemas import MAX_ID, ProblemOut
from valuecrm.customers.selectors import customer_get
from valuecrm.marketing import selectors, services
from valuecrm.marketing.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    MemberPage,
    RecommendationOut,
    ResultsOut,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
    TemplateIn,
    TemplateOut,
    TemplatePatch,
    UpliftModelOut,
)

router = Router(tags=["marketing"])
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
READ_ERRORS = {404: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)


def _segment_out(user, segment):
    return {"id": segment.pk, "name": segment.name, "filters": segment.filters,
            "count": selectors.segment_count(user, segment), "created_at": segment.created_at}


# ---------------------------------------------------------------- segments

@router.get("/segments", response={200: list[SegmentOut], **READ_ERRORS})
def list_segments(request):
    return [_segment_out(request.auth, s) for s in selectors.segment_list()[:200]]


@router.post("/segments", response={201: SegmentOut, **ERRORS})
def create_segment(request, payload: SegmentIn):
    segment = services.segment_create(actor=request.auth, data=payload.model_dump())
    return Status(201, _segment_out(request.auth, segment))


@router.get("/segments/{segment_id}", response={200: SegmentOut, **READ_ERRORS})
def get_segment(request, segment_id: int = PathId):
    return _segment_out(request.auth, selectors.segment_get(segment_id))


@router.patch("/segments/{segment_id}", response={200: SegmentOut, **ERRORS})
def update_segment(request, payload: SegmentPatch, segment_id: int = PathId):
    segment = selectors.segment_get(segment_id)
    data = patch_data(payload, ("name", "filters"))
    return _segment_out(request.auth, services.segment_update(actor=request.auth, segment=segment, data=data))


@router.delete("/segments/{segment_id}", response={204: None, **ERRORS})
def delete_segment(request, segment_id: int = PathId):
    services.segment_delete(actor=request.auth, segment=selectors.segment_get(segment_id))
    return Status(204, None)


# ---------------------------------------------------------------- templates

@router.get("/templates", response={200: list[TemplateOut], **READ_ERRORS})
def list_templates(request):
    return list(selectors.template_list()[:200])


@router.post("/templates", response={201: TemplateOut, **ERRORS})
def create_template(request, payload: TemplateIn):
    return Status(201, services.template_create(actor=request.auth, data=payload.model_dump()))


@router.get("/templates/{template_id}", response={200: TemplateOut, **READ_ERRORS})
def get_template(request, template_id: int = PathId):
    return selectors.template_get(template_id)


@router.patch("/templates/{template_id}", response={200: TemplateOut, **ERRORS})
def update_template(request, payload: TemplatePatch, template_id: int = PathId):
    template = selectors.template_get(template_id)
    data = patch_data(payload, ("name", "channel", "language", "subject", "body_text", "body_html",
                                "translation_id"))
    return services.template_update(actor=request.auth, template=template, data=data)


@router.delete("/templates/{template_id}", response={204: None, **ERRORS})
def delete_template(request, template_id: int = PathId):
    services.template_delete(actor=request.auth, template=selectors.template_get(template_id))
    return Status(204, None)


# ---------------------------------------------------------------- campaigns

@router.get("/campaigns", response={200: list[CampaignOut], **READ_ERRORS})
def list_campaigns(request):
    return list(selectors.campaign_list()[:200])


@router.post("/campaigns", response={201: CampaignOut, **ERRORS})
def create_campaign(request, payload: CampaignIn):
    return Status(201, services.campaign_create(actor=request.auth, data=payload.model_dump()))


@router.get("/campaigns/{campaign_id}", response={200: CampaignOut, **READ_ERRORS})
def get_campaign(request, campaign_id: int = PathId):
    return selectors.campaign_get(campaign_id)


@router.patch("/campaigns/{campaign_id}", response={200: CampaignOut, **ERRORS})
def update_campaign(request, payload: CampaignPatch, campaign_id: int = PathId):
    campaign = selectors.campaign_get(campaign_id)
    data = patch_data(payload, ("name", "channel", "template_id", "holdout_percent", "attribution_days",
                                "cost", "filters", "ab_test_percent", "ab_wait_hours", "ab_criterion"))
    return services.campaign_update(actor=request.auth, campaign=campaign, data=data)


@router.delete("/campaigns/{campaign_id}", response={204: None, **ERRORS})
def delete_campaign(request, campaign_id: int = PathId):
    services.campaign_delete(actor=request.auth, campaign=selectors.campaign_get(campaign_id))
    return Status(204, None)


@router.post("/campaigns/{campaign_id}/launch", response={200: CampaignOut, **ERRORS})
def launch_campaign(request, campaign_id: int = PathId):
    return services.campaign_launch(actor=request.auth, campaign=selectors.campaign_get(campaign_id))


@router.get("/campaigns/{campaign_id}/members", response={200: MemberPage, **READ_ERRORS})
def list_members(request, campaign_id: int = PathId,
                 group: str | None = Query(None, pattern="^(treatment|control|excluded)$"),
                 cursor: int | None = Query(None, ge=0, le=MAX_ID), limit: int = Query(100, ge=1, le=1000)):
    qs = selectors.campaign_members(selectors.campaign_get(campaign_id), group=group)
    if cursor:
        qs = qs.filter(pk__gt=cursor)
    rows = list(qs.values("pk", "customer_id", "group", "status")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": rows[-1]["pk"] if more else None}


@router.get("/campaigns/{campaign_id}/results", response={200: ResultsOut, **READ_ERRORS, 409: ProblemOut})
def campaign_results(request, campaign_id: int = PathId):
    results = selectors.campaign_results(selectors.campaign_get(campaign_id))
    if results is None:
        raise Conflict(_("The campaign has not been launched yet."))
    return results


# ---------------------------------------------------------------- uplift

@router.get("/marketing/uplift", response={200: UpliftModelOut, **READ_ERRORS})
def uplift_latest(request):
    """The latest uplift model and its evaluation, what the uplift page shows (any signed-in
    user may read it, as the page; training needs campaigns.send)."""
    model = selectors.uplift_model_latest()
    if model is None:
        raise NotFound(_("No uplift model has been trained yet."))
    curve = model.qini_curve or {}
    return {"version": model.version, "trained_at": model.trained_at,
            "trained_by": model.trained_by.username if model.trained_by else None,
            "training_campaign_ids": model.training_campaign_ids,
            "evaluation_campaign_id": model.evaluation_campaign_id,
            "n_train_treatment": model.n_train_treatment, "n_train_control": model.n_train_control,
            "n_eval_treatment": model.n_eval_treatment, "n_eval_control": model.n_eval_control,
            "feature_source": model.feature_source, "qini_coefficient": model.qini_coefficient,
            "auuc": model.auuc,
            "qini_curve": {"fractions": curve.get("fractions", []), "model": curve.get("curve", []),
                           "random": curve.get("random", [])}}


# ---------------------------------------------------------------- recommendations

@router.get("/customers/{customer_id}/recommendations", response={200: list[RecommendationOut], **READ_ERRORS})
def customer_recommendations(request, customer_id: int = PathId, limit: int = Query(10, ge=1, le=50)):
    from valuecrm.marketing import consent

    customer = customer_get(user=request.auth, pk=customer_id)
    if not consent.allows_personalisation(customer):
        return []
    return selectors.recommendations_for(customer, limit=limit)


