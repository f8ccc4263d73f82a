"""Marketing reads: segments with live counts, campaigns, members, results, recommendations."""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.db.models import Avg, Count, Q, Sum
from django.utils.translation import gettext as _

from valuecrm.common.errors import NotFound
from valuecrm.engine import experiments
from valuecrm.marketing.models import (
    Campaign,
    CampaignMember,
    Group,
    Message,
    MessageStatus,
    MessageTemplate,
    ProductAffinity,
    Segment,
)
from valuecrm.orders.models import REVENUE_STATUSES, Order, OrderLine, Product


def segment_list():
    return Segment.objects.all()


def segment_get(pk: int) -> Segment:
    segment = Segment.objects.filter(pk=pk).first()
    if segment is None:
        raise NotFound(_("Segment not found."))
    return segment


def segment_count(user, segment_or_filters) -> int:
    from valuecrm.marketing.services import audience

    filters = segment_or_filters.filters if isinstance(segment_or_filters, Segment) else segment_or_filters
    return audience(user, filters).count()


def segment_history(segment: Segment, limit: int = 30) -> list[dict]:
    return list(segment.snapshots.order_by("-taken_at").values("taken_at", "size")[:limit])[::-1]


def template_list():
    return MessageTemplate.objects.all()


def template_get(pk: int) -> MessageTemplate:
    template = MessageTemplate.objects.filter(pk=pk).first()
    if template is None:
        raise NotFound(_("Template not found."))
    return template


def campaign_list():
    return Campaign.objects.select_related("segment", "template")


def campaign_get(pk: int) -> Campaign:
    campaign = campaign_list().filter(pk=pk).first()
    if campaign is None:
        raise NotFound(_("Campaign not found."))
    return campaign


def campaign_members(campaign: Campaign, *, group: str | None = None):
    qs = CampaignMember.objects.filter(campaign=campaign).order_by("pk")
    return qs.filter(group=group) if group else qs


def campaign_funnel(campaign: Campaign) -> dict:
    row = Message.objects.filter(campaign=campaign).aggregate(
        sent=Count("pk", filter=Q(status=MessageStatus.SENT)),
        failed=Count("pk", filter=Q(status=MessageStatus.FAILED)),
        opened=Count("pk", filter=Q(opened_at__isnull=False)),
        clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
        unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
    )
    row["by_status"] = dict(CampaignMember.objects.filter(campaign=campaign).values("status")
                            .annotate(n=Count("pk")).values_list("status", "n"))
    return row


def _revenue_by_customer(ids_qs, start, end) -> dict[int, float]:
    rows = (Order.objects.filter(customer_id__in=ids_qs, status__in=REVENUE_STATUSES,
                                 placed_at__gte=start, placed_at__lt=end)
            .values("customer_id").annotate(total=Sum("total_amount")).values_list("customer_id", "total"))
    return {cid: float(total or 0) for cid, total in rows}


