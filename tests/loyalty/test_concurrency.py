"""Twenty redemptions racing for the same points on PostgreSQL: the conditional UPDATE
on the account lets exactly as many through as the balance covers; the others get a
Conflict (409), and the ledger still sums to the snapshot."""

import threading

import pytest
from django.db import connection, connections

from valuecrm.common.errors import Conflict
from valuecrm.loyalty import selectors, services
from valuecrm.loyalty.models import Account, Entry, EntryKind

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor == "sqlite", reason="PostgreSQL only")]


def _race(n, call):
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def run(i):
        try:
            barrier.wait()
            outcome = call(i)
        except Conflict as exc:
            outcome = ("conflict", exc.detail)
        finally:
            connections.close_all()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _member_with(admin_user, points):
    from valuecrm.customers.services import customer_create

    c = customer_create(actor=admin_user, data={"name": "并发"})
    services.points_adjust(actor=admin_user, customer_id=c.pk, points=points, reason="seed")
    return c


def test_twenty_parallel_redeems_of_the_same_points(admin_user, program):
    c = _member_with(admin_user, 1000)
    results = _race(20, lambda i: services.points_redeem(actor=admin_user, customer_id=c.pk, points=100,
                                                         reference=f"R-{i}"))
    won = [r for r in results if not (isinstance(r, tuple) and r[0] == "conflict")]
    lost = [r for r in results if isinstance(r, tuple) and r[0] == "conflict"]
    assert (len(won), len(lost)) == (10, 10)
    assert all(detail == "Not enough points: 0 available." for _c, detail in lost)
    account = Account.objects.get(customer=c)
    assert account.balance == 0
    assert selectors.ledger_sums(account.pk) == (0, 0)
    assert Entry.objects.filter(kind=EntryKind.REDEEM).count() == 10


def test_the_same_reference_redeemed_twenty_times_at_once_is_one_redemption(admin_user, program):
    c = _member_with(admin_user, 1000)
    _race(20, lambda i: services.points_redeem(actor=admin_user, customer_id=c.pk, points=100, reference="ONE"))
    account = Account.objects.get(customer=c)
    assert Entry.objects.filter(kind=EntryKind.REDEEM).count() == 1
    assert (account.balance, selectors.ledger_sums(account.pk)) == (900, (900, 0))
