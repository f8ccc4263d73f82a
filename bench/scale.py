"""Scale benchmark: score N customers (≈ 10 orders each) from Parquet files on DuckDB and Spark.

    python bench/scale.py [--customers 100000 1000000] [--engines duckdb spark] [--threads 2]
                          [--spark-master local[2]] [--plot bench/scale.png]

Data: the engine's BG/NBD simulator (valuecrm.engine.simulate, about ten orders per
customer over 18 months, with a purchase amount each) written to a directory of
Parquet files, var/bench-scale/orders-N/, once per size. Each size is scored
end to end by the real command in a fresh process:

    valuecrm score --engine duckdb --orders var/bench-scale/orders-N --output scores.parquet
    valuecrm score --engine spark --spark-master local[2] --orders … --output scores.parquet

— the per-customer-day table and both BTYD summaries (full and calibration) on
DuckDB, model choice on a holdout, fits on the collapsed unique (x, t_x, T) rows
with weights, Gamma-Gamma, churn classifier, RFM, stages, tiers, value reasons,
next-best actions, and the scores streamed to Parquet (on Spark the unique rows and
the per-customer predictions are computed in Spark's partitions). Reported: wall
and CPU seconds of that process *and its children* (Spark's JVM and Python
workers), the peak resident memory of the CRM process and of the largest child
(the JVM), and the slope of time and memory against customers on a log-log scale
(1 = linear); a log-log PNG plot. Results go to bench/README.md ("Scale").
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


def score(folder: Path, as_of: str, threads: int, engine: str = "duckdb", master: str = "local[2]") -> dict:
    output = VAR / f"scores-{engine}-{folder.name}.parquet"
    child_env = env()
    child_env["VALUECRM_ENGINE_THREADS"] = str(threads)
    child_env.setdefault("SPARK_DRIVER_MEMORY", "4g")
    command = [sys.executable, "-m", "valuecrm.cli", "score", "--engine", engine, "--orders", str(folder),
               "--output", str(output), "--as-of", as_of]
    if engine == "spark":
        command += ["--spark-master", master]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # The scoring process's own peak RSS comes from `time -v`-style accounting: run it
    # under a tiny wrapper that reports its own RUSAGE_SELF, so the JVM is counted apart.
    wrapped = [sys.executable, "-c", _WRAPPER, *command]
    proc = subprocess.run(wrapped, env=child_env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    own = json.loads(re.search(r"RUSAGE (\{.*\})", proc.stderr).group(1))
    scored = int(re.search(r"Scored ([\d,]+) buyers", proc.stdout).group(1).replace(",", ""))
    steps = re.search(r"CPU seconds by step: (.*)", proc.stdout)
    return {"engine": engine, "steps": steps.group(1).strip() if steps else "", "wall": wall,
            "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": own["crm_peak_kb"] / 1024, "child_peak_mb": own["child_peak_kb"] / 1024,
            "scored": scored}


# Runs the command as a child subreaper (Linux prctl), so Spark's JVM and Python workers,
# orphaned when the scoring process exits, are reaped here and their CPU counted; prints
# the peak RSS of the scoring process itself and of the largest process of the tree.
_WRAPPER = """
import ctypes, json, os, resource, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
tree = resource.getrusage(resource.RUSAGE_CHILDREN)
print("RUSAGE " + json.dumps({"crm_peak_kb": usage.ru_maxrss, "child_peak_kb": tree.ru_maxrss}), file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engines", nargs="+", default=["duckdb"], choices=["duckdb", "spark"])
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--plot", default=str(REPO / "bench" / "scale.png"))
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "valuecrm.cli", "migrate"], env=env(), check=True,
                   capture_output=True)
    results = VAR / "results.json"
    kept = json.loads(results.read_text()).get("rows", []) if results.exists() else []
    rows = []
    for customers in sorted(args.customers):
        started = time.perf_counter()
        folder, orders, last = generate(customers)
        generated = time.perf_counter() - started
        for engine in args.engines:
            load_before = os.getloadavg()[0]
            result = score(folder, last, args.threads, engine, args.spark_master)
            rows.append({"customers": customers, "orders": orders, "generate_s": generated,
                         "load_before": load_before, "load_after": os.getloadavg()[0], **result})
            print(f"{engine:>6} {customers:>10,} customers {orders:>12,} orders  scored {result['scored']:>10,} "
                  f"wall {result['wall']:7.1f} s  cpu {result['cpu']:7.1f} s  CRM peak {result['peak_mb']:7.0f} MB"
                  f"  largest child {result['child_peak_mb']:7.0f} MB  load {load_before:.1f}→"
                  f"{rows[-1]['load_after']:.1f}", flush=True)
            print(f"    CPU seconds by step: {result['steps']}", flush=True)
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores")
    # Keep earlier measurements of other sizes/engines (runs are long; sizes are run apart).
    measured = {(r["engine"], r["customers"]) for r in rows}
    rows = [r for r in kept if (r.get("engine", "duckdb"), r["customers"]) not in measured] + rows
    rows.sort(key=lambda r: (r.get("engine", "duckdb"), r["customers"]))
    for engine in sorted({r.get("engine", "duckdb") for r in rows}):
        mine = [r for r in rows if r.get("engine", "duckdb") == engine]
        if len(mine) > 1:
            xs = [r["customers"] for r in mine]
            print(f"{engine} log-log slope: wall {slope(xs, [r['wall'] for r in mine]):.2f}, "
                  f"cpu {slope(xs, [r['cpu'] for r in mine]):.2f}, "
                  f"memory {slope(xs, [r['peak_mb'] for r in mine]):.2f}")
    results.write_text(json.dumps({"rows": rows, "load": load}, indent=1))
    plot(rows, Path(args.plot))


def plot(rows: list[dict], path: Path) -> None:
    """CPU seconds and peak memory against customers, log-log, one line per engine."""
    try:
        import matplotlib
    except ImportError:
        print("no plot: pip install 'valuecrm[bench]' for matplotlib")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cpu_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for engine in sorted({r.get("engine", "duckdb") for r in rows}):
        mine = [r for r in rows if r.get("engine", "duckdb") == engine]
        xs = [r["customers"] for r in mine]
        cpu_axis.plot(xs, [r["cpu"] for r in mine], "o-", label=f"{engine} CPU s")
        cpu_axis.plot(xs, [r["wall"] for r in mine], "x--", label=f"{engine} wall s")
        memory_axis.plot(xs, [r["peak_mb"] for r in mine], "o-", label=f"{engine} CRM process")
        if engine == "spark":
            memory_axis.plot(xs, [r.get("child_peak_mb", 0) for r in mine], "x--", label="spark JVM")
    for axis, title in ((cpu_axis, "seconds"), (memory_axis, "peak RSS, MB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("customers (≈ 11.8 orders each)")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("valuecrm score --orders … --output … (2 shared CPUs)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
