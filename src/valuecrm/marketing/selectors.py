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




# ---------------------------------------------------------------- uplift

def uplift_features(customer_ids: list[int], moment) -> tuple[np.ndarray, str]:
    """Value features (marketing.uplift.FEATURES) of each customer as they stood at ``moment``.

    Order features come from revenue orders placed before ``moment``. The value scores
    (CLV, churn risk, P(alive), tier, RFM) come from the newest successful score run
    as of that day; when no run is that old they come from the current scores and the
    source is "current" (the page says so: later orders may leak in), and with no
    scores at all "orders_only" (the value features are then zero).
    """
    from django.db.models import Max, Min

    from valuecrm.customers.models import Customer
    from valuecrm.insights.models import CustomerScore, CustomerValue, ScoreRun
    from valuecrm.marketing import uplift

    ids = list(customer_ids)
    index = {cid: i for i, cid in enumerate(ids)}
    x = np.zeros((len(ids), len(uplift.FEATURES)))
    col = {name: j for j, name in enumerate(uplift.FEATURES)}
    if not ids:
        return x, "snapshot"
    orders = (Order.objects.filter(customer_id__in=ids, status__in=REVENUE_STATUSES, placed_at__lt=moment)
              .values("customer_id").annotate(n=Count("pk"), first=Min("placed_at"), last=Max("placed_at"),
                                              total=Sum("total_amount")))
    for row in orders:
        i = index[row["customer_id"]]
        x[i, col["frequency"]] = row["n"]
        x[i, col["recency_days"]] = (moment - row["last"]).total_seconds() / 86400
        x[i, col["t_days"]] = (moment - row["first"]).total_seconds() / 86400
        x[i, col["monetary"]] = float(row["total"] or 0) / max(row["n"], 1)
    run = (ScoreRun.objects.succeeded().filter(as_of__lte=moment.date()).order_by("-as_of", "-pk").first())
    fields = ("customer_id", "clv", "churn_risk", "p_alive", "tier", "r_score", "f_score", "m_score")
    if run is not None:
        source, scores = "snapshot", CustomerScore.objects.filter(run=run, customer_id__in=ids).values_list(*fields)
    else:
        scores = CustomerValue.objects.filter(customer_id__in=ids).values_list(*fields)
        source = "current" if scores.exists() else "orders_only"
    for cid, clv, churn, p_alive, tier, r, f, m in scores:
        i = index[cid]
        x[i, col["clv"]] = float(clv or 0)
        x[i, col["churn_risk"]] = churn if churn is not None else 0.5
        x[i, col["p_alive"]] = p_alive if p_alive is not None else 0.5
        if tier in ("A", "B", "C"):
            x[i, col[f"tier_{tier.lower()}"]] = 1.0
        x[i, col["r_score"]], x[i, col["f_score"]], x[i, col["m_score"]] = r, f, m
    consent = Customer.objects.filter(pk__in=ids).values_list("pk", "consent_email", "consent_sms", "consent_wechat")
    for cid, email, sms, wechat in consent:
        i = index[cid]
        x[i, col["consent_email"]], x[i, col["consent_sms"]], x[i, col["consent_wechat"]] = email, sms, wechat
    return x, source


def uplift_campaign_data(campaign: Campaign) -> dict:
    """Treated and hold-out members of a launched campaign: ids, treated flags, window revenue, features."""
    members = (CampaignMember.objects.filter(campaign=campaign, group__in=[Group.TREATMENT, Group.CONTROL])
               .order_by("customer_id").values_list("customer_id", "group"))
    ids = [cid for cid, _g in members]
    treated = np.array([g == Group.TREATMENT for _c, g in members], dtype=bool)
    start = campaign.launched_at
    post = _revenue_by_customer([*ids], start, start + dt.timedelta(days=campaign.attribution_days))
    y = np.array([post.get(cid, 0.0) for cid in ids])
    x, source = uplift_features(ids, start)
    return {"ids": np.array(ids, dtype=np.int64), "treated": treated, "y": y, "x": x, "source": source}


def uplift_campaigns(now=None) -> list[Campaign]:
    """Launched campaigns whose attribution window is over, oldest first (the last one evaluates)."""
    from django.utils import timezone

    now = now or timezone.now()
    return [c for c in Campaign.objects.filter(launched_at__isnull=False).order_by("launched_at", "pk")
            if c.launched_at + dt.timedelta(days=c.attribution_days) <= now]


