"""Loyalty at scale on a fresh SQLite database: 1M ledger rows for 100k members.

    .venv/bin/python bench/loyalty.py [--members 100000] [--rows-per-member 10] [--orders 20000]

Measures (1) the account read the API's GET /loyalty/accounts/{id} does (snapshot,
tier progress, "expiring in 30 days" from the FIFO replay) — p50/p95 over 500 random
members; (2) the snapshot verified against Σ ledger rows for the same members;
(3) the nightly expiry run on three consecutive nights (lots live two years, so a
night finds one day of lots), the same night again (idempotent: nothing), and a run
after 30 nights without one; (4) the earn subscriber's cost per order against the cost of
ingesting the same orders without it (bulk insert path), on --orders paid orders.

    .venv/bin/python bench/loyalty.py --import-earn [--import-orders 20000] [--import-customers 5000]

(5) earn on an order import: the real import engine (bench/import.py's files, `import_run_now`) of
--import-orders orders for --import-customers customers, with loyalty's import subscriber delivered
as the worker does (`deliver_seqs` of the run's import.finished) and without it (unsubscribed: loyalty
not active); CPU (`process_time`) and wall, median of 3 each, runs alternating.
"""

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench-loyalty"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rows-per-member", type=int, default=10)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--single-orders", type=int, default=2_000)
    parser.add_argument("--import-earn", action="store_true", help="measure (5) only")
    parser.add_argument("--import-orders", type=int, default=20_000)
    parser.add_argument("--import-customers", type=int, default=5_000)
    args = parser.parse_args()
    if args.import_earn:
        import_earn(args)
        return
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(OUT)
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-loyalty-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from valuecrm.accounts.services import admin_ensure
    from valuecrm.common.events.rows import insert_rows
    from valuecrm.customers.models import Customer
    from valuecrm.loyalty import selectors, services
    from valuecrm.loyalty.models import Account, Entry, Program, Tier
    from valuecrm.orders.models import Order

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    Program.objects.create(effective_from=dt.date(2020, 1, 1), escrow_days=0, expiry_days=365, first_order_bonus=0)
    n, per = args.members, args.rows_per_member
    rnd = random.Random(7)
    now = timezone.now()
    t0 = time.perf_counter()
    with transaction.atomic():
        insert_rows(Customer, ("name", "owner_id", "created_at", "updated_at", "kind"),
                    ((f"会员{i}", admin.pk, now, now, "person") for i in range(n)))
        first_customer = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
        standard = Tier.objects.get(code="standard").pk
        insert_rows(Account, ("customer_id", "enrolled_at", "balance", "pending", "lifetime_earned", "tier_id",
                              "referral_code"),
                    ((first_customer + i, now, 0, 0, 0, standard, f"B{i:07d}") for i in range(n)))
        first_account = Account.objects.order_by("pk").values_list("pk", flat=True).first()
        # Per member: earns spread over the last two years (each a lot expiring a year later),
        # then redemptions of part of what was earned; the snapshot is the sum.
        balances = [0] * n
        earned = [0] * n

        def rows():
            for i in range(n):
                for j in range(per):
                    at = now - dt.timedelta(days=rnd.randint(1, 730), seconds=j)
                    if j % 3 == 2 and balances[i] >= 100:
                        balances[i] -= 100
                        yield (first_account + i, "redeem", -100, 0, at, None, None, f"R{j}", "")
                    else:
                        pts = rnd.randint(50, 800)
                        balances[i] += pts
                        earned[i] += pts
                        # Lots live two years, so every lot expires between now and two years from
                        # now: what the nightly job finds on a given night is one day of lots, as
                        # when it has run every night before.
                        yield (first_account + i, "adjust", pts, 0, at, at + dt.timedelta(days=730), None, "",
                               "bench")
        insert_rows(Entry, ("account_id", "kind", "points", "pending", "at", "expires_at", "order_id", "reference",
                            "reason"), rows())
        with connection.cursor() as cur:
            cur.execute("UPDATE loyalty_account SET balance = (SELECT COALESCE(SUM(points), 0) FROM loyalty_entry "
                        "e WHERE e.account_id = loyalty_account.id), lifetime_earned = (SELECT COALESCE(SUM(points), 0)"
                        " FROM loyalty_entry e WHERE e.account_id = loyalty_account.id AND e.points > 0)")
    built = time.perf_counter() - t0
    total_rows = Entry.objects.count()
    print(f"built {n:,} members, {total_rows:,} ledger rows in {built:.1f} s")

    sample = rnd.sample(range(first_customer, first_customer + n), 500)
    for c in sample[:20]:  # warm-up
        selectors.account_view(user=admin, customer_id=c)
    times, verify = [], []
    for c in sample:
        t = time.perf_counter()
        view = selectors.account_view(user=admin, customer_id=c)
        times.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        assert (view.balance, view.pending) == selectors.ledger_sums(Account.objects.get(customer_id=c).pk)
        verify.append((time.perf_counter() - t) * 1000)

    def pct(xs, q):
        return statistics.quantiles(xs, n=100)[q - 1]

    print(f"account read: p50 {statistics.median(times):.2f} ms, p95 {pct(times, 95):.2f} ms; "
          f"snapshot = Σ rows check: p50 {statistics.median(verify):.2f} ms, p95 {pct(verify, 95):.2f} ms")

    timings = []
    for day in (1, 2, 3):
        t = time.perf_counter()
        expired = services.points_expire(now=now + dt.timedelta(days=day))
        timings.append((time.perf_counter() - t, expired))
    t = time.perf_counter()
    again = services.points_expire(now=now + dt.timedelta(days=3))
    second = time.perf_counter() - t
    t = time.perf_counter()
    month = services.points_expire(now=now + dt.timedelta(days=33))
    catch_up = time.perf_counter() - t
    print("nightly expiry, three consecutive nights: " + ", ".join(f"{s:.1f} s ({p:,} points)" for s, p in timings)
          + f"; the same night again: {second:.1f} s ({again} points); after 30 nights without a run: "
          f"{catch_up:.1f} s ({month:,} points)")
    mismatches = sum(1 for a in Account.objects.all().only("pk", "balance", "pending").iterator()
                     if (a.balance, a.pending) != selectors.ledger_sums(a.pk)) if n <= 20_000 else None
    if mismatches is not None:
        print(f"accounts whose snapshot differs from Σ rows: {mismatches}")

    # Earn: ingesting orders with and without the earn subscriber's work, CPU seconds, median of 3.
    m = args.orders
    customers = list(range(first_customer, first_customer + n))

    def ingest(tag: str) -> tuple[float, list[int]]:
        t = time.process_time()
        with transaction.atomic():
            insert_rows(Order, ("customer_id", "source", "external_id", "channel", "status", "placed_at", "currency",
                                "total_amount", "total_cost", "created_at", "updated_at"),
                        ((rnd.choice(customers), tag, f"{tag}{i}", "online", "paid", now, "CNY", 199, 80, now, now)
                         for i in range(m)))
        took = time.process_time() - t
        return took, list(Order.objects.filter(source=tag).values_list("pk", flat=True))

    ingests, batches = [], []
    for run in range(3):
        took, ids = ingest(f"bench-b{run}")
        ingests.append(took)
        t = time.process_time()
        for start in range(0, len(ids), 500):  # the dispatcher's delivery size
            with transaction.atomic():
                services.orders_changed(order_ids=ids[start:start + 500])
        batches.append(time.process_time() - t)
    ing, bat = statistics.median(ingests), statistics.median(batches)
    print(f"{m:,} orders, CPU s median of 3: bulk ingest {ing:.2f} s, batch earn {bat:.2f} s "
          f"({bat / m * 1e3:.3f} ms/order) = +{100 * bat / ing:.0f} % of the bulk ingest")
    took, ids = ingest("bench-single")
    ids = ids[:args.single_orders]
    t = time.process_time()
    for start in range(0, len(ids), 500):
        with transaction.atomic():
            for order_id in ids[start:start + 500]:
                services.order_changed(order_id=order_id)
    single = time.process_time() - t
    print(f"one order at a time, {len(ids):,} orders: {single:.2f} CPU s ({single / len(ids) * 1e3:.2f} ms/order)")

