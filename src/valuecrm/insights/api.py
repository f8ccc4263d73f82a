"""API v1: customer value, value history, KPIs and scoring runs (thin: selectors/services do the work)."""


from django.db import transaction
from django.utils.translation import gettext as _
from ninja import Path, Query, Router

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common.errors import NotFound
from valuecrm.common.schemas import MAX_ID, Day, ProblemOut
from valuecrm.insights import selectors
from valuecrm.insights.schemas import KpiOut, ScoreRunIn, ScoreRunOut, ValueHistoryOut, ValueOut
from valuecrm.insights.services import ensure_not_running, score_run_create
from valuecrm.insights.services.kpis import kpis

router = Router(tags=["customer value"])

READ_ERRORS = {404: ProblemOut, 422: ProblemOut}
WRITE_ERRORS = {403: ProblemOut, 409: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)


@router.get("/customers/{customer_id}/value", response={200: ValueOut, **READ_ERRORS})
def customer_value(request, customer_id: int = PathId):
    """Current CLV, P(alive), churn risk, RFM, tier, stage and next-best action of a customer."""
    value = selectors.value_of(request.user, customer_id)
    if value is None:
        raise NotFound(_("This customer has not been scored yet."))
    data = selectors.value_summary(value)
    return {
        "customer_id": customer_id,
        **{k: data[k] for k in ("as_of", "clv", "historical_revenue", "p_alive", "expected_purchases_90d",
                                "churn_risk", "value_at_risk", "tier", "stage", "stage_since",
                                "is_value_customer")},
        "rfm": {k: data["rfm"][k] for k in ("r", "f", "m", "segment")},
        "value_reasons": [r["code"] for r in data["value_reasons"]],
        "next_best_action": data["next_best_action"],
    }


@router.get("/customers/{customer_id}/value/history", response={200: ValueHistoryOut, **READ_ERRORS})
def customer_value_history(request, customer_id: int = PathId, limit: int = Query(24, ge=1, le=366)):
    """One point per scoring date (oldest first) and the customer's stage path."""
    points = selectors.value_history(request.user, customer_id, limit=limit)
    path = [{"from_stage": s["from"], "to_stage": s["to"], "changed_on": s["on"]}
            for s in selectors.stage_path(customer_id)]
    return {"customer_id": customer_id, "points": points, "stage_path": path}


@router.get("/kpis", response={200: KpiOut, **READ_ERRORS})
def customer_kpis(request, start: Day | None = None, end: Day | None = None):
    """Customer KPIs for [start, end] (default: the last 30 days) and the period before it."""
    return kpis(request.user, start, end)


@router.get("/score-runs", response={200: list[ScoreRunOut]})
def score_run_list(request, limit: int = Query(50, ge=1, le=200)):
    """Recent scoring runs, newest first, with model parameters and holdout results."""
    return list(selectors.score_runs(limit=limit))


@router.post("/score-runs", response={202: ScoreRunOut, **WRITE_ERRORS})
def score_run_start(request, payload: ScoreRunIn):
    """Queue a scoring run (administrators and analysts). The worker executes it."""
    user = request.user
    require(user, Capability.SCORING_RUN, _("Only administrators and analysts can start a scoring run."))
    from valuecrm.insights.tasks import score_run_task

    ensure_not_running()
    run = score_run_create(as_of=payload.as_of, unit=payload.unit, model_choice=payload.model_choice,
                           requested_by=user)
    transaction.on_commit(lambda: score_run_task(run.pk))
    run.refresh_from_db()
    return 202, run
