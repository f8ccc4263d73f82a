"""Sales KPIs over the visible deals closed in a date range: win rate (count and value),
average won deal size, median / p75 cycle length (from the stage log), the stage funnel,
lost reasons, and new vs repeat-customer deals."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Sum
from django.utils import timezone

from valuecrm.deals.models import Deal, DealStageLog, DealStatus


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def sales_kpis(*, user, start: date, end: date, pipeline_id: int | None = None) -> dict:
    """`end` is exclusive."""
    from valuecrm.orders.models import Order

    deals = Deal.objects.visible_to(user)
    if pipeline_id:
        deals = deals.filter(pipeline_id=pipeline_id)
    closed = deals.filter(closed_at__gte=_aware(start), closed_at__lt=_aware(end)).exclude(status=DealStatus.OPEN)
    agg = closed.aggregate(
        n_won=Count("id", filter=Q(status=DealStatus.WON)), n_lost=Count("id", filter=Q(status=DealStatus.LOST)),
        v_won=Sum("amount", filter=Q(status=DealStatus.WON)), v_lost=Sum("amount", filter=Q(status=DealStatus.LOST)))
    n_won, n_lost = agg["n_won"], agg["n_lost"]
    v_won, v_lost = agg["v_won"] or Decimal("0"), agg["v_lost"] or Decimal("0")
    # Cycle length: first log row to the last (the one that closed the deal).
    spans = DealStageLog.objects.filter(deal__in=closed.values("pk")).order_by().values("deal_id").annotate(
        first=Min("changed_at"), last=Max("changed_at")).values_list("first", "last")
    cycles = np.array([(b - a).total_seconds() / 86400 for a, b in spans]) if spans else np.array([])
    funnel_rows = dict(DealStageLog.objects.filter(deal__in=deals.filter(opened_at__gte=_aware(start),
                                                                         opened_at__lt=_aware(end)).values("pk"))
                       .order_by().values("to_stage_id").annotate(n=Count("deal_id", distinct=True))
                       .values_list("to_stage_id", "n"))
    from valuecrm.deals.models import Stage

    stages = Stage.objects.filter(pk__in=funnel_rows).select_related("pipeline").order_by("pipeline", "position")
    funnel = [{"stage_id": s.pk, "stage": s.label, "pipeline": s.pipeline.label, "kind": s.kind,
               "deals": funnel_rows[s.pk]} for s in stages]
    lost = [{"reason_id": r["lost_reason_id"], "reason": r["label"] or "—", "deals": r["n"]}
            for r in closed.filter(status=DealStatus.LOST).order_by().values("lost_reason_id")
            .annotate(n=Count("id"), label=Max("lost_reason__name")).order_by("-n")]
    earlier = Order.objects.revenue().filter(customer_id=OuterRef("customer_id"), placed_at__lt=OuterRef("opened_at"))
    kinds = deals.filter(opened_at__gte=_aware(start), opened_at__lt=_aware(end)).aggregate(
        repeat=Count("id", filter=Q(Exists(earlier))), new=Count("id", filter=~Q(Exists(earlier))))
    return {
        "n_won": n_won, "n_lost": n_lost,
        "win_rate": n_won / (n_won + n_lost) if n_won + n_lost else None,
        "win_rate_value": float(v_won / (v_won + v_lost)) if v_won + v_lost else None,
        "avg_won_amount": (v_won / n_won).quantize(Decimal("0.01")) if n_won else None,
        "cycle_median_days": float(np.median(cycles)) if len(cycles) else None,
        "cycle_p75_days": float(np.percentile(cycles, 75)) if len(cycles) else None,
        "funnel": funnel, "lost_reasons": lost,
        "new_customer_deals": kinds["new"], "repeat_customer_deals": kinds["repeat"],
    }


def default_range(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate()
    return today - timedelta(days=365), today + timedelta(days=1)
