from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Schema

from valuecrm.common.schemas import Id, Text

ChannelValue = Literal["email", "sms", "wechat"]
AbCriterionValue = Literal["open_rate", "click_rate", "conversion"]
FilterKey = Annotated[str, Field(min_length=1, max_length=60)]
FilterValue = Annotated[str, Field(max_length=200)]
Filters = Annotated[dict[FilterKey, FilterValue], Field(max_length=30)]


class SegmentIn(Schema):
    name: Text = Field(..., min_length=1, max_length=120)
    filters: Filters = Field(default_factory=dict, description="The customer list's filter keys and values.")


class SegmentPatch(Schema):
    name: Text | None = Field(None, min_length=1, max_length=120)
    filters: Filters | None = None


class SegmentOut(Schema):
    id: int
    name: str
    filters: dict
    count: int = Field(..., description="Customers in the segment now (live), within what you may see.")
    created_at: datetime


class TemplateIn(Schema):
    name: Text = Field(..., min_length=1, max_length=120)
    channel: ChannelValue = "email"
    language: Literal["en", "zh-hans"] = "zh-hans"
    subject: Text = Field("", max_length=200)
    body_text: Text = Field("", max_length=20000)
    body_html: Text = Field("", max_length=100000)
    translation_id: Id | None = Field(None, description="The same message in the other language (same channel); "
                                      "customers who prefer that language receive it. Linked both ways.")


class TemplatePatch(Schema):
    name: Text | None = Field(None, min_length=1, max_length=120)
    channel: ChannelValue | None = None
    language: Literal["en", "zh-hans"] | None = None
    subject: Text | None = Field(None, max_length=200)
    body_text: Text | None = Field(None, max_length=20000)
    body_html: Text | None = Field(None, max_length=100000)
    translation_id: Id | None = Field(None, description="Send null to unlink.")


class TemplateOut(Schema):
    id: int
    name: str
    channel: str
    language: str
    subject: str
    body_text: str
    body_html: str
    translation_id: int | None = None


class CampaignIn(Schema):
    name: Text = Field(..., min_length=1, max_length=120)
    channel: ChannelValue = "email"
    segment_id: Id | None = None
    filters: Filters = Field(default_factory=dict)
    template_id: Id
    holdout_percent: Decimal = Field(Decimal("10"), ge=0, le=50, max_digits=5, decimal_places=2)
    attribution_days: int = Field(14, ge=1, le=365)
    cost: Decimal = Field(Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    # Audience option: only the top N by predicted uplift × CLV (needs a trained uplift model).
    target_top_n: int | None = Field(None, ge=1, le=10_000_000)
    # A/B: 2–4 templates (the first is variant A, the default and template_id's value).
    variant_template_ids: list[Id] | None = Field(None, min_length=2, max_length=4)
    ab_test_percent: Decimal = Field(Decimal("20"), ge=1, le=100, max_digits=5, decimal_places=2)
    ab_wait_hours: int = Field(24, ge=1, le=720)
    ab_criterion: AbCriterionValue = "click_rate"


class CampaignPatch(Schema):
    name: Text | None = Field(None, min_length=1, max_length=120)
    channel: ChannelValue | None = None
    segment_id: Id | None = None
    filters: Filters | None = None
    template_id: Id | None = None
    holdout_percent: Decimal | None = Field(None, ge=0, le=50, max_digits=5, decimal_places=2)
    attribution_days: int | None = Field(None, ge=1, le=365)
    cost: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    target_top_n: int | None = Field(None, ge=1, le=10_000_000)
    variant_template_ids: list[Id] | None = Field(None, min_length=2, max_length=4)
    ab_test_percent: Decimal | None = Field(None, ge=1, le=100, max_digits=5, decimal_places=2)
    ab_wait_hours: int | None = Field(None, ge=1, le=720)
    ab_criterion: AbCriterionValue | None = None


class CampaignOut(Schema):
    id: int
    name: str
    channel: str
    segment_id: int | None
    filters: dict
    template_id: int
    holdout_percent: Decimal
    attribution_days: int
    cost: Decimal
    status: str
    launched_at: datetime | None
    target_top_n: int | None
    uplift_model_id: int | None
    variant_template_ids: list[int]
    ab_test_percent: Decimal
    ab_wait_hours: int
    ab_criterion: str
    ab_winner: str
    ab_decision: dict

    @staticmethod
    def resolve_variant_template_ids(obj) -> list[int]:
        return [v.template_id for v in obj.variants.order_by("label")]


class MemberOut(Schema):
    customer_id: int
    group: Literal["treatment", "control", "excluded"]
    status: str


class MemberPage(Schema):
    items: list[MemberOut]
    next_cursor: int | None


class CupedOut(Schema):
    ci_low: float | None
    ci_high: float | None
    theta: float | None
    width_without: float | None
    width_with: float | None
    width_reduction: float | None


class ResultsOut(Schema):
    enough_data: bool = Field(..., description="False below min_per_group customers in either group.")
    window_complete: bool
    window_end: datetime
    n_treatment: int
    n_control: int
    n_excluded: int
    revenue_per_customer_treatment: float
    revenue_per_customer_control: float
    conversion_treatment: float
    conversion_control: float
    incremental_revenue: float | None
    ci_low: float | None
    ci_high: float | None
    srm_p_value: float
    srm_alarm: bool
    incremental_roas: float | None
    clv_difference: float | None
    cuped: CupedOut
    min_per_group: int


class RecommendationOut(Schema):
    product_id: int
    sku: str
    name: str
    price: Decimal
    score: float


class QiniCurveOut(Schema):
    fractions: list[float] = Field(..., description="Share of customers targeted, 0 to 1.")
    model: list[float] = Field(..., description="Incremental revenue per customer, targeting in the model's order.")
    random: list[float] = Field(..., description="The same for a random order (the diagonal).")


class UpliftModelOut(Schema):
    version: int
    trained_at: datetime
    trained_by: str | None
    training_campaign_ids: list[int]
    evaluation_campaign_id: int | None
    n_train_treatment: int
    n_train_control: int
    n_eval_treatment: int
    n_eval_control: int
    feature_source: str = Field(..., description="snapshot, current or orders_only: where the features came from.")
    qini_coefficient: float = Field(..., description="Area between the model's Qini curve and random, ¥ per customer.")
    auuc: float = Field(..., description="Area under the model's uplift curve, ¥ per customer.")
    qini_curve: QiniCurveOut
