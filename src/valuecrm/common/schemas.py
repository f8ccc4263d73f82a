"""API input and problem shapes shared by every app's schemas (django-ninja / pydantic).

Input types bound every value the database would otherwise reject (lengths,
digits, id ranges, enum members, NUL bytes, far-off dates), so bad input is a 422
naming the field and never reaches the database as a 500. The patterns the date
types publish in the OpenAPI spec are exactly what the server accepts.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from valuecrm.common.datetimes import (
    ISO_DATE_PATTERN,
    ISO_DATETIME_PATTERN,
    iso_date_from_text,
    iso_datetime_from_text,
)
from valuecrm.common.money import MONEY_DIGITS, MONEY_PLACES

# Largest value of a 64-bit signed primary key (SQLite and PostgreSQL bigint).
MAX_ID = 2**63 - 1


def _storable(text: str) -> str:
    # PostgreSQL refuses NUL bytes and no database stores lone UTF-16 surrogates.
    if "\x00" in text:
        raise ValueError("Null characters are not allowed.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Invalid characters (lone surrogates).") from None
    return text


def _date_or_datetime(raw) -> date | datetime:
    # A bare YYYY-MM-DD stays a date (filters read it as the whole local day).
    if isinstance(raw, str) and len(raw) == 10:
        return iso_date_from_text(raw)
    return iso_datetime_from_text(raw)


Text = Annotated[str, AfterValidator(_storable)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Day = Annotated[date, BeforeValidator(iso_date_from_text), WithJsonSchema(
    {"type": "string", "pattern": f"^{ISO_DATE_PATTERN}$", "example": "2026-05-03",
     "description": "YYYY-MM-DD, 1900-01-01 .. 2200-12-31."})]
Moment = Annotated[datetime, BeforeValidator(iso_datetime_from_text), WithJsonSchema(
    {"type": "string", "pattern": f"^{ISO_DATETIME_PATTERN}$", "example": "2026-05-03T14:30:00+08:00",
     "description": "ISO 8601 date/time (naive = site time zone), years 1900 .. 2200."})]
DayOrMoment = Annotated[date | datetime, BeforeValidator(_date_or_datetime), WithJsonSchema(
    {"type": "string", "pattern": f"^{ISO_DATETIME_PATTERN}$", "example": "2026-05-03",
     "description": "A date (YYYY-MM-DD) or an ISO 8601 date/time, years 1900 .. 2200."})]
Money = Annotated[Decimal, Field(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, ge=0,
                                 allow_inf_nan=False)]


def choices_literal(choices):
    """A Literal of a TextChoices' values: the OpenAPI schema lists them as an enum."""
    return Literal[tuple(choices.values)]


class ProblemOut(Schema):
    """RFC 9457 problem details; `errors` maps a field to its messages."""

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    errors: dict[str, list[str]] | None = None
