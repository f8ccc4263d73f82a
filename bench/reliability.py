"""Reliability: kill -9 of a real worker during an import, a scoring run and an undo →
state intact and the next run succeeds; reads during a large import → errors and p95;
customer search at scale.

    .venv/bin/python bench/reliability.py [--rows 200000] [--kill-rows 150000] [--undo-rows 20000]
                                          [--seed 1500]
    .venv/bin/python bench/reliability.py --search 1000000 [--postgres URL]

``--search N`` runs only the search scenario: N customers (one in ten an organisation,
a third of the people under one; Chinese and latin names, unique e-mails and mobiles)
are generated once into var/bench-search/ (SQLite) and, with ``--postgres``, into that
database, and kept for the next run. Each of ten queries runs through
customer_list + customer_count (what the list page and the API do) as an admin,
before (the index switched off: the substring scan this replaced) and after.

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


# ---------------------------------------------------------------- search at scale

SEARCH_BASE = ROOT / "var" / "bench-search"
SEARCH_QUERIES = [
    ("latin prefix", "zhang"), ("latin word", "Trading"), ("latin 2 words", "wei li"),
    ("e-mail", None), ("e-mail domain", "example.net"), ("phone", None), ("phone tail", None),
    ("2-char CJK", "上海"), ("2-char CJK", "王芳"), ("3-char CJK", "李小龙"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华小龙伟"
PINYIN = ["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun",
          "ma", "zhu", "hu", "guo", "he", "gao", "lin", "luo"]
LATIN_FIRST = ["Amy", "Wei", "Lily", "Tom", "Grace", "Kevin", "Helen", "Jack", "Emma", "Leo"]
CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "南京", "武汉"]
TRADES = ["贸易", "科技", "实业", "电子", "物流"]


def _search_person(i: int, rng) -> tuple[str, str, str]:
    s, p = rng.randrange(len(SURNAMES)), rng.randrange(len(PINYIN))
    if i % 3 == 0:
        name = f"{LATIN_FIRST[rng.randrange(len(LATIN_FIRST))]} {PINYIN[p].title()}"
    else:
        name = SURNAMES[s] + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    email = f"{PINYIN[p]}.{i}@{('example.com', 'example.net', 'mail.cn')[i % 3]}"
    phone = f"+861{3 + i % 7}{i:09d}"
    return name, email, phone


def _search_build(n: int) -> dict:
    """Generate `n` customers into the configured database unless it already holds them.

    Rows go in with plain INSERTs (COPY on PostgreSQL) of exactly what the ORM would
    store — encrypted e-mail and phone, their blind indexes, the search tokens and the
    name search index — since a million model instances through bulk_create take tens
    of minutes on this shared machine."""
    import datetime
    import random

    from django.core.management import call_command
    from django.db import connection, transaction

    from valuecrm.common.encryption import encrypt
    from valuecrm.customers import search_index
    from valuecrm.customers.models import Customer, CustomerSearchToken
    from valuecrm.customers.search_tokens import token_rows

    call_command("migrate", verbosity=0)
    have = Customer.objects.count()
    if have == n:
        return {"built": False, "customers": have}
    if have:
        raise SystemExit(f"the bench database holds {have} customers, not {n}: remove it first")
    rng = random.Random(11)
    orgs = n // 10
    email_bidx, phone_bidx = Customer._meta.get_field("email_bidx"), Customer._meta.get_field("phone_bidx")
    now = datetime.datetime.now(datetime.UTC)
    sqlite = connection.vendor == "sqlite"
    columns = ["id", "created_at", "updated_at", "kind", "name", "job_title", "email", "gender", "age_band",
               "occupation", "income_band", "region", "city", "acquisition_source", "acquisition_channel",
               "acquisition_cost", "custom_fields", "consent_email", "consent_sms", "consent_phone",
               "consent_wechat", "source", "external_id", "birthday_bidx", "email_bidx", "phone_bidx", "phone",
               "company_id"]
    customers_table, tokens_table = Customer._meta.db_table, CustomerSearchToken._meta.db_table
    started = time.monotonic()
    batch = 20_000
    for start in range(0, n, batch):
        rows, names, emails, phones = [], [], [], []
        for i in range(start, min(n, start + batch)):
            pk = i + 1
            if i < orgs:
                name = (f"{rng.choice(CITIES)}{rng.choice(GIVEN)}{rng.choice(GIVEN)}{rng.choice(TRADES)}有限公司"
                        if i % 2 else f"{rng.choice(PINYIN).title()} {rng.choice(['Trading', 'Tech', 'Foods'])} {i}")
                kind, email, phone, company = "organization", "", "", None
            else:
                name, email, phone = _search_person(i, rng)
                kind = "person"
                company = 1 + rng.randrange(orgs) if orgs and i % 3 == 1 else None
            rows.append((pk, now, now, kind, name, "", encrypt(email), "", "", "", "", "", rng.choice(CITIES),
                         "", "", 0, "{}", False, False, False, False, "", "", "", email_bidx.compute(email),
                         phone_bidx.compute(phone), encrypt(phone), company))
            names.append(name)
            emails.append(email)
            phones.append(phone)
        ids = [r[0] for r in rows]
        token_customers, tokens = token_rows(ids, emails, phones)
        with transaction.atomic():
            if sqlite:
                cursor = connection.connection.cursor()
                cursor.executemany(f"INSERT INTO {customers_table} ({', '.join(columns)}) VALUES "
                                   f"({', '.join(['?'] * len(columns))})", rows)
                cursor.executemany(f"INSERT INTO {tokens_table} (customer_id, token) VALUES (?, ?)",
                                   list(zip(token_customers, tokens, strict=True)))
                search_index.write_new(cursor, sqlite=True, ids=ids, names=names)
                cursor.close()
            else:
                with connection.cursor() as cursor:
                    raw = cursor.cursor
                    with raw.copy(f"COPY {customers_table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    with raw.copy(f"COPY {tokens_table} (customer_id, token) FROM STDIN") as copy:
                        for row in zip(token_customers, tokens, strict=True):
                            copy.write_row(row)
                    search_index.write_new(raw, sqlite=False, ids=ids, names=names)
        if (start + batch) % 100_000 == 0:
            print(f"  {start + batch:,} customers, {time.monotonic() - started:.0f} s", file=sys.stderr)
    with connection.cursor() as cursor:
        if not sqlite:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{customers_table}', 'id'), %s)", [n])
        cursor.execute("ANALYZE")
    return {"built": True, "customers": n, "build s": round(time.monotonic() - started)}


def _search_measure(repeats: int, after_only: bool = False) -> list[dict]:
    from django.db import connection

    from valuecrm.accounts.models import User
    from valuecrm.customers import search_index
    from valuecrm.customers.models import Customer
    from valuecrm.customers.selectors import customer_count, customer_list

    admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        "bench-search", password="bench-search-Passw0rd!")
    n = Customer.objects.count()
    # A person from the middle of the table: its e-mail, its phone typed with spaces, its tail.
    person = Customer.objects.filter(kind="person", pk__gte=Customer.objects.order_by("pk")[n // 2].pk
                                     ).order_by("pk").first()
    sample = (person.name, person.email, person.phone)
    queries = []
    for kind, text in SEARCH_QUERIES:
        if text is None:
            text = {"e-mail": sample[1], "phone": sample[2][3:6] + " " + sample[2][6:10] + " " + sample[2][10:],
                    "phone tail": sample[2][-4:]}[kind]
        queries.append((kind, text))
    real = search_index.matching_ids_sql
    out = []
    passes = (("before", False, max(3, repeats // 4)), ("after", True, repeats))
    for label, use_index, reps in passes[1:] if after_only else passes:
        search_index.matching_ids_sql = real if use_index else (lambda text: None)
        try:
            for kind, text in queries:
                times, lists, counts, found = [], [], [], None
                cpu = time.process_time()
                for _ in range(reps + 1):  # the first run warms the cache and is not counted
                    t = time.perf_counter()
                    rows, _cursor = customer_list(user=admin, search=text, limit=50)
                    t_list = time.perf_counter()
                    count = customer_count(user=admin, search=text)
                    t_end = time.perf_counter()
                    times.append((t_end - t) * 1000)
                    lists.append((t_list - t) * 1000)
                    counts.append((t_end - t_list) * 1000)
                    found = (len(rows), count.value, count.capped)
                cpu = (time.process_time() - cpu) * 1000 / (reps + 1)
                times, lists, counts = sorted(times[1:]), sorted(lists[1:]), sorted(counts[1:])

                def p95(values):
                    return round(values[int(0.95 * (len(values) - 1))], 1)
                out.append({"db": connection.vendor, "customers": f"{n:,}", "when": label, "query": f"{kind}: `{text}`",
                            "rows": found[0], "count": f"{found[1]}{'+' if found[2] else ''}",
                            "p50 ms": round(statistics.median(times), 1), "p95 ms": p95(times),
                            "list p95": p95(lists), "count p95": p95(counts),
                            # this process only: the database server's CPU is not in it
                            "client CPU ms": round(cpu, 1)})
        finally:
            search_index.matching_ids_sql = real
    return out


def search_child(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    import django

    django.setup()
    n, repeats, after_only = int(argv[0]), int(argv[1]), argv[2:3] == ["after-only"]
    if n > 0:
        built = _search_build(n)
    else:  # measure what an interrupted build left (it commits every 20,000 customers)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)  # a database built by older code (customers 0008)
        with connection.cursor() as cursor:
            # VACUUM on PostgreSQL: the visibility map a fresh table lacks until autovacuum
            # reaches it, without which the term table's scans are not index-only.
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
        built = {"built": False}
    print(f"  {built}", file=sys.stderr)
    print(json.dumps(_search_measure(repeats, after_only)))


def scenario_search(n: int, postgres: str | None, repeats: int, size: int, after_only: bool = False,
                    sqlite: bool = True) -> list[dict]:
    SEARCH_BASE.mkdir(parents=True, exist_ok=True)
    rows = []
    for url in ([None] if sqlite else []) + ([postgres] if postgres else []):
        env = {**os.environ, "VALUECRM_DATA_DIR": str(SEARCH_BASE / f"n{size}"),
               "PYTHONPATH": str(ROOT / "src"), "VALUECRM_LOG_LEVEL": "ERROR"}
        env.pop("DATABASE_URL", None)
        if url:
            env["DATABASE_URL"] = url
        (SEARCH_BASE / f"n{size}").mkdir(exist_ok=True)
        out = subprocess.run([sys.executable, __file__, "--search-child", str(n), str(repeats)]
                             + (["after-only"] if after_only else []),
                             env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if out.returncode:
            raise SystemExit(out.returncode)
        rows += json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def search_summary(rows: list[dict]) -> list[dict]:
    summary = []
    for db in dict.fromkeys(r["db"] for r in rows):
        for when in ("before", "after"):
            mine = [r for r in rows if r["db"] == db and r["when"] == when]
            if mine:
                summary.append({"db": db, "when": when, "queries": len(mine),
                                "worst p50 ms": max(r["p50 ms"] for r in mine),
                                "worst p95 ms": max(r["p95 ms"] for r in mine)})
    return summary


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
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="only the search scenario, at N customers")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="with --search: also measure on this PostgreSQL database")
    parser.add_argument("--repeats", type=int, default=20, help="with --search: runs per query")
    parser.add_argument("--postgres-only", action="store_true", help="with --search --postgres: skip SQLite")
    parser.add_argument("--reuse", action="store_true",
                        help="with --search: measure the customers already in the bench databases")
    parser.add_argument("--after-only", action="store_true",
                        help="with --search: skip the 'before' pass (the substring scan, minutes a query "
                             "on PostgreSQL at 1M)")
    if sys.argv[1:2] == ["--search-child"]:
        search_child(sys.argv[2:])
        return
    args = parser.parse_args()
    if args.search:
        rows = scenario_search(0 if args.reuse else args.search, args.postgres, args.repeats, args.search,
                               args.after_only, not args.postgres_only)
        print(f"Search, target {args.search:,} customers (customer_list + customer_count as an admin; "
              f"{args.repeats} runs a query after, {max(3, args.repeats // 4)} before, after one warm-up); "
              f"SQLite {sqlite3.sqlite_version}; load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.\n")
        print(table(rows))
        print()
        print(table(search_summary(rows)))
        return
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