def campaign_results(campaign: Campaign, *, now=None) -> dict | None:
    """Treatment vs control over the attribution window; None before launch."""
    if campaign.launched_at is None:
        return None
    from django.utils import timezone

    now = now or timezone.now()
    start = campaign.launched_at
    window = dt.timedelta(days=campaign.attribution_days)
    end = start + window
    members = CampaignMember.objects.filter(campaign=campaign).exclude(group=Group.EXCLUDED)
    ids = dict(members.values_list("customer_id", "group"))
    post = _revenue_by_customer(members.values("customer_id"), start, end)
    pre = _revenue_by_customer(members.values("customer_id"), start - window, start)
    t_ids = [c for c, g in ids.items() if g == Group.TREATMENT]
    c_ids = [c for c, g in ids.items() if g == Group.CONTROL]
    yt = np.array([post.get(c, 0.0) for c in t_ids])
    yc = np.array([post.get(c, 0.0) for c in c_ids])
    xt = np.array([pre.get(c, 0.0) for c in t_ids])
    xc = np.array([pre.get(c, 0.0) for c in c_ids])
    res = experiments.analyse(yt, yc, x_treatment=xt, x_control=xc,
                              holdout_percent=float(campaign.holdout_percent), cost=float(campaign.cost))
    clv = dict(members.values("group").annotate(clv=Avg("customer__value__clv")).values_list("group", "clv"))
    clv_t, clv_c = clv.get(Group.TREATMENT), clv.get(Group.CONTROL)
    return {
        "window_complete": now >= end, "window_end": end,
        "n_treatment": res.n_treatment, "n_control": res.n_control,
        "n_excluded": CampaignMember.objects.filter(campaign=campaign, group=Group.EXCLUDED).count(),
        "revenue_per_customer_treatment": round(res.revenue_per_customer_treatment, 2),
        "revenue_per_customer_control": round(res.revenue_per_customer_control, 2),
        "conversion_treatment": round(res.conversion_treatment, 4),
        "conversion_control": round(res.conversion_control, 4),
        "enough_data": res.enough_data,
        "incremental_revenue": _r(res.incremental_revenue), "ci_low": _r(res.ci_low), "ci_high": _r(res.ci_high),
        "srm_p_value": round(res.srm_p_value, 6), "srm_alarm": res.srm_alarm,
        "incremental_roas": _r(res.incremental_roas, 3),
        "clv_difference": _r(float(clv_t) - float(clv_c)) if clv_t is not None and clv_c is not None else None,
        "cuped": {
            "ci_low": _r(res.cuped_ci_low), "ci_high": _r(res.cuped_ci_high), "theta": _r(res.cuped_theta, 4),
            "width_without": _r(res.ci_high - res.ci_low) if res.ci_low is not None else None,
            "width_with": _r(res.cuped_ci_high - res.cuped_ci_low) if res.cuped_ci_low is not None else None,
            "width_reduction": _r(res.cuped_width_reduction, 4),
        },
        "min_per_group": experiments.MIN_PER_GROUP,
    }


def _r(value, digits: int = 2):
    return None if value is None else round(float(value), digits)


# ---------------------------------------------------------------- recommendations

def recommendations_for(customer, *, limit: int = 10) -> list[dict]:
    """Products bought with what the customer bought (summed lift, margin-weighted),
    minus what they already have; inactive products left out."""
    held = set(OrderLine.objects.filter(order__customer_id=customer.pk, order__status__in=REVENUE_STATUSES,
                                        product__isnull=False).values_list("product_id", flat=True))
    if not held:
        return []
    rows = (ProductAffinity.objects.filter(product_id__in=held).exclude(other_id__in=held)
            .filter(other__active=True).values("other_id").annotate(score=Sum("lift")))
    scores = {r["other_id"]: r["score"] for r in rows}
    products = Product.objects.in_bulk(list(scores))
    margins = {pk: float(p.price - p.unit_cost) for pk, p in products.items()}
    top = max([m for m in margins.values() if m > 0] or [1.0])
    ranked = sorted(scores, key=lambda pk: (-scores[pk] * (1 + max(margins[pk], 0) / top), pk))[:limit]
    return [{"product_id": pk, "sku": products[pk].sku, "name": products[pk].name,
             "price": products[pk].price, "score": round(scores[pk], 3)} for pk in ranked]


def recommended_products(customer, *, limit: int = 3) -> list[dict]:
    return [{"name": r["name"], "sku": r["sku"], "price": str(r["price"])}
            for r in recommendations_for(customer, limit=limit)]


def basket_arrays(*, before=None) -> tuple[np.ndarray, np.ndarray]:
    """(customer id, product id) of every revenue order line, optionally before a moment."""
    qs = OrderLine.objects.filter(order__status__in=REVENUE_STATUSES, product__isnull=False)
    if before is not None:
        qs = qs.filter(order__placed_at__lt=before)
    rows = np.array(list(qs.values_list("order__customer_id", "product_id").iterator(chunk_size=20000)),
                    dtype=np.int64).reshape(-1, 2)
    return rows[:, 0], rows[:, 1]


