"""Privacy events (registered in the shared catalogue by subclassing Event). Ids and
codes only: an event about an erasure must not carry what was erased."""

from dataclasses import dataclass
from typing import ClassVar

from valuecrm.common.events import Event


@dataclass(frozen=True, kw_only=True)
class ConsentRecorded(Event):
    name: ClassVar[str] = "consent.recorded"
    record_id: int
    channel: str
    purpose: str
    granted: bool
    source: str


@dataclass(frozen=True, kw_only=True)
class ConsentTextPublished(Event):
    name: ClassVar[str] = "consent.text_published"
    text_id: int
    purpose: str
    version: int


@dataclass(frozen=True, kw_only=True)
class PersonalDataExported(Event):
    name: ClassVar[str] = "customer.personal_data_exported"
    export_id: int
    file_format: str


@dataclass(frozen=True, kw_only=True)
class CustomerErased(Event):
    name: ClassVar[str] = "customer.erased"
    erasure_id: int
    rows_touched: int
