"""Order and admin pages at size: the order list (first page, a deep keyset page, a
status filter, one customer's orders), an order's page, the order CSV export and the
customer list with archived customers hidden, for an administrator (all customers)
and a sales rep (own customers), in-process through Django's test client on a fresh
SQLite database.

    .venv/bin/python bench/ops_pages.py [--customers 20000] [--orders 100000]

Prints one table row per page (wall and CPU p50/p95 ms of 30 requests after 3
warm-ups, SQL queries per request); bench/README.md holds the figures.
"""

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench-ops"
REPEAT, WARM = 30, 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(OUT)
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    # In-process client with force_login: the second sign-in step is not what is measured.
    os.environ["VALUECRM_MFA_REQUIRED_ROLES"] = ""
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-ops-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from valuecrm.accounts.models import Team
    from valuecrm.accounts.services import admin_ensure, user_create
    from valuecrm.customers.models import Customer
    from valuecrm.orders.models import Order

    setup_test_environment()  # response.context, to follow the list's next-page cursor
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    team = Team.objects.create(name="East")
    rep = user_create(username="rep", password="bench-123456789", role="sales_rep", team=team)
    rng = random.Random(7)
    t0 = time.perf_counter()
    n = args.customers
    Customer.objects.bulk_create(
        [Customer(name=f"客户{i}", city="上海", owner=rep if i % 20 == 0 else admin,
                  archived_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) if i % 50 == 1 else None)
         for i in range(n)], batch_size=5000)
    ids = list(Customer.objects.values_list("pk", flat=True))
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    statuses = ["paid"] * 8 + ["fulfilled", "refunded", "cancelled", "pending"]
    for s in range(0, args.orders, 20_000):
        Order.objects.bulk_create([
            Order(customer_id=ids[rng.randrange(n)], source="bench", external_id=f"B{i}",
                  status=rng.choice(statuses), total_amount=Decimal(rng.randrange(50, 2000)),
                  placed_at=start + dt.timedelta(minutes=rng.randrange(1_000_000)))
            for i in range(s, min(args.orders, s + 20_000))], batch_size=5000)
    built = time.perf_counter() - t0
    rep_customer = Customer.objects.filter(owner=rep).first()
    some_order = Order.objects.filter(customer=rep_customer).first()
    print(f"{n:,} customers ({n // 50:,} archived), {args.orders:,} orders, built in {built:.1f} s")

    def client_for(user):
        c = Client()
        c.force_login(user)
        return c

    def deep_cursor(c, pages):
        url, after = "/orders/", ""
        for _ in range(pages):
            after = c.get(url, {"after": after} if after else {}).context["next_cursor"]
        return after

    rows = []

    def measure(who, label, c, url, params=None, stream=False):
        times, cpu, queries = [], [], 0
        for i in range(WARM + REPEAT):
            with CaptureQueriesContext(connection) as q:
                t, t_cpu = time.perf_counter(), time.process_time()
                r = c.get(url, params or {})
                if stream:
                    b"".join(r.streaming_content)
                elapsed = (time.perf_counter() - t) * 1000
                elapsed_cpu = (time.process_time() - t_cpu) * 1000
            assert r.status_code == 200, (url, r.status_code)
            if i >= WARM:
                times.append(elapsed)
                cpu.append(elapsed_cpu)
                queries = len(q.captured_queries)
        times.sort()
        cpu.sort()
        rows.append((who, label, statistics.median(times), times[int(len(times) * 0.95) - 1],
                     statistics.median(cpu), cpu[int(len(cpu) * 0.95) - 1], queries))

    for who, user in (("admin (all)", admin), ("rep (own)", rep)):
        c = client_for(user)
        measure(who, "order list, first page", c, "/orders/")
        measure(who, "order list, page 20 (keyset)", c, "/orders/", {"after": deep_cursor(c, 19)})
        measure(who, "order list, status=refunded", c, "/orders/", {"status": "refunded"})
        measure(who, "order list, one customer", c, "/orders/", {"customer": rep_customer.pk})
        measure(who, "order page", c, f"/orders/{some_order.pk}/")
        if user is rep:
            measure(who, "order export (all own orders)", c, "/orders/export.csv", stream=True)
        measure(who, "customer list (archived hidden)", c, "/customers/")
        measure(who, "customer list, archived=yes", c, "/customers/", {"archived": "yes"})
    admin_client = client_for(admin)
    measure("admin (all)", "users page", admin_client, "/settings/users/")
    measure("admin (all)", "roles page", admin_client, "/settings/roles/")

    print(f"\nload average at the end: {os.getloadavg()}")
    print("\n| user | page | p50 ms | p95 ms | CPU p50 ms | CPU p95 ms | SQL queries |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for who, label, p50, p95, c50, c95, q in rows:
        print(f"| {who} | {label} | {p50:.1f} | {p95:.1f} | {c50:.1f} | {c95:.1f} | {q} |")


if __name__ == "__main__":
    main()
