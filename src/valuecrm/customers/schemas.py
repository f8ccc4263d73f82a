"""API v1 shapes for customers and their timeline (django-ninja / pydantic).

Input schemas bound every value the database would otherwise reject (lengths,
digits, id ranges, enum members, NUL bytes), so bad input is a 422 naming the
field and never reaches the database as a 500. Business rules stay in services.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import StrictBool

from valuecrm.common.schemas import (  # noqa: F401 - the names other apps' schemas used from here
    MAX_ID,
    Day,
    Id,
    Moment,
    Money,
    ProblemOut,
    Text,
    choices_literal,
)
from valuecrm.customers.models import (
    AcquisitionChannel,
    AgeBand,
    ContactPointKind,
    CustomerKind,
    Direction,
    Gender,
    IncomeBand,
    InteractionKind,
    PreferredLanguage,
)

KindValue = choices_literal(CustomerKind)
GenderValue = choices_literal(Gender)
AgeBandValue = choices_literal(AgeBand)
IncomeBandValue = choices_literal(IncomeBand)
LanguageValue = choices_literal(PreferredLanguage)
ChannelValue = choices_literal(AcquisitionChannel)
ContactKindValue = choices_literal(ContactPointKind)
InteractionKindValue = choices_literal(InteractionKind)
DirectionValue = choices_literal(Direction)
CustomValue = Text | int | float | bool | None


# ---------------------------------------------------------------- customers

class CustomerIn(Schema):
    kind: KindValue = CustomerKind.PERSON.value
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    company_id: Id | None = None
    job_title: Annotated[Text, Field(max_length=100)] = ""
    email: Annotated[Text, Field(max_length=254)] = ""
    phone: Annotated[Text, Field(max_length=40)] = ""
    birthday: Day | None = None
    gender: GenderValue = ""
    age_band: AgeBandValue = ""
    occupation: Annotated[Text, Field(max_length=100)] = ""
    income_band: IncomeBandValue = ""
    region: Annotated[Text, Field(max_length=100)] = ""
    city: Annotated[Text, Field(max_length=100)] = ""
    preferred_language: LanguageValue = Field("", description='"zh-hans", "en" or "" (the shop default).')
    acquisition_source: Annotated[Text, Field(max_length=100)] = ""
    acquisition_channel: ChannelValue = ""
    acquisition_cost: Money = Decimal("0")
    acquired_at: Moment | None = None
    owner_id: Id | None = Field(None, description="Defaults to you. Managers may assign others.")
    team_id: Id | None = Field(None, description="Defaults to the owner's team.")
    tags: list[Annotated[Text, Field(max_length=50)]] = Field(default_factory=list, max_length=100)
    custom_fields: dict[Annotated[Text, Field(max_length=50)], CustomValue] = Field(
        default_factory=dict, description="Keys are custom field definitions' keys."
    )
    consent_email: StrictBool = False
    consent_sms: StrictBool = False
    consent_phone: StrictBool = False
    consent_wechat: StrictBool = False
    source: Annotated[Text, Field(max_length=50)] = ""
    external_id: Annotated[Text, Field(max_length=100)] = ""


class CustomerPatch(Schema):
    """Only the fields sent are changed; `tags` replaces the whole set;
    `custom_fields` are merged (send null for a key to clear it)."""

    kind: KindValue | None = None
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    company_id: Id | None = None
    job_title: Annotated[Text, Field(max_length=100)] | None = None
    email: Annotated[Text, Field(max_length=254)] | None = None
    phone: Annotated[Text, Field(max_length=40)] | None = None
    birthday: Day | None = None
    gender: GenderValue | None = None
    age_band: AgeBandValue | None = None
    occupation: Annotated[Text, Field(max_length=100)] | None = None
    income_band: IncomeBandValue | None = None
    region: Annotated[Text, Field(max_length=100)] | None = None
    city: Annotated[Text, Field(max_length=100)] | None = None
    preferred_language: LanguageValue | None = None
    acquisition_source: Annotated[Text, Field(max_length=100)] | None = None
    acquisition_channel: ChannelValue | None = None
    acquisition_cost: Money | None = None
    acquired_at: Moment | None = None
    owner_id: Id | None = None
    team_id: Id | None = None
    tags: list[Annotated[Text, Field(max_length=50)]] | None = Field(None, max_length=100)
    custom_fields: dict[Annotated[Text, Field(max_length=50)], CustomValue] | None = None
    consent_email: StrictBool | None = None
    consent_sms: StrictBool | None = None
    consent_phone: StrictBool | None = None
    consent_wechat: StrictBool | None = None
    source: Annotated[Text, Field(max_length=50)] | None = None
    external_id: Annotated[Text, Field(max_length=100)] | None = None


# Fields that may not be null even in a PATCH (null would mean "no value" for a
# required or boolean column); the endpoint answers 422 for them instead.
PATCH_NOT_NULL = ("kind", "name", "acquisition_cost", "consent_email", "consent_sms",
                  "consent_phone", "consent_wechat", "tags", "custom_fields")


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    company_id: int | None
    job_title: str
    email: str
    phone: str
    birthday: date | None
    gender: str
    age_band: str
    occupation: str
    income_band: str
    region: str
    city: str
    preferred_language: str = ""
    acquisition_source: str
    acquisition_channel: str
    acquisition_cost: Decimal
    acquired_at: datetime | None
    owner_id: int | None
    team_id: int | None
    tags: list[str]
    custom_fields: dict[str, Any]
    consent_email: bool
    consent_sms: bool
    consent_phone: bool
    consent_wechat: bool
    source: str
    external_id: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None

    @staticmethod
    def resolve_tags(obj) -> list[str]:
        return [tag.name for tag in obj.tags.all()]


class ContactWarningOut(Schema):
    code: str = Field(description='"email_in_use" or "phone_in_use".')
    field: str
    value: str
    customer_id: int = Field(description="The other customer holding this value.")
    customer_name: str
    detail: str


class CustomerWriteOut(CustomerOut):
    """A created or updated customer, with warnings that did not stop the write."""

    warnings: list[ContactWarningOut] = Field(
        default_factory=list,
        description="Other customers (visible to you) that already have this phone or e-mail: "
                    "possibly the same customer. The write succeeded; merge them if so.")


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class FieldChangeOut(Schema):
    field: str
    before: str
    after: str


class HistoryEntryOut(Schema):
    when: datetime
    who: str
    subject: str
    action: Literal["created", "changed", "deleted"]
    changes: list[FieldChangeOut]
    via: str = Field("", description="How the change came in, in the request's language.")
    reason: str = Field("", description='Machine form: "web", "api", "cli", "import:<run id>", '
                        '"import-undo:<run id>", "merge:<customer id>", "merge-undo:<customer id>", '
                        '"automation", "baseline" (the stored row before its first tracked change).')


# ---------------------------------------------------------------- contact points and notes

class ContactPointIn(Schema):
    kind: ContactKindValue
    value: Annotated[Text, Field(min_length=1, max_length=254)]
    label: Annotated[Text, Field(max_length=50)] = ""
    is_primary: StrictBool = False


class ContactPointOut(Schema):
    id: int
    customer_id: int
    kind: str
    value: str
    label: str
    is_primary: bool
    created_at: datetime


class NoteIn(Schema):
    customer_id: Id
    body: Annotated[Text, Field(min_length=1, max_length=20000)]


class NoteOut(Schema):
    id: int
    customer_id: int
    author_id: int | None
    body: str
    created_at: datetime


class NotePage(Schema):
    items: list[NoteOut]
    next_cursor: str | None = None


# ---------------------------------------------------------------- interactions

class InteractionIn(Schema):
    customer_id: Id
    kind: InteractionKindValue
    direction: DirectionValue = Direction.OUTBOUND.value
    occurred_at: Moment | None = Field(None, description="Defaults to now.")
    subject: Annotated[Text, Field(max_length=200)] = ""
    body: Annotated[Text, Field(max_length=20000)] = ""


class InteractionPatch(Schema):
    kind: InteractionKindValue | None = None
    direction: DirectionValue | None = None
    occurred_at: Moment | None = None
    subject: Annotated[Text, Field(max_length=200)] | None = None
    body: Annotated[Text, Field(max_length=20000)] | None = None


class InteractionOut(Schema):
    id: int
    customer_id: int
    kind: str
    direction: str
    occurred_at: datetime
    author_id: int | None
    subject: str
    body: str
    created_at: datetime


class InteractionPage(Schema):
    items: list[InteractionOut]
    next_cursor: str | None = None


# ---------------------------------------------------------------- tasks

class TaskIn(Schema):
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    description: Annotated[Text, Field(max_length=20000)] = ""
    due_at: Moment | None = None
    customer_id: Id | None = None
    assignee_id: Id | None = Field(None, description="Defaults to you.")


class TaskPatch(Schema):
    title: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[Text, Field(max_length=20000)] | None = None
    due_at: Moment | None = None
    customer_id: Id | None = None
    assignee_id: Id | None = None
    done: StrictBool | None = None


class TaskOut(Schema):
    id: int
    title: str
    description: str
    due_at: datetime | None
    customer_id: int | None
    assignee_id: int | None
    created_by_id: int | None
    done: bool
    done_at: datetime | None
    created_at: datetime


class TaskPage(Schema):
    items: list[TaskOut]
    next_cursor: str | None = None
