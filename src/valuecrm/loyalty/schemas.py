"""API v1 shapes of the loyalty programme. Points are integers; amounts are Decimal CNY."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import StrictBool, StrictInt

from valuecrm.common.schemas import Day, Id, Text

Points = Annotated[StrictInt, Field(ge=-10**8, le=10**8)]
Count = Annotated[StrictInt, Field(ge=0, le=100_000)]


class ProgramOut(Schema):
    effective_from: date
    enabled: bool
    auto_enrol: bool
    points_per_cny: Decimal
    rounding: str
    category_multipliers: dict[str, Decimal]
    birthday_multiplier: Decimal
    first_order_bonus: int
    point_value_cny: Decimal
    redeem_min_points: int
    redeem_max_share: Decimal
    expiry_mode: str
    expiry_days: int
    escrow_days: int
    tier_window_days: int
    tier_grace_days: int
    referral_referrer_points: int
    referral_referee_points: int
    referral_monthly_cap: int
    vip_care_days: int


class ProgramPatch(Schema):
    """Only what is sent changes; the result is a new version of the rules from ``effective_from``."""

    effective_from: Day | None = None
    enabled: StrictBool | None = None
    auto_enrol: StrictBool | None = None
    points_per_cny: Annotated[Decimal, Field(ge=0, le=1000, allow_inf_nan=False)] | None = None
    rounding: Literal["floor", "nearest"] | None = None
    category_multipliers: dict[Annotated[Text, Field(min_length=1, max_length=100)],
                               Annotated[Decimal, Field(ge=0, le=10, allow_inf_nan=False)]] | None = None
    birthday_multiplier: Annotated[Decimal, Field(ge=0, le=10, allow_inf_nan=False)] | None = None
    first_order_bonus: Count | None = None
    point_value_cny: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    redeem_min_points: Count | None = None
    redeem_max_share: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    expiry_mode: Literal["days", "end_of_next_year"] | None = None
    expiry_days: Count | None = None
    escrow_days: Count | None = None
    tier_window_days: Count | None = None
    tier_grace_days: Count | None = None
    referral_referrer_points: Count | None = None
    referral_referee_points: Count | None = None
    referral_monthly_cap: Count | None = None
    vip_care_days: Count | None = None


class AccountOut(Schema):
    customer_id: int
    member: bool
    balance: int
    pending: int
    tier: str | None
    tier_name: str | None
    lifetime_earned: int
    expiring_30d: int
    next_tier: str | None
    points_to_next_tier: int
    referral_code: str
    balance_value_cny: Decimal


class EntryOut(Schema):
    id: int
    kind: str
    points: int
    pending: int
    at: datetime
    expires_at: datetime | None
    order_id: int | None
    reference: str
    reason: str


class EntryPage(Schema):
    items: list[EntryOut]
    next_cursor: str | None = None


class RedeemIn(Schema):
    customer_id: Id
    points: Annotated[StrictInt, Field(ge=1, le=10**8)]
    reference: Annotated[Text, Field(min_length=1, max_length=100)]
    order_total: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)] | None = None


class AdjustIn(Schema):
    customer_id: Id
    points: Points = Field(..., description="Non-zero; negative deducts (the balance may go negative).")
    reason: Annotated[Text, Field(min_length=1, max_length=300)]


class ReferralIn(Schema):
    customer_id: Id = Field(..., description="The referred customer.")
    code: Annotated[Text, Field(min_length=1, max_length=12)]


class ReferralOut(Schema):
    id: int
    referrer_customer_id: int
    referee_customer_id: int
    status: str
    order_id: int | None
    order_total: Decimal
    rewarded_at: datetime | None
