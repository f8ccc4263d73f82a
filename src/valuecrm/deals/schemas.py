"""API v1 shapes for pipelines, deals, the stage log, the forecast and the pool."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from ninja import Field, Schema
from pydantic import StrictBool

from valuecrm.common.schemas import Day, Id, Money, Text, choices_literal
from valuecrm.deals.models import (
    ContactRole,
    DealSource,
    DealStatus,
    DealViewVisibility,
    ForecastCategory,
    StageKind,
)

StatusValue = choices_literal(DealStatus)
CategoryValue = choices_literal(ForecastCategory)
SourceValue = choices_literal(DealSource)
KindValue = choices_literal(StageKind)
Currency = Annotated[Text, Field(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$")]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Quantity = Annotated[Decimal, Field(max_digits=12, decimal_places=3, gt=0, allow_inf_nan=False)]


class StageOut(Schema):
    id: int
    name: str
    name_zh: str
    position: int
    probability: float
    kind: KindValue
    rotting_days: int | None


class PipelineOut(Schema):
    id: int
    name: str
    name_zh: str
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(obj):
        return list(obj.stages.all())


class DealLineIn(Schema):
    product_id: Id | None = None
    name: Annotated[Text, Field(max_length=200)] = ""
    quantity: Quantity = Decimal("1")
    unit_price: Money | None = None


class DealIn(Schema):
    customer_id: Id
    pipeline_id: Id | None = Field(None, description="Defaults to the first active pipeline.")
    stage_id: Id | None = Field(None, description="An open stage; defaults to the pipeline's first.")
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    amount: Money | None = None
    currency: Currency | None = None
    expected_close_date: Day | None = None
    owner_id: Id | None = None
    source: SourceValue | None = None
    next_step: Annotated[Text, Field(max_length=200)] | None = None
    probability: Probability | None = Field(None, description="A manual probability (0–1); null = predicted.")
    forecast_category: CategoryValue | None = None
    lines: list[DealLineIn] | None = Field(None, max_length=100)


class DealPatch(Schema):
    stage_id: Id | None = None
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    amount: Money | None = None
    currency: Currency | None = None
    expected_close_date: Day | None = None
    owner_id: Id | None = None
    source: SourceValue | None = None
    next_step: Annotated[Text, Field(max_length=200)] | None = None
    probability: Probability | None = Field(None, description="null clears the manual probability.")
    forecast_category: CategoryValue | None = None
    lost_reason_id: Id | None = Field(None, description="Required when moving to a lost stage.")


DEAL_PATCH_NOT_NULL = ("name", "amount", "currency", "source", "forecast_category", "stage_id")


class DealOut(Schema):
    id: int
    customer_id: int
    pipeline_id: int
    stage_id: int
    name: str
    amount: Decimal
    currency: str
    expected_close_date: date | None
    owner_id: int | None
    team_id: int | None
    source: str
    status: StatusValue
    lost_reason: str | None
    next_step: str
    probability: float | None
    predicted_probability: float | None
    forecast_category: CategoryValue
    order_id: int | None
    opened_at: datetime
    closed_at: datetime | None

    @staticmethod
    def resolve_lost_reason(obj):
        return obj.lost_reason.name if obj.lost_reason_id else None


class DealPage(Schema):
    items: list[DealOut]
    next_cursor: str | None = None


class StageLogOut(Schema):
    from_stage_id: int | None
    to_stage_id: int
    changed_at: datetime
    changed_by_id: int | None


class ForecastRowOut(Schema):
    owner_id: int | None = Field(..., description="null on the total row")
    weighted: Decimal
    pipeline: Decimal
    best_case: Decimal
    commit: Decimal
    closed: Decimal
    quota: Decimal | None
    attainment: float | None
    pipeline_ltv: Decimal = Field(..., description="Σ probability × (amount + the customer's 12-month CLV)")
    n_open: int


class ForecastOut(Schema):
    period: str
    start: date
    end: date
    rows: list[ForecastRowOut]


class PoolCustomerOut(Schema):
    id: int
    name: str
    tier: str | None
    clv: Decimal | None

    @staticmethod
    def resolve_tier(obj):
        value = getattr(obj, "value", None) if hasattr(obj, "value") else None
        return value.tier if value else None

    @staticmethod
    def resolve_clv(obj):
        value = getattr(obj, "value", None) if hasattr(obj, "value") else None
        return value.clv if value else None


class PoolPage(Schema):
    items: list[PoolCustomerOut]
    next_cursor: str | None = None


class ReleaseIn(Schema):
    reason: Annotated[Text, Field(min_length=1, max_length=200)]


class PoolMoveOut(Schema):
    customer_id: int
    kind: str
    user_id: int | None
    reason: str
    at: datetime


ContactRoleValue = choices_literal(ContactRole)
VisibilityValue = choices_literal(DealViewVisibility)


class DealContactIn(Schema):
    person_id: Id = Field(..., description="A contact person of the deal's customer (their company).")
    role: ContactRoleValue = ContactRole.USER


class DealContactOut(Schema):
    person_id: int
    name: str
    role: ContactRoleValue

    @staticmethod
    def resolve_name(obj):
        return obj.person.name


ViewFilters = Annotated[dict[str, Annotated[Text, Field(max_length=100)]],
                        Field(description="Deal list/board query parameters: pipeline, status, owner, team, "
                                          "customer, close_from, close_to, amount_min, amount_max, tier, "
                                          "lifecycle, category, q.", max_length=20)]


class DealViewIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    filters: ViewFilters = Field(default_factory=dict)
    visibility: VisibilityValue = DealViewVisibility.PRIVATE
    is_default: StrictBool = False


class DealViewPatch(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    filters: ViewFilters | None = None
    visibility: VisibilityValue | None = None
    is_default: StrictBool | None = Field(None, description="Your own default view of the board and list.")


DEAL_VIEW_PATCH_NOT_NULL = ("name", "filters", "visibility", "is_default")


class DealViewOut(Schema):
    id: int
    name: str
    owner_id: int
    visibility: VisibilityValue
    team_id: int | None
    filters: dict[str, str]
    is_default: bool = False
