"""Bulk actions on "every customer matching the view": tag, untag and reassign N
customers chosen by a filter, as the list's confirmed bulk action runs them (the
services with a queryset; one bulk event plus the per-customer events, in one
transaction), on a fresh SQLite database.

    .venv/bin/python bench/bulk_actions.py [--customers 100000]

Prints one table row per action (wall and CPU seconds, customers changed, outbox rows
written); bench/README.md holds the figures.
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench-bulk"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(OUT)
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-bulk-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))

    import django

    django.setup()
    from django.core.management import call_command

    from valuecrm.accounts.models import Team
    from valuecrm.accounts.services import admin_ensure, user_create
    from valuecrm.common.models import OutboxEvent
    from valuecrm.customers.models import Customer
    from valuecrm.customers.selectors import customer_queryset
    from valuecrm.customers.services import (
        customers_bulk_assign,
        customers_bulk_tag,
        customers_bulk_untag,
    )

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    team = Team.objects.create(name="East")
    rep = user_create(username="rep", password="bench-123456789", role="sales_rep", team=team)
    n = args.customers
    cities = ["上海", "北京", "深圳", "杭州"]
    for start in range(0, n, 20_000):
        Customer.objects.bulk_create(
            [Customer(name=f"客户{i}", city=cities[i % 4], owner=admin)
             for i in range(start, min(n, start + 20_000))], batch_size=5000)
    matching = customer_queryset(user=admin, filters={"city": "上海"})
    expected = matching.count()
    print(f"{n:,} customers, {expected:,} match city=上海")

    rows = []

    def measure(label, call):
        outbox = OutboxEvent.objects.count()
        t0, c0 = time.perf_counter(), time.process_time()
        changed = call()
        rows.append((label, changed, time.perf_counter() - t0, time.process_time() - c0,
                     OutboxEvent.objects.count() - outbox))

    measure("tag (matching)", lambda: customers_bulk_tag(
        actor=admin, customer_ids=customer_queryset(user=admin, filters={"city": "上海"}),
        tag_names=["华东"]))
    measure("untag (matching)", lambda: customers_bulk_untag(
        actor=admin, customer_ids=customer_queryset(user=admin, filters={"city": "上海"}),
        tag_names=["华东"]))
    measure("assign (matching)", lambda: customers_bulk_assign(
        actor=admin, customer_ids=customer_queryset(user=admin, filters={"city": "上海"}),
        owner=rep))
    print()
    print("| action | customers changed | wall s | CPU s | outbox rows |")
    print("|---|---:|---:|---:|---:|")
    for label, changed, wall, cpu, events in rows:
        assert changed == expected, (label, changed, expected)
        print(f"| {label} | {changed:,} | {wall:.2f} | {cpu:.2f} | {events:,} |")


if __name__ == "__main__":
    main()
