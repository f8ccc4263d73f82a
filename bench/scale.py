"""Scale benchmark: score N customers (≈ 10 orders each) from Parquet files on DuckDB.

    python bench/scale.py [--customers 100000 1000000] [--threads 2]

Data: the engine's BG/NBD simulator (valuecrm.engine.simulate, about ten orders per
customer over 18 months, with a purchase amount each) written to a directory of
Parquet files, var/bench-scale/orders-N/, once per size. Each size is scored
end to end by the real command in a fresh process:

    valuecrm score --engine duckdb --orders var/bench-scale/orders-N --output scores.parquet

— the per-customer-day table and both BTYD summaries (full and calibration) on
DuckDB, model choice on a holdout, fits on the collapsed unique (x, t_x, T) rows
with weights, Gamma-Gamma, churn classifier, RFM, stages, tiers, value reasons,
next-best actions, and the scores streamed to Parquet. Reported: wall and CPU
seconds of that process, its peak resident memory, and the slope of time and
memory against customers on a log-log scale (1 = linear). Results go to
bench/README.md ("Scale: DuckDB scoring").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VAR = REPO / "var" / "bench-scale"
PARTS = 8
# Chosen so the simulated log has ≈ 10–12 orders per customer (λ ~ Gamma(0.9, 20)/day, p ~ Beta(1, 25)).
BEHAVIOUR = {"r": 0.9, "alpha": 20.0, "a": 1.0, "b": 25.0, "observation_days": 540, "cohort_days": 360}
START = "2025-01-01"


def env() -> dict:
    out = dict(os.environ)
    out.update({"VALUECRM_DATA_DIR": str(VAR / "data"), "PYTHONPATH": str(REPO / "src")})
    out.pop("DATABASE_URL", None)
    return out


def generate(customers: int) -> tuple[Path, int, str]:
    """The order files for ``customers`` (built once); returns (dir, orders, last day)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(REPO / "src"))
    from valuecrm.engine.simulate import simulate_bgnbd_transactions

    folder = VAR / f"orders-{customers}"
    marker = folder / "facts.json"
    if marker.exists():
        facts = json.loads(marker.read_text())
        if facts.get("behaviour") == BEHAVIOUR:
            return folder, facts["orders"], facts["last_day"]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    per_part = math.ceil(customers / PARTS)
    orders, last = 0, ""
    for part in range(PARTS):
        n = min(per_part, customers - part * per_part)
        if n <= 0:
            break
        frame = simulate_bgnbd_transactions(n, seed=part, start=START, **BEHAVIOUR)
        frame["customer_id"] += part * per_part
        orders += len(frame)
        last = max(last, str(frame["date"].max().date()))
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"part-{part}.parquet")
    marker.write_text(json.dumps({"customers": customers, "orders": orders, "last_day": last,
                                  "behaviour": BEHAVIOUR}))
    return folder, orders, last


def score(folder: Path, as_of: str, threads: int) -> dict:
    output = VAR / f"scores-{folder.name}.parquet"
    child_env = env()
    child_env["VALUECRM_ENGINE_THREADS"] = str(threads)
    command = [sys.executable, "-m", "valuecrm.cli", "score", "--engine", "duckdb", "--orders", str(folder),
               "--output", str(output), "--as-of", as_of]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=child_env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    scored = int(re.search(r"Scored ([\d,]+) buyers", proc.stdout).group(1).replace(",", ""))
    steps = re.search(r"CPU seconds by step: (.*)", proc.stdout)
    return {"steps": steps.group(1).strip() if steps else "", "wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024, "scored": scored}


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "valuecrm.cli", "migrate"], env=env(), check=True,
                   capture_output=True)
    rows = []
    for customers in sorted(args.customers):
        started = time.perf_counter()
        folder, orders, last = generate(customers)
        generated = time.perf_counter() - started
        result = score(folder, last, args.threads)
        rows.append({"customers": customers, "orders": orders, "generate_s": generated, **result})
        print(f"{customers:>10,} customers {orders:>12,} orders  scored {result['scored']:>10,} "
              f"wall {result['wall']:7.1f} s  cpu {result['cpu']:7.1f} s  peak {result['peak_mb']:7.0f} MB",
              flush=True)
        print(f"    CPU seconds by step: {result['steps']}", flush=True)
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores")
    if len(rows) > 1:
        xs = [r["customers"] for r in rows]
        print(f"log-log slope: wall {slope(xs, [r['wall'] for r in rows]):.2f}, "
              f"cpu {slope(xs, [r['cpu'] for r in rows]):.2f}, "
              f"memory {slope(xs, [r['peak_mb'] for r in rows]):.2f}")
    (VAR / "results.json").write_text(json.dumps({"rows": rows, "load": load}, indent=1))


if __name__ == "__main__":
    main()
