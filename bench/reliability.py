"""Reliability: kill -9 of a real worker during an import, a scoring run and an undo →
state intact and the next run succeeds; reads during a large import → errors and p95.

    .venv/bin/python bench/reliability.py [--rows 200000] [--kill-rows 150000] [--undo-rows 20000]
                                          [--seed 1500]

Everything runs against a fresh data dir under var/bench-reliability/ (SQLite file, Huey
queue, uploads) with real `valuecrm worker` processes. Prints Markdown tables for
bench/README.md. Sizes default to what this shared 2-CPU machine does in a few minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "tests" / "recovery" / "world.py"
BASE = ROOT / "var" / "bench-reliability"


class Instance:
    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, "VALUECRM_DATA_DIR": str(path), "PYTHONPATH": str(ROOT / "src"),
                    "VALUECRM_LOG_LEVEL": "ERROR", "VALUECRM_HUEY_IMMEDIATE": "0"}
        self.env.pop("DATABASE_URL", None)
        self.workers: list[subprocess.Popen] = []

    def world(self, *args) -> dict:
        out = subprocess.run([sys.executable, str(WORLD), *map(str, args)], env=self.env, cwd=ROOT,
                             capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])

    def worker(self) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "valuecrm.cli", "worker"], env=self.env,
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers.append(process)
        return process

    def kill(self, process) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)

    def q(self, sql, *params):
        with sqlite3.connect(f"file:{self.path / 'valuecrm.sqlite3'}?mode=ro", uri=True,
                             timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def progress(self, run_id: int) -> dict:
        try:
            return json.loads((self.path / "imports" / "progress" / f"{run_id}.json").read_text())
        except (OSError, ValueError):
            return {}


def wait(predicate, timeout=600, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise SystemExit("timed out")


PHONE_BLOCKS = {"Kill": 130, "Next": 131, "Undo": 132, "Load": 133}


def customers_csv(path: Path, n: int, prefix: str) -> Path:
    """n new customers; each file has its own phone numbers (no duplicates across files)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "email", "phone", "city"])
        for i in range(n):
            out.writerow([f"{prefix} {i}", f"{prefix.lower()}{i}@example.com",
                          f"+86{PHONE_BLOCKS[prefix]}{i:08d}", "上海" if i % 3 else "北京"])
    return path


def import_status(inst, run_id):
    return inst.q("SELECT status, detail_code FROM imports_importrun WHERE id = ?", run_id)[0]


def score_status(inst, run_id):
    return inst.q("SELECT status, progress FROM insights_scorerun WHERE id = ?", run_id)[0]


def count(inst, sql="SELECT COUNT(*) FROM customers_customer"):
    return inst.q(sql)[0][0]


