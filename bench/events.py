"""Events → rules → actions at scale: a bulk tag of N customers with 3 active rules,
end to end (the tag, the outbox, the engine's after-commit dispatch, the run log, the
actions and the events they emit), plus the emit overhead of a single write, on a
fresh SQLite database.

    .venv/bin/python bench/events.py [--customers 100000] [--tagged 50000]

The 3 rules: (1) on customer.tagged with tag "campaign" → create a task for the owner
and add tag "followed"; (2) on customer.tagged with tag "campaign", list filter city = 上海 → add tag "上海活动";
(3) on customer.tagged with tag "never" (matches nothing) → add tag "x". Rule 1's
and rule 2's add_tag emit one more customer.tagged per customer, which all 3 rules see
again at depth 1 (and do not match). Peak memory is the process's peak RSS (bounded: every step works in chunks).
"""

import argparse
import functools
import importlib
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / os.environ.get("BENCH_EVENTS_DIR", "bench-events")


class Phases:
    """CPU seconds per phase of the bulk tag, each phase's own time (a nested phase's time
    is its own, not its caller's): functions are wrapped by module attribute, so the code
    under test is unchanged."""

    def __init__(self):
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[list] = []  # [phase, started, child time]
        self.undo: list = []

    def wrap(self, module: str, name: str, phase: str, *, only_outermost: bool = False):
        mod = importlib.import_module(module)
        original = getattr(mod, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if only_outermost and self.stack:
                return original(*args, **kwargs)
            frame = [phase, time.process_time(), 0.0]
            self.stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()
                total = time.process_time() - frame[1]
                self.cpu[phase] = self.cpu.get(phase, 0.0) + total - frame[2]
                self.calls[phase] = self.calls.get(phase, 0) + 1
                if self.stack:
                    self.stack[-1][2] += total

        setattr(mod, name, timed)
        self.undo.append((mod, name, original))

    def restore(self):
        for mod, name, original in reversed(self.undo):
            setattr(mod, name, original)
        self.undo = []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tagged", type=int, default=50_000)
    parser.add_argument("--profile", help="write cProfile stats of the bulk tag to PATH.bulk and of the "
                        "single writes to PATH.single (slower: figures are then not comparable)")
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(OUT)
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-events-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from valuecrm.accounts.services import admin_ensure
    from valuecrm.automation.models import Run
    from valuecrm.automation.services import rule_create
    from valuecrm.common.models import OutboxEvent
    from valuecrm.customers.models import Customer, Note, Task
    from valuecrm.customers.services import customer_update

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    n = args.customers
    cities = ["上海", "北京", "深圳", "杭州"]
    t0 = time.perf_counter()
    for start in range(0, n, 20_000):
        Customer.objects.bulk_create([Customer(name=f"客户{i}", city=cities[i % 4], owner=admin)
                                      for i in range(start, min(n, start + 20_000))], batch_size=5000)
    generated = time.perf_counter() - t0

    # Emit overhead of a single write: customer_update with and without the outbox row.
    sample = list(Customer.objects.order_by("pk")[:400])

    cpu_times: dict[str, list[float]] = {}

    def timed_updates(customers, suffix):
        # Wall and CPU time per update: on a shared machine the CPU time is the steadier one.
        out, cpu = [], cpu_times.setdefault(suffix, [])
        for i, c in enumerate(customers):
            s, c0 = time.perf_counter(), time.process_time()
            customer_update(actor=admin, customer=c, data={"job_title": f"t{suffix}{i}"})
            out.append((time.perf_counter() - s) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        return out

    import cProfile

    from valuecrm.common import events

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    with_emit = timed_updates(sample[:200], "a")
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile + ".single")
    real_emit_many = events.emit_many
    import valuecrm.customers.services as cs

    cs.events.emit_many = lambda evs, actor=None: []
    try:
        without_emit = timed_updates(sample[200:], "b")
    finally:
        cs.events.emit_many = real_emit_many
    emit_cost = statistics.median(with_emit) - statistics.median(without_emit)
    s = time.perf_counter()
    with transaction.atomic():
        for _ in range(1000):
            events.emit(events.CustomerUpdated(customer_id=sample[0].pk, changed_fields=("job_title",)), actor=admin)
        transaction.set_rollback(True)
    emit_alone = (time.perf_counter() - s)  # ms per emit = seconds per 1000

    rule_create(actor=admin, data={"name": "campaign follow-up", "enabled": True,
                                   "trigger": {"event": "customer.tagged"}, "max_runs_per_hour": 1_000_000,
                                   "conditions": [{"field": "tags", "op": "contains", "value": "campaign"}],
                                   "actions": [{"type": "create_task", "title": "Follow up {customer}"},
                                               {"type": "add_tag", "tag": "followed"}]})
    rule_create(actor=admin, data={"name": "Shanghai note", "enabled": True, "max_runs_per_hour": 1_000_000,
                                   "trigger": {"event": "customer.tagged"},
                                   "conditions": [{"filter": "city", "value": "上海"},
                                                  {"field": "tags", "op": "contains", "value": "campaign"}],
                                   "actions": [{"type": "add_tag", "tag": "上海活动"}]})
    rule_create(actor=admin, data={"name": "never", "enabled": True, "max_runs_per_hour": 1_000_000,
                                   "trigger": {"event": "customer.tagged"},
                                   "conditions": [{"field": "tags", "op": "contains", "value": "never"}],
                                   "actions": [{"type": "add_tag", "tag": "x"}]})
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:args.tagged])
    outbox_before = OutboxEvent.objects.count()
    phases = Phases()
    for module, name, phase, outer in (
            ("valuecrm.customers.services", "customers_bulk_tag", "bulk write (the tag links)", True),
            ("valuecrm.common.events", "emit_many", "outbox rows (emit)", False),
            ("valuecrm.common.events.outbox", "emit_many", "outbox rows (emit)", False),
            ("valuecrm.common.events.outbox", "dispatch", "dispatch (load, envelopes, receipts, completion)", False),
            ("valuecrm.common.events.outbox", "_dispatch_committed",
             "dispatch (load, envelopes, receipts, completion)", False),
            ("valuecrm.automation.engine", "run_rule", "engine: per-rule bookkeeping", False),
            ("valuecrm.automation.engine", "_assign_chain_roots", "engine: run-log look-ups and loop guards", False),
            ("valuecrm.automation.engine", "_not_yet_run", "engine: run-log look-ups and loop guards", False),
            ("valuecrm.automation.engine", "_guard_loops", "engine: run-log look-ups and loop guards", False),
            ("valuecrm.automation.engine", "_rate_limit", "engine: run-log look-ups and loop guards", False),
            ("valuecrm.automation.engine", "_evaluate", "condition evaluation", False),
            ("valuecrm.automation.engine", "_act", "actions (tasks, tag links, facts)", False),
            ("valuecrm.common.events", "insert_rows", "run-log rows", False)):
        phases.wrap(module, name, phase, only_outermost=outer)
    cpu0 = time.process_time()
    s = time.perf_counter()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    cs.customers_bulk_tag(actor=admin, customer_ids=ids, tag_names=["campaign"])  # autocommit: dispatch follows
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile + ".bulk")
    wall = time.perf_counter() - s
    cpu = time.process_time() - cpu0
    phases.restore()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    undispatched = OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
    database = (f"SQLite {connection.Database.sqlite_version}" if connection.vendor == "sqlite"
                else f"{connection.vendor} {connection.Database.__name__}")
    print(f"customers {n:,} (generated in {generated:.1f} s), tagged {len(ids):,}, {database}")
    print(f"| step | value |\n|---|---:|\n| load average | {' '.join(f'{x:.1f}' for x in os.getloadavg())} |")
    print(f"| bulk tag + 3 rules end to end, wall (s) | {wall:.2f} |")
    print(f"| same, CPU (s) | {cpu:.2f} |")
    print(f"| peak RSS of the process (MiB) | {peak_mb:.0f} |")
    print(f"| outbox rows written | {OutboxEvent.objects.count() - outbox_before:,} |")
    print(f"| undispatched after | {undispatched:,} |")
    print(f"| run-log rows | {Run.objects.count():,} |")
    print(f"| tasks created | {Task.objects.count():,} |")
    print(f"| notes created | {Note.objects.count():,} |")
    print("\n| phase of the bulk tag | CPU (s) | calls |\n|---|---:|---:|")
    for phase, seconds in phases.cpu.items():
        print(f"| {phase} | {seconds:.2f} | {phases.calls[phase]:,} |")
    print(f"| rest (outside these functions) | {cpu - sum(phases.cpu.values()):.2f} | |\n")
    print(f"| customer_update median with emit (ms) | {statistics.median(with_emit):.2f} |")
    print(f"| customer_update median without emit (ms) | {statistics.median(without_emit):.2f} |")
    print(f"| emit overhead per single write (ms, difference of medians) | {emit_cost:.2f} |")
    print(f"| emit overhead per single write, CPU (ms, difference of medians) | "
          f"{statistics.median(cpu_times['a']) - statistics.median(cpu_times['b']):.2f} |")
    print(f"| emit() alone inside a transaction (ms per event) | {emit_alone:.3f} |")


if __name__ == "__main__":
    main()
