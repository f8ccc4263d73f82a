"""The forecast for a period (month "2027-03" or quarter "2027-Q1") per owner: weighted
pipeline (amount × probability), the categories, quota and attainment, pipeline lifetime
value, and the accuracy of the weekly snapshots against what actually closed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from valuecrm.deals.models import Deal, DealStatus, ForecastCategory, ForecastSnapshot, Quota
from valuecrm.deals.selectors import EFFECTIVE_P

_PERIOD = re.compile(r"^(\d{4})-(?:Q([1-4])|(0[1-9]|1[0-2]))$")


def parse_period(period: str) -> tuple[date, date]:
    """(first day, day after the last) of "2027-Q1" or "2027-03"."""
    m = _PERIOD.match(period or "")
    if not m or not 2000 <= int(m.group(1)) <= 2100:
        raise ValueError(period)
    year = int(m.group(1))
    if m.group(2):
        q = int(m.group(2))
        start = date(year, 3 * q - 2, 1)
        end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    else:
        month = int(m.group(3))
        start = date(year, month, 1)
        end = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return start, end


def period_of(day: date, kind: str = "quarter") -> str:
    if kind == "month":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def shift_period(period: str, n: int) -> str:
    start, _end = parse_period(period)
    if "Q" in period:
        months = start.month - 1 + 3 * n
        return period_of(date(start.year + months // 12, months % 12 + 1, 1))
    months = start.month - 1 + n
    return period_of(date(start.year + months // 12, months % 12 + 1, 1), "month")


@dataclass
class ForecastRow:
    owner_id: int | None
    owner_name: str
    weighted: Decimal
    pipeline: Decimal
    best_case: Decimal
    commit: Decimal
    closed: Decimal
    quota: Decimal | None
    pipeline_ltv: Decimal
    n_open: int

    @property
    def attainment(self) -> float | None:
        return float(self.closed / self.quota) if self.quota else None


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def _d(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def forecast(*, user, period: str, owner_id: int | None = None) -> list[ForecastRow]:
    """One row per owner of visible deals, and a total row last (owner_id None)."""
    from valuecrm.accounts.models import User

    start, end = parse_period(period)
    visible = Deal.objects.visible_to(user)
    if owner_id:
        visible = visible.filter(owner_id=owner_id)
    open_q = Q(status=DealStatus.OPEN, expected_close_date__gte=start, expected_close_date__lt=end)
    won_q = Q(status=DealStatus.WON, closed_at__gte=_aware(start), closed_at__lt=_aware(end))
    weighted = F("amount") * EFFECTIVE_P
    clv = Coalesce(F("customer__value__clv"), 0, output_field=FloatField())
    rows = visible.filter(open_q | won_q).order_by().values("owner_id").annotate(
        weighted=Sum(weighted, filter=open_q, output_field=FloatField()),
        pipeline=Sum("amount", filter=open_q & Q(forecast_category=ForecastCategory.PIPELINE)),
        best=Sum("amount", filter=open_q & Q(forecast_category__in=[ForecastCategory.BEST_CASE,
                                                                     ForecastCategory.COMMIT])),
        commit=Sum("amount", filter=open_q & Q(forecast_category=ForecastCategory.COMMIT)),
        closed=Sum("amount", filter=won_q),
        ltv=Sum(EFFECTIVE_P * (F("amount") + clv), filter=open_q, output_field=FloatField()),
        n_open=Count("id", filter=open_q),
    )
    quotas = {q.owner_id: q.amount for q in Quota.objects.filter(period=period)}
    names = {u.pk: (u.get_full_name() or u.username)
             for u in User.objects.filter(pk__in=[r["owner_id"] for r in rows if r["owner_id"]])}
    out = []
    for r in rows:
        out.append(ForecastRow(
            r["owner_id"], names.get(r["owner_id"], "—"), _d(r["weighted"]), _d(r["pipeline"]),
            _d(r["best"]), _d(r["commit"]), _d(r["closed"]),
            quotas.get(r["owner_id"]), _d(r["ltv"]), r["n_open"] or 0))
    out.sort(key=lambda r: -r.weighted)
    total_quota = sum((r.quota for r in out if r.quota is not None), Decimal("0"))
    zero = Decimal("0.00")
    out.append(ForecastRow(None, "", sum((r.weighted for r in out), zero), sum((r.pipeline for r in out), zero),
                           sum((r.best_case for r in out), zero), sum((r.commit for r in out), zero),
                           sum((r.closed for r in out), zero), total_quota or None,
                           sum((r.pipeline_ltv for r in out), zero),
                           sum(r.n_open for r in out)))
    return out


@transaction.atomic
def snapshot_take(*, today: date | None = None) -> int:
    """The weekly snapshot of this and next quarter, per owner and in total (as seen by
    everyone); returns how many rows were written. Idempotent per day."""
    from valuecrm.deals.services import pool_actor

    today = today or timezone.localdate()
    everyone = pool_actor()
    written = 0
    for period in (period_of(today), shift_period(period_of(today), 1)):
        for row in forecast(user=everyone, period=period):
            ForecastSnapshot.objects.update_or_create(
                taken_on=today, period=period, owner_id=row.owner_id,
                defaults={"weighted": row.weighted, "commit": row.commit, "best_case": row.best_case,
                          "closed": row.closed})
            written += 1
    return written


def accuracy(*, periods: int = 4, today: date | None = None) -> list[dict]:
    """Per finished quarter: MAPE of the total forecasts snapshotted before the quarter ended vs
    the amount actually won in it — [{"period", "snapshots", "last_snapshot", "actual", "mape"}].

    A snapshot's forecast is what was already won in the quarter plus the weighted open
    pipeline expected to close in it (on day 0 only the latter): MAPE = mean over the
    snapshots of |forecast − actual| / actual. A quarter with no revenue has no MAPE."""
    from valuecrm.deals.services import pool_actor

    today = today or timezone.localdate()
    out = []
    period = shift_period(period_of(today), -1)
    everyone = pool_actor()
    for _ in range(periods):
        start, end = parse_period(period)
        snaps = list(ForecastSnapshot.objects.filter(period=period, owner__isnull=True, taken_on__lt=end)
                     .order_by("taken_on"))
        actual = forecast(user=everyone, period=period)[-1].closed
        if snaps and actual:
            predicted = [s.closed + s.weighted for s in snaps]
            errors = [abs(float(p) - float(actual)) / float(actual) for p in predicted]
            out.append({"period": period, "snapshots": len(snaps), "last_snapshot": predicted[-1],
                        "actual": actual, "mape": sum(errors) / len(errors)})
        period = shift_period(period, -1)
    return out