def uplift_readiness(now=None) -> dict:
    """What training would use, and whether there is enough (the page's honest state)."""
    from valuecrm.marketing import uplift

    campaigns = uplift_campaigns(now)
    rows = []
    for c in campaigns:
        by_group = dict(CampaignMember.objects.filter(campaign=c).values("group").annotate(n=Count("pk"))
                        .values_list("group", "n").order_by())
        rows.append({"campaign": c, "n_treatment": by_group.get(Group.TREATMENT, 0),
                     "n_control": by_group.get(Group.CONTROL, 0)})
    train, evaluation = rows[:-1], rows[-1:] if len(rows) >= 2 else []
    train_t = sum(r["n_treatment"] for r in train)
    train_c = sum(r["n_control"] for r in train)
    ready = (len(rows) >= 2 and train_t >= uplift.MIN_PER_GROUP and train_c >= uplift.MIN_PER_GROUP
             and evaluation[0]["n_treatment"] >= uplift.MIN_PER_GROUP
             and evaluation[0]["n_control"] >= uplift.MIN_PER_GROUP)
    return {"campaigns": rows, "training": train, "evaluation": evaluation[0] if evaluation else None,
            "n_train_treatment": train_t, "n_train_control": train_c, "ready": ready,
            "min_per_group": uplift.MIN_PER_GROUP}


def uplift_model_latest():
    from valuecrm.marketing.models import UpliftModel

    return UpliftModel.objects.select_related("evaluation_campaign").order_by("-version").first()


# ---------------------------------------------------------------- A/B variants

def ab_results(campaign: Campaign, *, now=None) -> dict | None:
    """Per-variant numbers on the test slice and the winner the stated rule gives now.

    Rates: opens and clicks per message sent; conversion: sent members with a revenue
    order from the launch until ``now`` (or the decision). The variants are compared by
    a χ² test of the criterion's successes; not significant at 5 % → variant A."""
    from django.utils import timezone
    from scipy.stats import chi2_contingency

    from valuecrm.marketing.models import CampaignVariant

    variants = list(CampaignVariant.objects.filter(campaign=campaign).select_related("template").order_by("label"))
    if not variants:
        return None
    end = campaign.ab_decided_at or now or timezone.now()
    rows = []
    for v in variants:
        slice_ids = CampaignMember.objects.filter(campaign=campaign, variant=v.label).values("customer_id")
        sent = Message.objects.filter(campaign=campaign, customer_id__in=slice_ids, status=MessageStatus.SENT)
        agg = sent.aggregate(n=Count("pk"), opened=Count("pk", filter=Q(opened_at__isnull=False)),
                             clicked=Count("pk", filter=Q(clicked_at__isnull=False)))
        converted = 0
        if campaign.launched_at is not None and agg["n"]:
            converted = (Order.objects.filter(customer_id__in=sent.values("customer_id"), status__in=REVENUE_STATUSES,
                                              placed_at__gte=campaign.launched_at, placed_at__lt=end)
                         .values("customer_id").distinct().count())
        n = agg["n"]
        successes = {"open_rate": agg["opened"], "click_rate": agg["clicked"], "conversion": converted}
        rows.append({"label": v.label, "template": v.template, "members": CampaignMember.objects.filter(
            campaign=campaign, variant=v.label).count(), "sent": n, "opened": agg["opened"], "clicked": agg["clicked"],
            "converted": converted, "open_rate": agg["opened"] / n if n else 0.0,
            "click_rate": agg["clicked"] / n if n else 0.0, "conversion": converted / n if n else 0.0,
            "successes": successes[campaign.ab_criterion]})
    criterion = campaign.ab_criterion
    total_success = sum(r["successes"] for r in rows)
    total_fail = sum(r["sent"] - r["successes"] for r in rows)
    p_value = None
    if all(r["sent"] for r in rows) and total_success and total_fail:
        table = [[r["successes"], r["sent"] - r["successes"]] for r in rows]
        p_value = float(chi2_contingency(table, correction=len(rows) == 2)[1])
    ranked = sorted(rows, key=lambda r: (-r[criterion], r["label"]))
    best = ranked[0]["label"]
    unique_best = len(ranked) < 2 or ranked[0][criterion] > ranked[1][criterion]
    significant = p_value is not None and p_value < 0.05 and unique_best
    decided = bool(campaign.ab_winner)
    return {"variants": rows, "criterion": criterion, "p_value": None if p_value is None else round(p_value, 6),
            "significant": significant, "best": best, "alpha": 0.05,
            "winner": campaign.ab_winner if decided else (best if significant else "A"),
            "decided": decided, "decided_at": campaign.ab_decided_at,
            "due": (campaign.launched_at + dt.timedelta(hours=campaign.ab_wait_hours)) if campaign.launched_at
            else None}
