"""Shared data for the benchmarks, built with the product's own demo generator.

- `ensure_demo_database(data_dir, customers=…)` fills a separate ValueCRM data dir
  (SQLite) with the demo dataset at scale, once: a marker file remembers the
  parameters, so re-running a bench reuses the data. The build runs in a child
  process because Django binds the data dir when it is first imported.
- `demo_transactions(customers=…)` gives the same buy-till-you-die purchase log as
  a pandas frame without any database, for engine benchmarks.

Bench scale (100k customers → about a million orders) uses a higher purchase rate
and lower dropout than the 5k-customer product demo.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VAR = REPO / "var"
# λ ~ Gamma(0.9, 7), p ~ Beta(1, 25): about 10 orders per customer over 18 months.
BENCH_BEHAVIOUR = {"alpha": 7.0, "b": 25.0}
# Bump when the generator's output changes, so a stale bench dataset is rebuilt.
DATASET_VERSION = 2


def bench_data_dir(name: str) -> Path:
    return VAR / f"bench-{name}"


def ensure_demo_database(
    data_dir: Path, *, customers: int, seed: int = 42, behaviour: dict | None = None,
    password: str = "bench-password",
) -> dict:
    """Build (or reuse) a SQLite data dir holding the demo dataset; returns the build facts."""
    behaviour = dict(BENCH_BEHAVIOUR if behaviour is None else behaviour)
    wanted = {"customers": customers, "seed": seed, "behaviour": behaviour, "password": password,
              "version": DATASET_VERSION}
    marker = data_dir / "bench-dataset.json"
    if marker.exists():
        facts = json.loads(marker.read_text())
        if facts.get("params") == wanted:
            return facts
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = dict(os.environ, VALUECRM_DATA_DIR=str(data_dir), VALUECRM_DEBUG="1")
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, __file__, "--build", json.dumps(wanted)], env=env, check=True, cwd=REPO
    )
    return json.loads(marker.read_text())


def demo_transactions(*, customers: int, seed: int = 42, behaviour: dict | None = None):
    """(customer_id, date, amount) of simulated purchases, no database needed."""
    import numpy as np
    import pandas as pd

    from valuecrm.demo.behaviour import BehaviourParams, acquisition_days, simulate_purchases

    rng = np.random.default_rng(seed)
    params = BehaviourParams(**(BENCH_BEHAVIOUR if behaviour is None else behaviour))
    window = 548
    log = simulate_purchases(rng, acquired_day=acquisition_days(rng, customers, window),
                             window_days=window, params=params)
    start = pd.Timestamp("2024-01-01")
    return pd.DataFrame({
        "customer_id": log.customer + 1,
        "date": start + pd.to_timedelta(np.floor(log.day), unit="D"),
        "amount": np.round(log.spend, 2),
    })


def _build(wanted: dict) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from valuecrm.demo.behaviour import BehaviourParams
    from valuecrm.demo.generate import demo_generate

    call_command("migrate", interactive=False, verbosity=0)
    print(f"  building the bench dataset in {os.environ['VALUECRM_DATA_DIR']}", flush=True)
    started = time.perf_counter()

    def report(step):
        print(f"  [{time.perf_counter() - started:6.1f} s] {step}", flush=True)

    result = demo_generate(
        customers=wanted["customers"], seed=wanted["seed"], password=wanted["password"],
        behaviour=BehaviourParams(**wanted["behaviour"]), progress=report,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # give SQLite's planner real statistics, as a maintained DB has
    facts = {
        "params": wanted,
        "customers": result.customers, "orders": result.orders, "order_lines": result.order_lines,
        "interactions": result.interactions, "tasks": result.tasks, "notes": result.notes,
        "generate_seconds": round(result.seconds, 1),
    }
    print(f"  generated {result.customers:,} customers, {result.orders:,} orders, "
          f"{result.order_lines:,} lines in {result.seconds:.1f} s", flush=True)
    (Path(os.environ["VALUECRM_DATA_DIR"]) / "bench-dataset.json").write_text(json.dumps(facts, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--build":
        _build(json.loads(sys.argv[2]))
    else:
        sys.exit("usage: _fixtures.py --build '<json params>' (called by the benchmarks)")
