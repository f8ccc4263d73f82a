"""API shapes for customer value, scoring runs and KPIs."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema

from valuecrm.common.schemas import Day


class RfmOut(Schema):
    r: int
    f: int
    m: int
    segment: str


class ActionOut(Schema):
    code: str
    text: str
    reason: str


class ValueOut(Schema):
    customer_id: int
    as_of: date
    clv: Decimal
    historical_revenue: Decimal
    p_alive: float | None
    expected_purchases_90d: float
    churn_risk: float | None
    value_at_risk: Decimal
    rfm: RfmOut
    tier: str
    stage: str
    stage_since: date | None
    is_value_customer: bool
    value_reasons: list[str]
    next_best_action: ActionOut


class ValuePointOut(Schema):
    as_of: date
    clv: Decimal
    p_alive: float | None
    churn_risk: float | None
    value_at_risk: Decimal
    expected_purchases_90d: float
    tier: str
    stage: str
    segment: str


class StageStepOut(Schema):
    from_stage: str
    to_stage: str
    changed_on: date


class ValueHistoryOut(Schema):
    customer_id: int
    points: list[ValuePointOut]
    stage_path: list[StageStepOut]


class ScoreRunIn(Schema):
    as_of: Day | None = None
    unit: Literal["D", "W"] = "D"
    model_choice: Literal["auto", "bgnbd", "paretonbd"] = "auto"


class ScoreRunOut(Schema):
    id: int
    status: str
    as_of: date
    unit: str
    model_choice: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    progress: int
    current_step: str
    error: str
    transaction_model: str
    model_params: dict[str, float | None]
    model_standard_errors: dict[str, float | None]
    model_log_likelihood: float | None
    holdout_comparison: list[dict[str, Any]]
    churn_metrics: dict[str, Any]
    data_start: date | None
    data_end: date | None
    calibration_end: date | None
    n_customers: int
    n_buyers: int
    n_orders: int
    n_alerts: int
    n_stage_changes: int
    customer_equity: Decimal


class KpiOut(Schema):
    period: dict[str, Any]
    previous_period: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    equity: dict[str, Any]
    cac_by_channel: list[dict[str, Any]]
    cohort_retention: dict[str, Any]
    lifecycle_funnel: list[dict[str, Any]]
    stage_flow: list[dict[str, Any]]
    rfm_heatmap: list[dict[str, Any]]
    clv_histogram: dict[str, Any]
