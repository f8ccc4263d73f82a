"""Service at size: 100,000 tickets on a fresh SQLite database — the agent queue (first
page, tier-A and at-risk first, then nearest due), the queue filtered to one agent, a
ticket's page, and the SLA due-time computation of every open ticket through the engine.

    .venv/bin/python bench/service.py [--tickets 100000] [--customers 20000]

Prints wall/CPU p50/p95 ms of 30 requests after 3 warm-ups and SQL queries per request,
then the seconds to compute first-response and resolution due times of all open tickets;
bench/README.md holds the figures.
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
OUT = ROOT / "var" / "bench-service"
REPEAT, WARM = 30, 3


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(OUT)
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ["VALUECRM_MFA_REQUIRED_ROLES"] = ""
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-service-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from valuecrm.accounts.services import admin_ensure, user_create
    from valuecrm.customers.models import Customer
    from valuecrm.service import clocks
    from valuecrm.service.models import ACTIVE_STATUSES, Ticket
    from valuecrm.service.services import calendar_save, sla_policy_save

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    agents = [user_create(username=f"agent{i}", password="bench-123456789", role="support_agent")
              for i in range(10)]
    cal = calendar_save(actor=admin, data={
        "name": "Beijing", "timezone": "Asia/Shanghai", "holidays": "CN",
        "hours": [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)]})
    policies = [sla_policy_save(actor=admin, data={
        "name": p, "calendar_id": cal.pk, "priority": p, "first_response_minutes": f, "resolution_minutes": r})
        for p, f, r in (("low", 480, 3240), ("normal", 240, 1620), ("high", 60, 960), ("urgent", 30, 480))]
    rng = random.Random(14)
    t0 = time.perf_counter()
    Customer.objects.bulk_create([Customer(name=f"客户{i}", owner=admin) for i in range(args.customers)],
                                 batch_size=5000)
    ids = list(Customer.objects.values_list("pk", flat=True))
    now = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    statuses = ["closed"] * 12 + ["solved"] * 4 + ["new", "open", "open", "waiting", "on_hold"]
    for s in range(0, args.tickets, 20_000):
        rows = []
        for i in range(s, min(args.tickets, s + 20_000)):
            status = rng.choice(statuses)
            opened = now - dt.timedelta(minutes=rng.randrange(1, 525_600))
            policy = rng.choice(policies)
            running = status in ("new", "open")
            rows.append(Ticket(customer_id=ids[rng.randrange(len(ids))], subject=f"工单 {i}", status=status,
                               priority=policy.priority, sla_policy=policy, opened_at=opened,
                               assignee=rng.choice(agents), queue_rank=rng.choice([0] * 8 + [1, 2]),
                               resolution_running_since=opened if running else None,
                               first_response_due_at=opened + dt.timedelta(hours=4),
                               resolution_due_at=opened + dt.timedelta(days=2) if running else None))
        Ticket.objects.bulk_create(rows, batch_size=5000)
    built = time.perf_counter() - t0
    print(f"built {args.tickets:,} tickets for {args.customers:,} customers in {built:.1f} s")

    client = Client()
    client.force_login(agents[0])
    sample = Ticket.objects.filter(status="open").order_by("id").first()
    pages = [("agent queue, first page", "/service/"), ("queue, mine", "/service/?view=mine"),
             ("ticket page", f"/service/tickets/{sample.pk}/"), ("service dashboard, 30 days",
                                                                 "/service/dashboard/?period=30d")]
    print("| page | wall p50 ms | wall p95 ms | CPU p50 ms | CPU p95 ms | queries |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, url in pages:
        walls, cpus, queries = [], [], 0
        for i in range(WARM + REPEAT):
            w, c = time.perf_counter(), time.process_time()
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            if i >= WARM:
                walls.append((time.perf_counter() - w) * 1000)
                cpus.append((time.process_time() - c) * 1000)
                queries = len(ctx.captured_queries)
        print(f"| {label} | {statistics.median(walls):.1f} | {_p(walls, 0.95):.1f} | "
              f"{statistics.median(cpus):.1f} | {_p(cpus, 0.95):.1f} | {queries} |")

    active = list(Ticket.objects.filter(status__in=ACTIVE_STATUSES).select_related("sla_policy__calendar")
                  .only("opened_at", "resolution_running_since", "resolution_consumed", "sla_policy"))
    w, c = time.perf_counter(), time.process_time()
    for t in active:
        p = t.sla_policy
        clocks.due_at(p.calendar, t.opened_at, p.first_response_minutes)
        if t.resolution_running_since is not None:
            clocks.due_at(p.calendar, t.resolution_running_since, p.resolution_minutes - t.resolution_consumed)
    print(f"SLA due times of {len(active):,} open tickets: {time.perf_counter() - w:.2f} s wall, "
          f"{time.process_time() - c:.2f} s CPU")


if __name__ == "__main__":
    main()