def import_earn(args) -> None:
    out = ROOT / "var" / "bench-loyalty-import"
    shutil.rmtree(out, ignore_errors=True)
    (out / "db").mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(out / "db")
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-loyalty-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "bench"))
    import importlib

    generator = importlib.import_module("import")  # bench/import.py: the messy-but-valid CSV files
    m, runs = args.import_orders, 3
    customers_csv, all_orders = out / "customers.csv", out / "orders-all.csv"
    generator.generate_customers(customers_csv, args.import_customers)
    generator.generate_orders(all_orders, 2 * runs * m, args.import_customers)
    lines = all_orders.read_text(encoding="utf-8").splitlines(keepends=True)
    files = []
    for i in range(2 * runs):  # distinct order numbers per import: each creates all its orders
        path = out / f"orders-{i}.csv"
        path.write_text(lines[0] + "".join(lines[1 + i * m:1 + (i + 1) * m]), encoding="utf-8")
        files.append(path)

    import django

    django.setup()
    from django.core.management import call_command

    from valuecrm.accounts.services import admin_ensure
    from valuecrm.common import events
    from valuecrm.common.models import OutboxEvent
    from valuecrm.imports import services as imports
    from valuecrm.loyalty import subscriber
    from valuecrm.loyalty.models import Account, EarnWatermark, Entry, Program
    from valuecrm.loyalty.selectors import ledger_sums
    from valuecrm.orders.models import Order

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    # Escrow, a first-order bonus and birthday double points: every branch of the earn runs.
    Program.objects.create(effective_from=dt.date(2020, 1, 1), escrow_days=7, expiry_days=365,
                           first_order_bonus=50, birthday_multiplier=2)

    def run(path: Path, **options):
        with open(path, "rb") as handle:
            draft = imports.import_upload(actor=admin, kind=path.stem.split("-")[0], name=path.name,
                                          chunks=iter(lambda: handle.read(1 << 20), b""))
        draft = imports.import_configure(actor=admin, run=draft, options=options)
        t, c = time.perf_counter(), time.process_time()
        done = imports.import_run_now(actor=admin, run=draft)
        return done, time.perf_counter() - t, time.process_time() - c

    done, wall, cpu = run(customers_csv, key="external_id")
    print(f"customers: {done.created_count:,} in {wall:.1f} s")
    key = subscriber.IMPORT_SUBSCRIBER_KEY
    without, with_ = [], []
    for i in range(runs):
        events.unsubscribe(key)  # loyalty not active: nobody takes import.finished
        done, wall, cpu = run(files[2 * i])
        assert done.created_count == m, done.detail
        without.append((wall, cpu))
        # Those orders came in while loyalty was off: the next earn must not credit them too.
        EarnWatermark.objects.filter(key=EarnWatermark.IMPORTS).update(
            last_order_id=Order.objects.order_by("-pk").values_list("pk", flat=True)[0])
        subscriber.register()
        before = Entry.objects.count()
        done, wall, cpu = run(files[2 * i + 1])
        assert done.created_count == m, done.detail
        seq = OutboxEvent.objects.filter(name="import.finished").order_by("-seq").values_list("seq", flat=True)[0]
        t, c = time.perf_counter(), time.process_time()
        events.deliver_seqs(key, [seq])
        earn_wall, earn_cpu = time.perf_counter() - t, time.process_time() - c
        with_.append((wall, cpu, earn_wall, earn_cpu))
        print(f"run {i + 1}: without loyalty {without[-1][0]:.2f} s wall / {without[-1][1]:.2f} s CPU; with: import "
              f"{wall:.2f} / {cpu:.2f} + earn {earn_wall:.2f} / {earn_cpu:.2f} "
              f"({Entry.objects.count() - before:,} ledger rows)", flush=True)
    med = statistics.median
    base_wall, base_cpu = med(w for w, _c in without), med(c for _w, c in without)
    tot_wall, tot_cpu = med(w + ew for w, _c, ew, _ec in with_), med(c + ec for _w, c, _ew, ec in with_)
    earn_wall, earn_cpu = med(ew for *_r, ew, _ec in with_), med(ec for *_r, ec in with_)
    bad = sum(1 for a in Account.objects.only("pk", "balance", "pending")
              if (a.balance, a.pending) != ledger_sums(a.pk))
    print(f"\n{m:,} orders per import, median of {runs}: without loyalty {base_wall:.2f} s wall, {base_cpu:.2f} s CPU;"
          f" with loyalty (import + earn) {tot_wall:.2f} s wall, {tot_cpu:.2f} s CPU; earn alone {earn_wall:.2f} s wall,"
          f" {earn_cpu:.2f} s CPU ({earn_cpu / m * 1e6:.0f} µs/order); ratio {tot_wall / base_wall:.3f} wall, "
          f"{tot_cpu / base_cpu:.3f} CPU (target ≤ 1.20); members {Account.objects.count():,}, "
          f"snapshot ≠ Σ rows: {bad}; load average {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
