"""Demo deals: two years of deals in two pipelines (B2B projects, retail wholesale) whose
outcomes depend on believable features — source, the rep, the amount, whether the customer
bought before and how engaged the deal is (calls and meetings while it runs) — so the learned
win model finds real signal; the 公海 pool rules; quotas; some owned prospects near reclaim;
contact persons with their role on open deals of companies; saved views of the board (a team
view of the manager's, a rep's default)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Min

from valuecrm.accounts.models import User
from valuecrm.accounts.roles import Role
from valuecrm.customers.models import Customer, Interaction
from valuecrm.deals.forecast import period_of, shift_period
from valuecrm.deals.models import (
    ContactRole,
    Deal,
    DealContact,
    DealStageLog,
    DealStatus,
    DealView,
    DealViewDefault,
    DealViewVisibility,
    ForecastCategory,
    LostReason,
    Pipeline,
    PoolRule,
    Quota,
    Stage,
    StageKind,
)
from valuecrm.orders.models import Order

DAYS = 730
PIPELINES = [
    ("B2B projects", "B2B 项目", [("Qualified", "已确认需求", 0.1, 14), ("Needs analysis", "需求分析", 0.25, 21),
                                 ("Proposal", "方案报价", 0.45, 21), ("Negotiation", "商务谈判", 0.7, 14)],
     (9.5, 0.8)),
    ("Retail wholesale", "零售批发", [("Inquiry", "询价", 0.15, 7), ("Quote sent", "已报价", 0.4, 10),
                                    ("Sample / trial", "样品试用", 0.6, 14)], (8.3, 0.7)),
]
SOURCES = {"inbound": 0.0, "referral": 0.9, "outbound": -0.7, "existing": 0.6, "event": 0.1, "partner": 0.3}
SKILL = {"chen.jing": 0.5, "wang.lei": 0.1, "liu.yang": 0.3, "huang.ting": -0.4}


def _pipelines() -> list[tuple[Pipeline, list[Stage], tuple]]:
    out = []
    for i, (name, zh, stages, amount) in enumerate(PIPELINES):
        pipeline, created = Pipeline.objects.get_or_create(name=name, defaults={"name_zh": zh, "position": i})
        if created:
            rows = [Stage(pipeline=pipeline, name=n, name_zh=z, position=j, probability=p, rotting_days=r)
                    for j, (n, z, p, r) in enumerate(stages)]
            rows += [Stage(pipeline=pipeline, name="Won", name_zh="赢单", position=len(rows), probability=1.0,
                           kind=StageKind.WON),
                     Stage(pipeline=pipeline, name="Lost", name_zh="输单", position=len(rows) + 1, probability=0.0,
                           kind=StageKind.LOST)]
            Stage.objects.bulk_create(rows)
        out.append((pipeline, list(pipeline.stages.all()), amount))
    return out


def demo_deals(*, now: datetime, seed: int, customers: int) -> dict:
    rng = np.random.default_rng(seed + 15)
    if Deal.objects.exists():
        return {"deals": 0}
    reps = {u.username: u for u in User.objects.filter(role__in=[Role.SALES_REP, Role.SALES_MANAGER])}
    if not reps:
        return {"deals": 0}
    pool = list(Customer.objects.filter(owner__isnull=False).values_list("pk", "owner_id", "team_id", "kind",
                                                                        "created_at"))
    if not pool:
        return {"deals": 0}
    first_order = dict(Order.objects.revenue().values("customer_id").annotate(m=Min("placed_at"))
                       .values_list("customer_id", "m"))
    reasons = list(LostReason.objects.all())
    by_owner = {u.pk: u for u in reps.values()}
    n_deals = int(min(max(customers * 0.4, 300), 4000))
    deals, logs, interactions, orders = [], [], [], []
    pipelines = _pipelines()
    now_ts = now.timestamp()
    for k in range(n_deals):
        pipeline, stages, (mu, sigma) = pipelines[0 if rng.random() < 0.45 else 1]
        open_stages = [s for s in stages if s.kind == StageKind.OPEN]
        won_stage = next(s for s in stages if s.kind == StageKind.WON)
        lost_stage = next(s for s in stages if s.kind == StageKind.LOST)
        cid, owner_id, team_id, _kind, created_at = pool[int(rng.integers(0, len(pool)))]
        owner = by_owner.get(owner_id) or list(reps.values())[int(rng.integers(0, len(reps)))]
        opened = now_ts - rng.uniform(0, DAYS) * 86400
        opened = max(opened, created_at.timestamp())
        source = rng.choice(list(SOURCES), p=[0.3, 0.15, 0.2, 0.15, 0.1, 0.1])
        amount = float(np.exp(rng.normal(mu, sigma)))
        bought_before = cid in first_order and first_order[cid].timestamp() < opened
        engagement = rng.normal(0, 1)
        z = (-0.6 + SOURCES[source] + SKILL.get(owner.username, 0) + 0.8 * bought_before
             - 0.45 * (math.log(amount) - mu) / sigma + 1.1 * engagement)
        won = rng.random() < 1 / (1 + math.exp(-z))
        # Lost deals drop out early more often; won ones pass every open stage.
        reach = len(open_stages) if won else int(rng.integers(1, len(open_stages) + 1))
        t = opened
        entries = []
        for s in open_stages[:reach]:
            entries.append((s, t))
            t += rng.exponential((s.rotting_days or 14) * (0.6 if won else 0.9)) * 86400 + 3600
        close_at = t
        log_rows = [(None, entries[0][0], entries[0][1])]
        for (prev, _t0), (nxt, t1) in zip(entries, entries[1:], strict=False):
            log_rows.append((prev, nxt, t1))
        final = won_stage if won else lost_stage
        if close_at < now_ts:
            log_rows.append((entries[-1][0], final, close_at))
        rows = [r for r in log_rows if r[2] <= now_ts]
        current, entered = rows[-1][1], rows[-1][2]
        closed = current.kind != StageKind.OPEN
        status = DealStatus.WON if current.kind == StageKind.WON else (
            DealStatus.LOST if current.kind == StageKind.LOST else DealStatus.OPEN)
        category = ForecastCategory.CLOSED if status == DealStatus.WON else (
            ForecastCategory.OMITTED if status == DealStatus.LOST else
            ForecastCategory.COMMIT if current.probability >= 0.6 else
            ForecastCategory.BEST_CASE if current.probability >= 0.4 else ForecastCategory.PIPELINE)
        expected = datetime.fromtimestamp(close_at if not closed else entered, tz=now.tzinfo).date()
        if not closed and expected < now.date():
            expected = now.date() + timedelta(days=int(rng.integers(5, 60)))
        deal = Deal(customer_id=cid, pipeline=pipeline, stage=current, name=_name(pipeline, k, rng),
                    amount=Decimal(str(round(amount, -1) if amount > 100 else round(amount, 2))),
                    expected_close_date=expected, owner=owner, team_id=owner.team_id, source=source,
                    status=status, forecast_category=category,
                    lost_reason=reasons[int(rng.integers(0, len(reasons)))] if status == DealStatus.LOST and reasons
                    else None,
                    opened_at=datetime.fromtimestamp(opened, tz=now.tzinfo),
                    stage_entered_at=datetime.fromtimestamp(entered, tz=now.tzinfo),
                    closed_at=datetime.fromtimestamp(entered, tz=now.tzinfo) if closed else None,
                    next_step="" if closed else rng.choice(["Call back", "Send proposal", "Site visit", "Demo"]),
                    created_by=owner)
        deals.append((deal, rows))
        # Engaged deals see more calls and meetings while they run.
        end = min(close_at, now_ts)
        n_touch = rng.poisson(max(0.2, (end - opened) / 86400 / 10 * math.exp(0.6 * engagement)))
        for when in rng.uniform(opened, end, size=min(n_touch, 12)):
            interactions.append(Interaction(customer_id=cid, author=owner, occurred_at=datetime.fromtimestamp(
                when, tz=now.tzinfo), kind=rng.choice(["call", "meeting", "email"]),
                direction="outbound", subject=f"{deal.name}"))
    Deal.objects.bulk_create([d for d, _rows in deals], batch_size=1000)
    for deal, rows in deals:
        for frm, to, when in rows:
            logs.append(DealStageLog(deal=deal, from_stage=frm, to_stage=to, changed_by=deal.owner,
                                     changed_at=datetime.fromtimestamp(when, tz=now.tzinfo)))
        if deal.status == DealStatus.WON:
            orders.append(Order(customer_id=deal.customer_id, source="deal", external_id=str(deal.pk),
                                channel="sales", status="paid", placed_at=deal.closed_at, currency=deal.currency,
                                total_amount=deal.amount, total_cost=(deal.amount * Decimal("0.6")).quantize(
                                    Decimal("0.01")), created_by=deal.owner))
    DealStageLog.objects.bulk_create(logs, batch_size=2000)
    Interaction.objects.bulk_create(interactions, batch_size=2000)
    Order.objects.bulk_create(orders, batch_size=1000)
    by_key = dict(Order.objects.filter(source="deal").values_list("external_id", "pk"))
    linked = []
    for deal, _rows in deals:
        if deal.status == DealStatus.WON and str(deal.pk) in by_key:
            deal.order_id = by_key[str(deal.pk)]
            linked.append(deal)
    Deal.objects.bulk_update(linked, ["order"], batch_size=1000)
    _pool_rules_and_quotas(now, reps, rng)
    contacts = _deal_contacts(rng)
    _saved_views(reps, pipelines, now)
    return {"deals": len(deals), "stage_log": len(logs), "interactions": len(interactions), "orders": len(orders),
            "deal_contacts": contacts}


def _deal_contacts(rng) -> int:
    """On open deals of companies: one to three of the company's people, the first the
    decision maker."""
    people: dict[int, list[int]] = {}
    for pk, company_id in Customer.objects.filter(company__isnull=False).values_list("pk", "company_id"):
        people.setdefault(company_id, []).append(pk)
    rows = []
    roles = [ContactRole.DECISION_MAKER, ContactRole.INFLUENCER, ContactRole.USER]
    for deal_id, customer_id in Deal.objects.filter(status=DealStatus.OPEN, customer_id__in=list(people)) \
            .values_list("pk", "customer_id"):
        persons = people[customer_id]
        chosen = rng.permutation(persons)[:int(rng.integers(1, min(3, len(persons)) + 1))]
        rows += [DealContact(deal_id=deal_id, person_id=int(pk), role=roles[min(i, 2)]) for i, pk in enumerate(chosen)]
    DealContact.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _saved_views(reps, pipelines, now) -> None:
    b2b = pipelines[0][0]
    quarter_end = (now + timedelta(days=92)).date().isoformat()
    manager = reps.get("chen.jing")
    if manager is not None and manager.team_id:
        DealView.objects.get_or_create(name="Big B2B deals", owner=manager, defaults={
            "visibility": DealViewVisibility.TEAM, "team_id": manager.team_id,
            "filters": {"pipeline": str(b2b.pk), "amount_min": "20000", "status": "open"}})
    rep = reps.get("wang.lei")
    if rep is not None:
        view, _c = DealView.objects.get_or_create(name="Mine, closing in 3 months", owner=rep, defaults={
            "filters": {"owner": str(rep.pk), "close_to": quarter_end, "status": "open"}})
        DealViewDefault.objects.get_or_create(user=rep, defaults={"view": view})


def _name(pipeline: Pipeline, k: int, rng) -> str:
    if pipeline.position == 0:
        return rng.choice(["CRM rollout", "Annual service contract", "Office fit-out", "Data platform",
                           "Training programme", "Hardware refresh"]) + f" #{k + 1}"
    return rng.choice(["Spring wholesale order", "Mid-autumn gift boxes", "Store restock", "Double 11 stock",
                       "New store opening", "Trial order"]) + f" #{k + 1}"


def _pool_rules_and_quotas(now, reps, rng) -> None:
    for tier, stage, days, warn in (("", "prospect", 60, False), ("", "new", 45, False), ("A", "", 90, True)):
        PoolRule.objects.get_or_create(tier=tier, stage=stage, defaults={"days": days, "warn_only": warn})
    period = period_of(now.date())
    for p in (shift_period(period, -1), period, shift_period(period, 1)):
        for user in reps.values():
            base = 600_000 if user.role == Role.SALES_MANAGER else 400_000
            Quota.objects.get_or_create(owner=user, period=p, defaults={"amount": Decimal(base)})
    # A few owned prospects whose last follow-up was 55–59 days ago: near reclaim.
    prospects = list(Customer.objects.filter(owner__isnull=False, orders__isnull=True, interactions__isnull=True)
                     .values_list("pk", "owner_id")[:12])
    Interaction.objects.bulk_create([
        Interaction(customer_id=pk, author_id=owner_id, kind="call", direction="outbound", subject="Follow-up",
                    occurred_at=now - timedelta(days=int(rng.integers(55, 60))))
        for pk, owner_id in prospects])
