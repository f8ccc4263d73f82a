"""Reads of deals: the filtered list (with cursor paging), the kanban columns and their
totals, the stage log, and a deal's record. Every read starts from
`Deal.objects.visible_to(user)` — the customers' visibility rule over the deal's owner
and team — so the board, the list, the API, search and the export agree."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, ExpressionWrapper, F, FloatField, Func, IntegerField, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.deals.models import (
    Deal,
    DealContact,
    DealStageLog,
    DealStatus,
    ForecastCategory,
    Pipeline,
    Stage,
    StageKind,
)

CLOSED_ON_BOARD_DAYS = 30
CARDS_PER_COLUMN = 20


class Days(Func):
    """A datetime as fractional days since an epoch (for averages in SQL)."""

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="julianday(%(expressions)s)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) / 86400.0)",
                           **extra)


EFFECTIVE_P = Coalesce(F("probability"), F("predicted_probability"), F("stage__probability"))


@dataclass
class DealFilters:
    pipeline_id: int | None = None
    status: str = ""
    owner_id: int | None = None
    team_id: int | None = None
    customer_id: int | None = None
    close_from: date | None = None
    close_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    tier: str = ""
    lifecycle: str = ""
    category: str = ""
    q: str = ""
    errors: dict = field(default_factory=dict)

    FIELDS = ("pipeline", "status", "owner", "team", "customer", "close_from", "close_to", "amount_min",
              "amount_max", "tier", "lifecycle", "category", "q")

    @classmethod
    def from_params(cls, params) -> DealFilters:
        """From a query string (pages and the export); bad values are reported by key."""
        from valuecrm.insights.models import Stage as LifecycleStage
        from valuecrm.insights.models import Tier

        f = cls()

        def integer(key):
            raw = (params.get(key) or "").strip()
            if not raw:
                return None
            if raw.isdigit() and 0 < int(raw) < 2**62:
                return int(raw)
            f.errors[key] = [_("Enter a whole number.")]
            return None

        def day(key):
            raw = (params.get(key) or "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                f.errors[key] = [_("Enter a date as YYYY-MM-DD.")]
                return None

        def money(key):
            raw = (params.get(key) or "").strip()
            if not raw:
                return None
            try:
                value = Decimal(raw)
                if value.is_finite() and 0 <= value < Decimal("1e12"):
                    return value
            except ArithmeticError:
                pass
            f.errors[key] = [_("Enter an amount.")]
            return None

        def choice(key, values):
            raw = (params.get(key) or "").strip()
            if raw and raw not in values:
                f.errors[key] = [_("Not a valid choice.")]
                return ""
            return raw

        f.pipeline_id, f.owner_id, f.team_id = integer("pipeline"), integer("owner"), integer("team")
        f.customer_id = integer("customer")
        f.close_from, f.close_to = day("close_from"), day("close_to")
        f.amount_min, f.amount_max = money("amount_min"), money("amount_max")
        f.status = choice("status", DealStatus.values)
        f.tier = choice("tier", Tier.values)
        f.lifecycle = choice("lifecycle", LifecycleStage.values)
        f.category = choice("category", ForecastCategory.values)
        f.q = (params.get("q") or "").strip()[:100].replace("\x00", "")
        return f

    def q_object(self) -> Q:
        q = Q()
        for attr, lookup in (("pipeline_id", "pipeline_id"), ("owner_id", "owner_id"), ("team_id", "team_id"),
                             ("customer_id", "customer_id"), ("close_from", "expected_close_date__gte"),
                             ("close_to", "expected_close_date__lte"), ("amount_min", "amount__gte"),
                             ("amount_max", "amount__lte"), ("status", "status"),
                             ("tier", "customer__value__tier"), ("lifecycle", "customer__value__stage"),
                             ("category", "forecast_category")):
            value = getattr(self, attr)
            if value not in (None, ""):
                q &= Q(**{lookup: value})
        if self.q:
            q &= Q(name__icontains=self.q) | Q(customer__name__icontains=self.q)
        return q

    def chips(self) -> list[dict]:
        """The active filters as removable chips: [{"key", "label", "value"}]."""
        from valuecrm.accounts.models import Team, User

        labels = {"pipeline": _("Pipeline"), "status": _("Status"), "owner": _("Owner"), "team": _("Team"),
                  "customer": _("Customer"), "close_from": _("Closes from"), "close_to": _("Closes until"),
                  "amount_min": _("Amount at least"), "amount_max": _("Amount at most"), "tier": _("Value tier"),
                  "lifecycle": _("Lifecycle stage"), "category": _("Forecast category"), "q": _("Search")}
        out = []
        for key, attr in (("owner", "owner_id"), ("team", "team_id"), ("close_from", "close_from"),
                          ("close_to", "close_to"), ("amount_min", "amount_min"), ("amount_max", "amount_max"),
                          ("tier", "tier"), ("lifecycle", "lifecycle"), ("status", "status"),
                          ("category", "category"), ("customer", "customer_id"), ("q", "q")):
            value = getattr(self, attr)
            if value in (None, ""):
                continue
            shown = str(value)
            if key == "owner":
                u = User.objects.filter(pk=value).first()
                shown = (u.get_full_name() or u.username) if u else shown
            elif key == "team":
                t = Team.objects.filter(pk=value).first()
                shown = t.name if t else shown
            elif key == "status":
                shown = DealStatus(value).label
            elif key == "category":
                shown = ForecastCategory(value).label
            out.append({"key": key, "label": labels[key], "value": shown})
        return out


def deal_queryset(*, user, filters: DealFilters | None = None):
    qs = Deal.objects.visible_to(user).select_related("customer", "stage", "pipeline", "owner", "lost_reason")
    if filters is not None:
        qs = qs.filter(filters.q_object())
    return qs


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": pk}).encode()).decode()


def _decode(cursor: str) -> int:
    try:
        pk = int(json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())["id"])
    except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        pk = 0
    if not 0 < pk < 2**62:
        raise ValidationFailed(_("Validation failed"), errors={"cursor": [_("This cursor is not valid.")]})
    return pk


def deal_list(*, user, filters: DealFilters, after: str | None = None, limit: int = 50):
    """Newest first (by id), `limit` rows and the cursor of the next page (or None)."""
    qs = deal_queryset(user=user, filters=filters).order_by("-id")
    if after:
        qs = qs.filter(pk__lt=_decode(after))
    rows = list(qs[: limit + 1])
    next_cursor = _encode(rows[limit - 1].pk) if len(rows) > limit else None
    return rows[:limit], next_cursor


def deal_get(*, user, pk) -> Deal:
    deal = deal_queryset(user=user).filter(pk=pk).first()
    if deal is None:
        raise NotFound(_("Deal not found."))
    return deal


def stage_log(*, user, deal_id) -> list[DealStageLog]:
    deal = deal_get(user=user, pk=deal_id)
    return list(DealStageLog.objects.filter(deal=deal).select_related("from_stage", "to_stage", "changed_by")
                .order_by("changed_at", "id"))


def cycle_days(log: list[DealStageLog]) -> float | None:
    """Days from the first log row (opened) to the row that closed it; None while open."""
    if not log or log[-1].to_stage.kind == StageKind.OPEN:
        return None
    return (log[-1].changed_at - log[0].changed_at).total_seconds() / 86400


def time_in_stages(log: list[DealStageLog], *, now=None) -> list[tuple[Stage, float]]:
    """Per log row, the stage and the days spent in it (the current one until `now`)."""
    now = now or timezone.now()
    out = []
    for i, row in enumerate(log):
        end = log[i + 1].changed_at if i + 1 < len(log) else (now if row.to_stage.kind == StageKind.OPEN else None)
        if end is not None:
            out.append((row.to_stage, (end - row.changed_at).total_seconds() / 86400))
    return out


def pipelines() -> list[Pipeline]:
    return list(Pipeline.objects.filter(active=True).prefetch_related("stages"))


@dataclass
class Column:
    stage: Stage
    count: int
    total: Decimal
    weighted: Decimal
    avg_days: float | None
    deals: list
    next_cursor: str | None = None


_CARD_FIELDS = ("id", "name", "amount", "currency", "status", "probability", "predicted_probability",
                "expected_close_date", "stage_entered_at", "customer__name", "stage__probability",
                "stage__rotting_days")


def _board_deals(*, user, pipeline: Pipeline, filters: DealFilters):
    return Deal.objects.visible_to(user).filter(filters.q_object(), pipeline=pipeline)


def _recently_closed(now) -> Q:
    return Q(status__in=[DealStatus.WON, DealStatus.LOST],
             closed_at__gte=now - timedelta(days=CLOSED_ON_BOARD_DAYS))


def _column_aggregates(deals, now) -> dict[int, dict]:
    """Per stage: n, total, weighted and the sum of days-since-entered, in two grouped
    queries — open deals through (pipeline, status, stage), deals closed in the last 30 days
    through (status, closed_at). One query with "open OR recently closed" reads every deal
    of the pipeline (SQLite walks the card-order index to group without sorting: 137 of the
    page's 183 ms CPU at 100k deals). The closed ones are picked by id from the (status,
    closed_at) index first — a few thousand rows at most — and grouped by `stage_id + 0`:
    otherwise SQLite walks the card-order index again, to group, or for an amount filter."""
    annotations = {"n": Count("id"), "total": Sum("amount"),
                   "weighted": Sum(F("amount") * EFFECTIVE_P, output_field=FloatField()),
                   "entered": Sum(Days("stage_entered_at"))}
    out = {row["stage_id"]: row for row in deals.filter(status=DealStatus.OPEN).order_by()
           .values("stage_id").annotate(**annotations)}
    stage_key = ExpressionWrapper(F("stage_id") + 0, output_field=IntegerField())
    recent = Deal.objects.filter(_recently_closed(now)).values("pk")
    for row in deals.filter(pk__in=recent).order_by().values(sid=stage_key).annotate(**annotations):
        out[row.pop("sid")] = row
    return out


def _card_cursor(card) -> str:
    return f"{card.amount}_{card.pk}"


def column_cards(*, user, pipeline: Pipeline, filters: DealFilters, stage: Stage, after: str | None = None,
                 now=None, limit: int | None = None) -> tuple[list[Deal], str | None]:
    """A column's cards, biggest first (the `(stage, -amount, -id)` index order), `limit` at a
    time after the cursor of the previous page ("amount_id"); returns (cards, next cursor)."""
    now = now or timezone.now()
    limit = limit or CARDS_PER_COLUMN
    qs = _board_deals(user=user, pipeline=pipeline, filters=filters).filter(stage=stage)
    qs = qs.filter(status=DealStatus.OPEN) if stage.kind == StageKind.OPEN else qs.filter(_recently_closed(now))
    if after:
        amount, _sep, pk = after.partition("_")
        try:
            amount_value, pk_value = Decimal(amount), int(pk)
            if not amount_value.is_finite() or not 0 < pk_value < 2**62:
                raise ValueError(after)
        except (ArithmeticError, ValueError):
            raise ValidationFailed(_("Validation failed"),
                                   errors={"after": [_("This cursor is not valid.")]}) from None
        qs = qs.filter(Q(amount__lt=amount_value) | Q(amount=amount_value, pk__lt=pk_value))
    cards = list(qs.select_related("customer", "stage").only(*_CARD_FIELDS).order_by("-amount", "-id")[:limit + 1])
    more = len(cards) > limit
    cards = cards[:limit]
    for card in cards:
        card.rotting = bool(stage.rotting_days and card.status == DealStatus.OPEN
                            and (now - card.stage_entered_at).days > stage.rotting_days)
    return cards, (_card_cursor(cards[-1]) if more else None)


def board(*, user, pipeline: Pipeline, filters: DealFilters, now=None) -> list[Column]:
    """One column per stage: count, sum, weighted sum and average days in stage over the
    visible, filtered deals (closed columns: closed in the last 30 days), and the first cards
    (more are paged in with `column_cards`)."""
    now = now or timezone.now()
    aggregates = _column_aggregates(_board_deals(user=user, pipeline=pipeline, filters=filters), now)
    epoch_now = _julian(now)
    columns = []
    for stage in pipeline.stages.all():
        agg = aggregates.get(stage.pk)
        if not agg:
            columns.append(Column(stage, 0, Decimal("0"), Decimal("0"), None, []))
            continue
        cards, next_cursor = column_cards(user=user, pipeline=pipeline, filters=filters, stage=stage, now=now)
        avg_days = epoch_now - agg["entered"] / agg["n"] if agg["entered"] is not None else None
        columns.append(Column(stage, agg["n"], agg["total"] or Decimal("0"),
                              Decimal(str(round(agg["weighted"] or 0, 2))), avg_days, cards, next_cursor))
    return columns


def _julian(moment) -> float:
    """The same scale as Days(): julian day on SQLite, epoch days on PostgreSQL."""
    from django.db import connection

    seconds = moment.timestamp()
    if connection.vendor == "sqlite":
        return seconds / 86400 + 2440587.5
    return seconds / 86400


def annotate_effective(qs):
    return qs.annotate(p_eff=EFFECTIVE_P)


def deal_contacts(*, user, deal: Deal) -> list[DealContact]:
    """The deal's contact persons the user may see, decision makers first."""
    from valuecrm.customers.visibility import visible_customers

    return list(DealContact.objects.filter(deal=deal, person__in=visible_customers(user).values("pk"))
                .select_related("person").order_by("role", "person__name", "id"))


def contact_candidates(*, user, deal: Deal, limit: int = 100):
    """Visible contact persons of the deal's customer not on the deal yet."""
    from valuecrm.customers.visibility import visible_customers

    return list(visible_customers(user).filter(company_id=deal.customer_id, archived_at__isnull=True)
                .exclude(deal_roles__deal=deal).order_by("name", "id").only("id", "name", "job_title")[:limit])