def scenario_import(inst, rows) -> dict:
    before = count(inst)
    run = inst.world("queue-import", customers_csv(inst.path / "kill.csv", rows, "Kill"))["run"]
    worker = inst.worker()
    wait(lambda: inst.progress(run).get("processed", 0) >= rows // 4)
    processed = inst.progress(run)["processed"]
    inst.kill(worker)
    after_kill = (import_status(inst, run)[0], count(inst) - before)
    nxt = inst.world("queue-import", customers_csv(inst.path / "next.csv", 1000, "Next"))["run"]
    started = time.monotonic()
    inst.worker()
    wait(lambda: import_status(inst, run)[0] == "failed")
    recovered = time.monotonic() - started
    wait(lambda: import_status(inst, nxt)[0] in ("succeeded", "failed"))
    return {"what": f"import of {rows:,} customers", "killed at": f"{processed:,} rows processed",
            "status after kill": after_kill[0], "rows left by the killed run": after_kill[1],
            "dead run marked (s)": round(recovered, 1),
            "reason": import_status(inst, run)[1], "next run": import_status(inst, nxt)[0],
            "next run rows": count(inst) - before,
            "integrity": inst.q("PRAGMA integrity_check")[0][0]}


def scenario_scoring(inst) -> dict:
    first = inst.world("queue-score")["run"]
    worker = inst.worker()
    wait(lambda: score_status(inst, first)[0] == "running" and score_status(inst, first)[1] >= 8,
         every=0.02)
    step = score_status(inst, first)[1]
    inst.kill(worker)
    status_after = score_status(inst, first)[0]
    started = time.monotonic()
    second = inst.world("queue-score")  # no 409: the dead run is failed first
    refused = "conflict" in second
    recovered = time.monotonic() - started
    inst.worker()
    if not refused:
        wait(lambda: score_status(inst, second["run"])[0] in ("succeeded", "failed"))
    return {"what": f"scoring run ({count(inst):,} customers)", "killed at": f"{step} %",
            "status after kill": status_after, "rows left by the killed run": count(
                inst, f"SELECT COUNT(*) FROM insights_customerscore WHERE run_id = {first}"),
            "dead run marked (s)": round(recovered, 1),
            "reason": "worker stopped" if score_status(inst, first)[0] == "failed" else "-",
            "next run": "409" if refused else score_status(inst, second["run"])[0],
            "next run rows": count(inst, "SELECT COUNT(*) FROM insights_customervalue"),
            "integrity": inst.q("PRAGMA integrity_check")[0][0]}


def scenario_undo(inst, rows) -> dict:
    before = count(inst)
    run = inst.world("queue-import", customers_csv(inst.path / "undo.csv", rows, "Undo"))["run"]
    worker = inst.worker()
    wait(lambda: import_status(inst, run)[0] == "succeeded")
    imported = count(inst) - before
    inst.world("undo", run)
    wait(lambda: inst.progress(run).get("undo_done", 0) >= rows // 4, every=0.02)
    done = inst.progress(run)["undo_done"]
    inst.kill(worker)
    status_after = import_status(inst, run)[0]
    started = time.monotonic()
    inst.worker()
    wait(lambda: import_status(inst, run)[0] == "succeeded")
    recovered = time.monotonic() - started
    intact = count(inst) - before
    inst.world("undo", run)
    wait(lambda: import_status(inst, run)[0] in ("undone", "succeeded"))
    time.sleep(0.5)
    return {"what": f"undo of an import of {rows:,}", "killed at": f"{done:,} records undone",
            "status after kill": status_after,
            "rows left by the killed run": f"{intact:,} of {imported:,} still there (intact)",
            "dead run marked (s)": round(recovered, 1),
            "reason": import_status(inst, run)[1] or "undo_worker_stopped",
            "next run": import_status(inst, run)[0], "next run rows": count(inst) - before,
            "integrity": inst.q("PRAGMA integrity_check")[0][0]}


def scenario_reads(inst, rows) -> dict:
    stop, out = inst.path / "stop-reading", inst.path / "reads.json"
    stop.unlink(missing_ok=True)
    run = inst.world("queue-import", customers_csv(inst.path / "big.csv", rows, "Load"))["run"]
    reader = subprocess.Popen([sys.executable, str(WORLD), "read-load", stop, out], env=inst.env,
                              cwd=ROOT, stdout=subprocess.DEVNULL)
    time.sleep(8)  # the reader's start-up and a baseline before the import begins
    started = time.monotonic()
    inst.worker()
    wait(lambda: import_status(inst, run)[0] in ("succeeded", "failed"), timeout=3600)
    seconds = time.monotonic() - started
    stop.touch()
    reader.wait()
    samples = json.loads(out.read_text())
    ok = [ms for _, status, ms in samples if status == 200]
    errors = [s for _, s, _ in samples if s != 200]
    ok.sort()
    return {"rows": rows, "import status": import_status(inst, run)[0], "import s": round(seconds, 1),
            "requests": len(samples), "errors": len(errors),
            "error kinds": sorted({str(e) for e in errors}) or "-",
            "p50 ms": round(statistics.median(ok), 1),
            "p95 ms": round(ok[int(0.95 * (len(ok) - 1))], 1), "max ms": round(ok[-1], 1)}


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the import read under")
    parser.add_argument("--kill-rows", type=int, default=150_000, help="rows of the killed import")
    parser.add_argument("--undo-rows", type=int, default=20_000, help="rows of the import undone")
    parser.add_argument("--seed", type=int, default=1500, help="demo customers (for scoring)")
    args = parser.parse_args()
    shutil.rmtree(BASE, ignore_errors=True)
    inst = Instance(BASE)
    t0 = time.monotonic()
    inst.world("setup")
    inst.world("seed", args.seed)
    crash = []
    try:
        crash.append(scenario_import(inst, args.kill_rows))
        inst.stop()
        crash.append(scenario_scoring(inst))
        inst.stop()
        crash.append(scenario_undo(inst, args.undo_rows))
        inst.stop()
        reads = scenario_reads(inst, args.rows)
    finally:
        inst.stop()
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    print(f"Code: commit {commit}. Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; total {time.monotonic() - t0:.0f} s.\n")
    print("Kill -9 of the worker, then a new worker:\n")
    print(table(crash))
    print("\nReads (API list and customer list page, the dashboard; one client, sequential) "
          "while a worker imports:\n")
    print(table([reads]))


if __name__ == "__main__":
    main()
