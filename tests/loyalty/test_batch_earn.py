"""The batch earn path (an import's thousands of order.created events in one delivery) credits
exactly what the one-order-at-a-time path does, in a bounded number of queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuecrm.loyalty import services, subscriber
from valuecrm.loyalty.models import Account, Entry, Tier
from valuecrm.orders.models import Order

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


orders_st = st.lists(st.tuples(st.integers(0, 4),  # which customer
                               st.integers(1, 3000),  # amount
                               st.integers(0, 400),  # days ago
                               st.sampled_from(["paid", "paid", "fulfilled", "pending", "cancelled"])),
                     min_size=1, max_size=14)


def _state(customers):
    accounts = {a.customer_id: (a.balance, a.pending, a.lifetime_earned, a.tier.code if a.tier else "")
                for a in Account.objects.filter(customer__in=customers).select_related("tier")}
    rows = sorted(Entry.objects.filter(account__customer__in=customers).values_list(
        "account__customer_id", "kind", "points", "pending", "order_id", "reference", "at", "expires_at",
        "available_at"))
    return accounts, rows


def _run(spec, customers, mode, existing, refunds):
    """Deliver the orders as ``mode`` does — "single": order_changed per event, "batch": one
    orders_changed, "import": orders written without events, then orders_imported — then refund
    some of them and deliver those status changes."""
    now = timezone.now()
    orders = []
    for i, (who, amount, days, status) in enumerate(spec):
        orders.append(Order.objects.create(customer=customers[who], external_id=f"B{i}", status=status,
                                           placed_at=now - dt.timedelta(days=days, hours=i),
                                           total_amount=Decimal(amount)))
    if existing:  # one order already credited before the batch arrives (a re-delivery)
        services.order_changed(order_id=orders[0].pk)
    ids = [o.pk for o in orders] + [orders[0].pk]  # an event twice in one batch
    if mode == "import":
        assert services.orders_imported(run_id=7) == len(orders)
        assert services.orders_imported(run_id=7) == 0  # the watermark moved: a replay looks at nothing
    elif mode == "batch":
        services.orders_changed(order_ids=ids)
    else:
        for pk in dict.fromkeys(ids):
            services.order_changed(order_id=pk)
    refunded = [orders[i].pk for i in sorted(refunds) if i < len(orders)]
    Order.objects.filter(pk__in=refunded).update(status="refunded")
    if mode == "single":
        for pk in refunded:
            services.order_changed(order_id=pk)
    else:
        services.orders_changed(order_ids=refunded)
    return _state(customers)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(spec=orders_st, bonus=st.sampled_from([0, 50]), escrow=st.sampled_from([0, 7]),
       existing=st.booleans(), member=st.booleans(), refunds=st.sets(st.integers(0, 13), max_size=3))
def test_batch_import_and_one_by_one_give_the_same_balances_rows_and_tiers(spec, bonus, escrow, existing, member,
                                                                            refunds, admin_user):
    from valuecrm.customers.models import Customer
    from valuecrm.loyalty.models import EarnWatermark

    services.program_update(actor=admin_user, data={
        "effective_from": dt.date(2020, 1, 1), "points_per_cny": "1", "escrow_days": escrow,
        "expiry_days": 365, "first_order_bonus": bonus, "birthday_multiplier": "1", "tier_window_days": 365})
    Tier.objects.filter(rank__gt=Tier.objects.order_by("rank").first().rank).update(multiplier=Decimal("1.5"))
    results = []
    for mode in ("single", "batch", "import"):
        try:
            with transaction.atomic():
                EarnWatermark.objects.update_or_create(key="imports", defaults={
                    "last_order_id": Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0})
                customers = [Customer.objects.create(name=f"C{i}", owner=admin_user) for i in range(5)]
                if member:  # one customer is a member already, near the next tier
                    account = services._account_for(customers[0].pk)
                    services._write(account, "earn", points=900, at=timezone.now() - dt.timedelta(days=3),
                                    order_id=None, reference="seed")
                    services.tier_review(account_id=account.pk)
                state = _run(spec, customers, mode, existing, refunds)
                # customer ids differ between the runs: compare by position
                index = {c.pk: i for i, c in enumerate(customers)}
                results.append(({index[k]: v for k, v in state[0].items()},
                                [(index[r[0]], *r[1:4], r[5]) for r in state[1]]))
                raise _Rollback
        except _Rollback:
            pass
    assert results[0] == results[1] == results[2]


def test_a_mid_batch_upgrade_multiplies_the_later_orders_and_a_refund_claws_back(program, admin_user):
    """Silver at 1,000 qualifying points (×1.5 above the first level here): the second order of
    the batch earns at the new level, as it would one order at a time; a refund then takes back
    exactly what that order earned."""
    from valuecrm.customers.models import Customer

    Tier.objects.filter(code="silver").update(threshold=1000, multiplier=Decimal("1.5"))
    ann = Customer.objects.create(name="Ann", owner=admin_user)
    day = timezone.now() - dt.timedelta(days=2)
    first = Order.objects.create(customer=ann, external_id="U1", status="paid", placed_at=day,
                                 total_amount=Decimal("1200"))
    second = Order.objects.create(customer=ann, external_id="U2", status="paid", placed_at=day,
                                  total_amount=Decimal("100.50"))
    assert services.orders_imported(run_id=1) == 2
    account = Account.objects.select_related("tier").get(customer=ann)
    assert (account.tier.code, account.pending, account.balance, account.lifetime_earned) == ("silver", 1350, 0,
                                                                                               1350)
    assert list(Entry.objects.filter(account=account).order_by("id").values_list("order_id", "pending")) == [
        (first.pk, 1200), (second.pk, 150)]  # 100.50 × 1.5 = 150.75, rounded down
    from valuecrm.common.models import OutboxEvent

    assert list(OutboxEvent.objects.filter(name="loyalty.tier_changed").values_list("payload", flat=True)) == [
        {"customer_id": ann.pk, "from_tier": "standard", "to_tier": "silver", "reason": "qualified"}]
    bulk = OutboxEvent.objects.get(name="loyalty.points_earned_in_bulk").payload
    assert (bulk["orders"], bulk["entries"], bulk["points"], bulk["members_enrolled"]) == (2, 2, 1350, 1)
    Order.objects.filter(pk=second.pk).update(status="refunded")
    services.orders_changed(order_ids=[second.pk])
    account.refresh_from_db()
    assert (account.pending, account.lifetime_earned) == (1200, 1350)


def _batch_queries(admin_user, tag, members, per_member):
    from valuecrm.customers.models import Customer

    customers = [Customer.objects.create(name=f"{tag}{i}", owner=admin_user) for i in range(members)]
    noon = timezone.localtime().replace(hour=12, minute=0) - dt.timedelta(days=2)  # one programme day
    orders = [Order.objects.create(customer=customers[i % members], external_id=f"{tag}{i}", status="paid",
                                   placed_at=noon - dt.timedelta(seconds=i), total_amount=Decimal("10"))
              for i in range(members * per_member)]
    with CaptureQueriesContext(connection) as q:
        services.orders_changed(order_ids=[o.pk for o in orders])
    assert Entry.objects.filter(kind="earn", account__customer__in=customers).count() == members * per_member
    assert sorted(Account.objects.filter(customer__in=customers).values_list("pending", flat=True)) == [
        10 * per_member] * members
    with CaptureQueriesContext(connection) as replay:
        services.orders_changed(order_ids=[o.pk for o in orders])  # re-delivered: nothing new
    assert Entry.objects.filter(kind="earn", account__customer__in=customers).count() == members * per_member
    # an executemany is logged as "<n> times: <sql>": the statement, whatever n
    return ([x["sql"].split(" times: ")[-1].split(" ")[0] for x in q.captured_queries],
            len(replay.captured_queries))


def test_a_batch_costs_the_same_queries_whatever_its_size(program, admin_user):
    from valuecrm.common.models import OutboxEvent

    small, replay_small = _batch_queries(admin_user, "A", 5, 1)
    large, replay_large = _batch_queries(admin_user, "B", 60, 3)  # 12× the members, 36× the orders
    assert small == large  # no query per order or per member
    # reads: programmes, orders, their earn rows, tiers, members, window sums, first orders, referees,
    # and the outbox's two subscriber lookups; inserts: new members, ledger rows, events; one UPDATE of
    # the balances (no tier moves: 10 points stay "standard")
    assert (small.count("SELECT"), small.count("INSERT"), small.count("WITH"), small.count("UPDATE")) == (
        10, 3, 1, 0)
    assert replay_small == replay_large == 3  # the programmes, the orders and their earn rows
    assert OutboxEvent.objects.filter(name="loyalty.points_earned").count() == 5 + 180


def test_the_subscriber_hands_the_whole_batch_over(program, admin_user, monkeypatch):
    seen = []
    monkeypatch.setattr(services, "orders_changed", lambda *, order_ids: seen.append(order_ids))

    class E:
        def __init__(self, pk):
            self.event = type("Ev", (), {"order_id": pk})()

    subscriber.handle([E(3), E(1), E(3)])
    assert seen == [[3, 1, 3]]
