"""API schemas of the privacy endpoints (django-ninja)."""

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from valuecrm.common.schemas import choices_literal
from valuecrm.privacy.models import Channel, ErasureReason, Purpose, Source

ChannelValue = choices_literal(Channel)
PurposeValue = choices_literal(Purpose)
# "erasure" is written by the erasure itself, never by a client.
SourceValue = Literal[tuple(v for v in Source.values if v != Source.ERASURE)]
ReasonValue = choices_literal(ErasureReason)


class ConsentIn(Schema):
    channel: ChannelValue
    purpose: PurposeValue
    granted: bool
    source: SourceValue = "api"
    text_id: int | None = Field(None, ge=1, le=2**63 - 1)
    reference: str = Field("", max_length=100)


class ConsentRecordOut(Schema):
    id: int
    customer_id: int
    channel: str
    purpose: str
    granted: bool
    recorded_at: datetime
    source: str
    text_id: int | None
    text_version: int | None = None
    reference: str


class ConsentStateOut(Schema):
    channel: str
    purpose: str
    granted: bool
    by_default: bool


class ConsentOut(Schema):
    current: list[ConsentStateOut]
    ledger: list[ConsentRecordOut]


class EraseIn(Schema):
    reason: ReasonValue = "request"


class ErasureOut(Schema):
    id: int
    customer_id: int
    erased_at: datetime
    reason: str
    tables: dict[str, int]
    kept: dict[str, int]
    rows_touched: int
    orders_kept: int
    duration_seconds: float
    already_erased: bool = False
