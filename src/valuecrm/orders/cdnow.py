"""Import the public CDNOW transaction log (Fader & Hardie) as customers and orders.

Two layouts exist, told apart by their column count:

- master (`CDNOW_master.txt`): customer id, yyyymmdd, number of CDs, dollars — with
  or without a header line;
- sample (`CDNOW_sample.txt`): master id, sample id, yyyymmdd, CDs, dollars.

Customers are keyed by the master id, so the sample and the master file land on
the same customers. An order's external id is "<customer>-<yyyymmdd>-<n>", n
counting that customer's rows on that day in file order, so importing the same
file again (or the sample after the master) adds nothing. The whole file is
validated before anything is written, and written in one transaction.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from valuecrm.common.errors import ValidationFailed
from valuecrm.common.money import quantize
from valuecrm.customers import search_index
from valuecrm.customers.models import Customer, CustomerKind
from valuecrm.orders.models import Order, OrderChannel, OrderLine, OrderStatus

CDNOW_CURRENCY = "USD"
FORMATS = {4: "master", 5: "sample"}
MAX_REPORTED_ERRORS = 20
BATCH = 2000


@dataclass(frozen=True)
class CdnowRow:
    line: int
    customer: str  # zero-padded master id, e.g. "00004"
    day: date
    cds: int
    dollars: Decimal


@dataclass(frozen=True)
class CdnowImportResult:
    file_format: str
    rows: int
    customers_created: int
    orders_created: int
    orders_existing: int


def cdnow_parse(lines: Iterable[str]) -> tuple[str, list[CdnowRow]]:
    """Parse and validate every line; raises ValidationFailed naming each bad line."""
    file_format: str | None = None
    width = 0
    first_line = True
    rows: list[CdnowRow] = []
    errors: dict[str, list[str]] = {}
    for number, raw in enumerate(lines, start=1):
        parts = raw.split()
        if not parts:
            continue
        if first_line:
            first_line = False
            if not any(_numeric(part) for part in parts):
                continue  # the master file's optional header line
        if file_format is None:
            if len(parts) not in FORMATS:
                raise ValidationFailed(
                    f"line {number}: expected 4 columns (master) or 5 columns (sample), "
                    f"found {len(parts)}",
                    errors={f"line {number}": [f"expected 4 or 5 columns, found {len(parts)}"]},
                )
            width, file_format = len(parts), FORMATS[len(parts)]
        try:
            rows.append(_row(number, parts, width))
        except ValueError as exc:
            if len(errors) < MAX_REPORTED_ERRORS:
                errors[f"line {number}"] = [str(exc)]
            else:
                errors.setdefault("more", ["further malformed lines not listed"])
    if errors:
        first = next(iter(errors.items()))
        raise ValidationFailed(
            f"The CDNOW file has malformed lines; nothing was imported ({first[0]}: {first[1][0]})",
            errors=errors,
        )
    if file_format is None:
        raise ValidationFailed("The CDNOW file has no transactions", errors={"file": ["empty"]})
    return file_format, rows


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


def _row(number: int, parts: list[str], width: int) -> CdnowRow:
    if len(parts) != width:
        raise ValueError(f"expected {width} columns like the first row, found {len(parts)}")
    customer_raw = parts[0]
    day_raw, cds_raw, dollars_raw = parts[-3:]
    if not customer_raw.isdigit():
        raise ValueError(f"customer id {customer_raw!r} is not a number")
    if width == 5 and not parts[1].isdigit():
        raise ValueError(f"sample id {parts[1]!r} is not a number")
    try:
        if len(day_raw) != 8 or not day_raw.isdigit():
            raise ValueError
        day = date(int(day_raw[:4]), int(day_raw[4:6]), int(day_raw[6:]))
    except ValueError:
        raise ValueError(f"date {day_raw!r} is not a yyyymmdd date") from None
    if not cds_raw.isdigit():
        raise ValueError(f"number of CDs {cds_raw!r} is not a whole number ≥ 0")
    try:
        dollars = Decimal(dollars_raw)
    except InvalidOperation:
        raise ValueError(f"dollar value {dollars_raw!r} is not a number") from None
    if not dollars.is_finite() or dollars < 0:
        raise ValueError(f"dollar value {dollars_raw!r} must be a number ≥ 0")
    return CdnowRow(number, f"{int(customer_raw):05d}", day, int(cds_raw), quantize(dollars))


def cdnow_read(path: Path) -> tuple[str, list[CdnowRow]]:
    try:
        with open(path, encoding="ascii") as handle:
            return cdnow_parse(handle)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The CDNOW file is not plain text", errors={"file": [str(exc)]}
        ) from None


def cdnow_import(path: Path | str, *, source: str = "cdnow") -> CdnowImportResult:
    """Import a CDNOW log file; re-importing the same file changes nothing."""
    source = source.strip()
    if not source:
        raise ValidationFailed("The source name must not be empty", errors={"source": ["required"]})
    file_format, rows = cdnow_read(Path(path))
    tz = ZoneInfo(settings.TIME_ZONE)
    noon = dtime(12, 0)

    # External ids in file order: the n-th row of a customer on a day is "-n".
    per_day: dict[tuple[str, date], int] = {}
    keyed = []
    for row in rows:
        n = per_day[(row.customer, row.day)] = per_day.get((row.customer, row.day), 0) + 1
        keyed.append((f"{row.customer}-{row.day:%Y%m%d}-{n}", row))

    with transaction.atomic():
        customer_ids = dict(
            Customer.objects.filter(source=source).exclude(external_id="")
            .values_list("external_id", "id")
        )
        first_seen: dict[str, datetime] = {}
        for row in rows:
            moment = datetime.combine(row.day, noon, tz)
            if row.customer not in first_seen or moment < first_seen[row.customer]:
                first_seen[row.customer] = moment
        new_customers = [
            Customer(kind=CustomerKind.PERSON, name=f"CDNOW {cid}", source=source, external_id=cid,
                     acquired_at=first, created_at=first)
            for cid, first in sorted(first_seen.items()) if cid not in customer_ids
        ]
        created = Customer.objects.bulk_create(new_customers, batch_size=BATCH)
        for customer in created:
            customer_ids[customer.external_id] = customer.pk
        search_index.refresh([c.pk for c in created], [c.name for c in created])

        existing = set(Order.objects.filter(source=source).values_list("external_id", flat=True))
        todo = [(external_id, row) for external_id, row in keyed if external_id not in existing]
        orders = [
            Order(customer_id=customer_ids[row.customer], source=source, external_id=external_id,
                  channel=OrderChannel.ONLINE, status=OrderStatus.PAID,
                  placed_at=datetime.combine(row.day, noon, tz), currency=CDNOW_CURRENCY,
                  total_amount=row.dollars, created_at=datetime.combine(row.day, noon, tz))
            for external_id, row in todo
        ]
        Order.objects.bulk_create(orders, batch_size=BATCH)
        # The order total is the file's exact dollar value; the line carries the
        # average price per CD (rounded to cents) — CDNOW does not record single titles.
        lines = [
            OrderLine(order_id=order.pk, sku="CD", name="CDs", quantity=row.cds,
                      unit_price=quantize(row.dollars / row.cds) if row.cds else row.dollars)
            for order, (_, row) in zip(orders, todo, strict=True)
        ]
        OrderLine.objects.bulk_create(lines, batch_size=BATCH)

    return CdnowImportResult(
        file_format=file_format, rows=len(rows), customers_created=len(new_customers),
        orders_created=len(orders), orders_existing=len(keyed) - len(orders),
    )
