"""Scoring-run benchmark: every customer scored end to end on SQLite.

    python bench/scoring.py [--customers 100000] [--runs 2]

Data: the product's demo generator at bench scale (bench/_fixtures.py; about ten
orders per customer) in its own data dir, var/bench-scoring/. Each run is the
real `score_now` — summaries in SQL through Ibis, model choice on a holdout,
Gamma-Gamma, churn classifier, RFM, stages, tiers, alerts, and the one-transaction
write-back of snapshots and the current view. Run 1 starts from no scores (every
customer gets a first stage change); later runs score the same day again and
replace that snapshot. Wall and CPU seconds are both shown: on a shared machine
wall time includes waiting for a CPU.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fixtures import REPO, bench_data_dir, ensure_demo_database  # noqa: E402

STEPS = ["load", "summary", "purchase_model", "spend_model", "churn", "segments", "stages", "alerts", "write"]


def child(runs: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from valuecrm.customers.models import Customer
    from valuecrm.insights.models import (
        CustomerScore,
        CustomerValue,
        ScoreRun,
        StageChange,
        ValueAlert,
    )
    from valuecrm.insights.services import score_now
    from valuecrm.orders.models import Order

    call_command("migrate", verbosity=0)  # the dataset may predate newer apps' tables
    # Start from no scores so run 1 is the heaviest case (every customer changes stage).
    ValueAlert.objects.all().delete()
    for model in (CustomerValue, StageChange, CustomerScore, ScoreRun):
        model.objects.all().delete()
    connection.cursor().execute("DELETE FROM customers_task WHERE title LIKE 'Value alert:%%'")
    facts = {"customers": Customer.objects.count(), "orders": Order.objects.count(), "runs": []}
    as_of = timezone.localdate()
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        run = score_now(as_of=as_of)
        facts["runs"].append({
            "status": run.status, "error": run.error, "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu, "timings": run.timings, "buyers": run.n_buyers,
            "scored_orders": run.n_orders, "stage_changes": run.n_stage_changes, "alerts": run.n_alerts,
            "model": run.transaction_model, "churn": run.churn_metrics.get("method"),
        })
    print("RESULT " + json.dumps(facts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.runs)
        return
    data_dir = bench_data_dir("scoring")
    build = ensure_demo_database(data_dir, customers=args.customers)
    env = dict(os.environ, VALUECRM_DATA_DIR=str(data_dir), VALUECRM_DEBUG="1")
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, __file__, "--child", "--runs", str(args.runs)], env=env,
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    facts = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    load = os.getloadavg()
    print(f"Data: {facts['customers']:,} customers, {facts['orders']:,} orders "
          f"(demo generator, built in {build.get('generate_seconds', float('nan')):.0f} s). "
          f"Load average at the end: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}.\n")
    print("Per step: wall s / CPU s.\n")
    print("| run | status | wall s | CPU s | " + " | ".join(STEPS) + " | buyers | stage changes | alerts |")
    print("|---|---|---:|---:|" + "---:|" * len(STEPS) + "---:|---:|---:|")
    for i, r in enumerate(facts["runs"], 1):
        wall, cpu = r["timings"].get("wall", {}), r["timings"].get("cpu", {})
        steps = " | ".join(f"{wall.get(s, float('nan')):.1f} / {cpu.get(s, float('nan')):.1f}" for s in STEPS)
        print(f"| {i} | {r['status']} | {r['wall']:.1f} | {r['cpu']:.1f} | {steps} | {r['buyers']:,} | "
              f"{r['stage_changes']:,} | {r['alerts']:,} |")
    for r in facts["runs"]:
        if r["error"]:
            print(f"\nerror: {r['error']}")
    print(f"\nmodel: {facts['runs'][0]['model']}, churn: {facts['runs'][0]['churn']}; "
          f"target ≤ 60 s wall per run: {'met' if all(r['wall'] <= 60 for r in facts['runs']) else 'NOT met'}")


if __name__ == "__main__":
    main()
