"""Archived customers are out of the value dashboard as they are out of the customer
list: a tier bar and the KPI cards count exactly what their click-through list shows."""

import datetime as dt

from django.utils import timezone

from valuecrm.customers.selectors import customer_list
from valuecrm.customers.services import customer_archive
from valuecrm.insights.dashboard import tier_breakdown
from valuecrm.insights.models import RunStatus
from valuecrm.insights.services import score_now
from valuecrm.insights.services.kpis import equity


def test_archiving_a_scored_customer_takes_it_out_of_tiers_and_equity(make_customer, add_orders, admin_user):
    today = timezone.localdate()
    buyers = []
    for i in range(12):
        customer = make_customer(f"buyer{i}")
        add_orders(customer, [today - dt.timedelta(days=d) for d in range(300 - 20 * i, 0, -(15 + 3 * i))],
                   amount=80 + 10 * i)
        buyers.append(customer)
    run = score_now(as_of=today)
    assert run.status == RunStatus.SUCCEEDED, run.error
    before = {row["tier"]: row["count"] for row in tier_breakdown(admin_user)}
    equity_before = equity(admin_user)["current"]

    gone = buyers[-1]
    gone.value.refresh_from_db()
    tier, clv = gone.value.tier, float(gone.value.clv)
    customer_archive(actor=admin_user, customer=gone)

    after = {row["tier"]: row["count"] for row in tier_breakdown(admin_user)}
    assert after[tier] == before[tier] - 1
    assert abs(equity(admin_user)["current"] - (equity_before - clv)) < 0.01
    # the tier bar's click-through list shows the same number
    rows, _ = customer_list(user=admin_user, filters={"tier": tier}, limit=100)
    assert len(rows) == after[tier]
    assert gone.pk not in {row.pk for row in rows}
