"""Web latency at scale: customer list, customer 360 page and the customers API.

    python bench/web.py [--customers 100000] [--requests 200] [--no-readme]

Builds (once) a separate data dir var/bench-web/ with the demo generator at
100k customers / ~1M orders, starts the real server (gunicorn, 2 workers, as
`valuecrm serve` does, DEBUG off) on 127.0.0.1, logs in like a browser, and
times sequential requests over one keep-alive connection after a warm-up:

- list:  /customers/?kind=person&city=上海&sort=name (filtered and sorted)
- value list: /customers/?tier=A&sort=-clv (value tier filter, highest CLV first)
- 360:   /customers/<id>/ for random customers the user can see
- api:   GET /api/v1/customers?kind=person&city=上海&sort=name&limit=50 (Bearer token)

for two users: a sales manager (team scope: the visibility rule is an OR over
owner/team) and an analyst (all customers). Target: p95 ≤ 150 ms each. When a
target is missed, the page is re-run in-process with every SQL query timed and
the slowest ones printed with SQLite's query plan.
"""

import argparse
import http.client
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fixtures import REPO, bench_data_dir, ensure_demo_database  # noqa: E402

TARGET_P95_MS = 150.0
CITY = "上海"
USERS = {"manager (team scope)": "chen.jing", "analyst (all customers)": "grace.lin"}
PASSWORD = "bench-password"
README = REPO / "bench" / "README.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--no-readme", action="store_true", help="do not write bench/README.md")
    parser.add_argument("--at", metavar="REF", default="HEAD",
                        help="git commit whose src/ is served (default HEAD; 'worktree' = the "
                             "files as they are, uncommitted edits included)")
    args = parser.parse_args()
    code = _use_code_at(args.at)

    load_at_start = os.getloadavg()[0]
    data_dir = bench_data_dir("web")
    print(f"Dataset: {args.customers:,} customers in {data_dir} (built once, then reused)")
    facts = ensure_demo_database(data_dir, customers=args.customers, password=PASSWORD)
    print(f"  {facts['customers']:,} customers, {facts['orders']:,} orders, "
          f"{facts['order_lines']:,} order lines, {facts['interactions']:,} interactions "
          f"(generated in {facts['generate_seconds']} s)")

    os.environ["VALUECRM_DATA_DIR"] = str(data_dir)
    os.environ["VALUECRM_DEBUG"] = "0"
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-only-secret-key-not-for-production-use-0123456789")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    import django

    django.setup()
    import valuecrm

    print(f"Code: {code} ({Path(valuecrm.__file__).parent})")
    from django.core.management import call_command

    # The dataset may predate migrations added since it was built.
    call_command("migrate", interactive=False, verbosity=0)
    scoring = _ensure_scored()
    print(f"  value scores: {scoring}")
    facts["scoring"] = scoring
    plans = {label: _plan(username, args.requests) for label, username in USERS.items()}

    port = args.port or _free_port()
    server = _start_server(port)
    results = []
    try:
        for label, plan in plans.items():
            client = _Client(port)
            client.login(plan["username"], PASSWORD)
            for endpoint, urls, headers in (
                ("list", [plan["list_url"]], {}),
                ("value list", [plan["value_list_url"]], {}),
                ("360", plan["detail_urls"], {}),
                ("api", [plan["api_url"]], {"Authorization": f"Bearer {plan['token']}"}),
            ):
                timings = client.measure(urls, headers, warmup=args.warmup, count=args.requests)
                row = _stats(label, endpoint, urls[0] if len(urls) == 1 else "/customers/<id>/", timings)
                results.append(row)
                print(f"  {label:26} {endpoint:5} p50 {row['p50']:7.1f} ms  p95 {row['p95']:7.1f} ms")
            client.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    # CPU time per request, in-process: what a request costs regardless of how
    # busy the machine is (wall-clock figures above include waiting for a CPU).
    cpu = _cpu_times(plans, count=min(args.requests, 100))
    for row in results:
        row["cpu_p50"], row["cpu_p95"] = cpu[(row["user"], row["endpoint"])]
    table = _table(results)
    print()
    print(table)
    missed = [r for r in results if r["p95"] > TARGET_P95_MS or r["cpu_p95"] > TARGET_P95_MS]
    profile_text = ""
    if missed:
        print(f"\nMissed the p95 ≤ {TARGET_P95_MS:.0f} ms target: profiling the queries in-process.")
        profile_text = _profile(missed, plans)
        print(profile_text)
    if not args.no_readme:
        _write_readme(facts, table, args, missed, profile_text, load_at_start, code)
        print(f"\nWrote the Web section of {README.relative_to(REPO)}")
    return 0


# -- setup ----------------------------------------------------------------------------

def _use_code_at(ref: str) -> str:
    """Re-run this script with PYTHONPATH on an export of `ref`'s src/, so the figures
    belong to one known commit even while the working tree is being edited."""
    if ref == "worktree":
        return "working tree"
    if os.environ.get("VALUECRM_BENCH_SRC"):
        return os.environ["VALUECRM_BENCH_SRC"]
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=REPO,
                         check=True, capture_output=True, text=True).stdout.strip()
    dest = REPO / "var" / "bench-web-src" / sha[:12]
    if not (dest / "src" / "valuecrm").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=REPO, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        # Front-end files are built, not committed: serve the ones built in the working tree.
        vendor = REPO / "src" / "valuecrm" / "static" / "vendor"
        if vendor.exists():
            (dest / "src" / "valuecrm" / "static" / "vendor").symlink_to(vendor)
    env = dict(os.environ, PYTHONPATH=str(dest / "src"), VALUECRM_BENCH_SRC=f"commit {sha[:12]}")
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env)
    raise AssertionError("unreachable")

def _plan(username: str, count: int) -> dict:
    from valuecrm.accounts.models import User
    from valuecrm.accounts.services import api_token_create
    from valuecrm.customers.visibility import visible_customers

    user = User.objects.get(username=username)
    if not user.check_password(PASSWORD):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    _, token = api_token_create(user=user, name="bench")
    ids = list(visible_customers(user).values_list("id", flat=True))
    rnd = random.Random(1)
    sample = [rnd.choice(ids) for _ in range(count)]
    filters = {"kind": "person", "city": CITY, "sort": "name"}
    return {
        "username": username,
        "visible": len(ids),
        "token": token,
        "list_url": "/customers/?" + urlencode(filters, quote_via=quote),
        # The value view a manager opens every morning: tier A, highest CLV first.
        "value_list_url": "/customers/?" + urlencode({"tier": "A", "sort": "-clv"}),
        "detail_urls": [f"/customers/{pk}/" for pk in sample],
        "api_url": "/api/v1/customers?" + urlencode({**filters, "limit": 50}, quote_via=quote),
    }


def _ensure_scored() -> str:
    """Score every customer once, so the list's value columns and the 360 value panel
    render real numbers (as in a live install) instead of their empty states."""
    try:
        from valuecrm.insights.models import ScoreRun
        from valuecrm.insights.services import score_now
    except ImportError:
        return "no insights scoring in this build"
    latest = ScoreRun.objects.filter(status="succeeded").order_by("-id").first()
    if latest is not None:
        return f"present (run {latest.pk} as of {latest.as_of})"
    started = time.perf_counter()
    run = score_now()
    return f"scored now in {time.perf_counter() - started:.0f} s (run {run.pk}, {run.status})"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(port: int) -> subprocess.Popen:
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    # The same server line as `valuecrm serve`, minus the access log.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "valuecrm.config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--log-level", "warning"],
        env=os.environ.copy(), cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up") from None
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start within 60 s")


class _Client:
    """One keep-alive HTTP/1.1 connection with a cookie jar just big enough for a session."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, body: str | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies and "Authorization" not in headers:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            try:
                self.conn.request(method, url, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def login(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not match:
            raise RuntimeError(f"login page: HTTP {status}")
        form = urlencode({"username": username, "password": password,
                          "csrfmiddlewaretoken": match.group(1).decode()})
        status, _ = self.request("POST", "/login/", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"http://127.0.0.1:{self.port}/login/"})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login as {username} failed: HTTP {status}")

    def measure(self, urls: list[str], headers: dict, *, warmup: int, count: int) -> list[float]:
        for i in range(warmup):
            self._get(urls[i % len(urls)], headers)
        timings = []
        for i in range(count):
            started = time.perf_counter()
            self._get(urls[i % len(urls)], headers)
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    def _get(self, url: str, headers: dict) -> None:
        status, body = self.request("GET", url, headers=headers)
        if status != 200:
            raise RuntimeError(f"GET {url}: HTTP {status}: {body[:300]!r}")

    def close(self) -> None:
        self.conn.close()


# -- results --------------------------------------------------------------------------

def _stats(label: str, endpoint: str, url: str, timings: list[float]) -> dict:
    ordered = sorted(timings)
    return {
        "user": label, "endpoint": endpoint, "url": url, "n": len(ordered),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)],
        "max": ordered[-1], "mean": statistics.fmean(ordered),
    }


def _table(results: list[dict]) -> str:
    lines = ["| user | endpoint | requests | p50 ms | p95 ms | max ms | p95 ≤ 150 ms "
             "| CPU p50 ms | CPU p95 ms |",
             "|---|---|---:|---:|---:|---:|:---:|---:|---:|"]
    for r in results:
        ok = "yes" if r["p95"] <= TARGET_P95_MS else "**no**"
        lines.append(f"| {r['user']} | {r['endpoint']} `{r['url']}` | {r['n']} | {r['p50']:.1f} | "
                     f"{r['p95']:.1f} | {r['max']:.1f} | {ok} | {r['cpu_p50']:.1f} | "
                     f"{r['cpu_p95']:.1f} |")
    return "\n".join(lines)


def _cpu_times(plans: dict, count: int) -> dict:
    """(user, endpoint) → (p50, p95) of the CPU milliseconds one request takes in-process."""
    from django.test import Client

    from valuecrm.accounts.models import User

    out = {}
    for label, plan in plans.items():
        client = Client()
        client.force_login(User.objects.get(username=plan["username"]))
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {plan['token']}"}
        for endpoint, urls, headers in (("list", [plan["list_url"]], {}),
                                        ("value list", [plan["value_list_url"]], {}),
                                        ("360", plan["detail_urls"], {}),
                                        ("api", [plan["api_url"]], bearer)):
            for url in urls[:5]:
                client.get(url, **headers)
            spent = []
            for i in range(count):
                started = time.thread_time()
                response = client.get(urls[i % len(urls)], **headers)
                spent.append((time.thread_time() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"in-process GET {urls[i % len(urls)]}: {response.status_code}")
            spent.sort()
            out[(label, endpoint)] = (statistics.median(spent),
                                      spent[min(len(spent) - 1, int(round(0.95 * len(spent))) - 1)])
    return out


def _profile(missed: list[dict], plans: dict) -> str:
    """Re-run each slow endpoint in-process and list its slowest queries with their plans."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from valuecrm.accounts.models import User

    out = []
    for row in missed:
        plan = plans[row["user"]]
        user = User.objects.get(username=plan["username"])
        client = Client()
        client.force_login(user)
        url = {"list": plan["list_url"], "value list": plan["value_list_url"],
               "360": plan["detail_urls"][0], "api": plan["api_url"]}[row["endpoint"]]
        headers = {"HTTP_AUTHORIZATION": f"Bearer {plan['token']}"} if row["endpoint"] == "api" else {}
        client.get(url, **headers)  # warm
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            client.get(url, **headers)
            total = (time.perf_counter() - started) * 1000
        queries = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)
        sql_ms = sum(float(q["time"]) for q in queries) * 1000
        out.append(f"### {row['user']} — {row['endpoint']} {url}\n"
                   f"{len(queries)} queries, {sql_ms:.0f} ms executing SQL of {total:.0f} ms "
                   f"in-process; {_where_time_goes(client, url, headers)}")
        for query in queries[:3]:
            out.append(f"- {float(query['time']) * 1000:.1f} ms: `{query['sql'][:300]}…`")
            if connection.vendor == "sqlite" and query["sql"].lstrip().upper().startswith("SELECT"):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
                    steps = [step[-1] for step in cursor.fetchall()]
                out.append("  plan: " + " · ".join(steps))
    return "\n".join(out)


def _where_time_goes(client, url: str, headers: dict, repeats: int = 5) -> str:
    """Split a request's CPU time into template rendering, ORM (compile + fetch) and the rest."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        client.get(url, **headers)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def cumulative(file_end: str, name: str) -> float:
        return max((ct for (file, _, func), (_, _, _, ct, _) in stats.items()
                    if file.endswith(file_end) and func == name), default=0.0)

    total = cumulative("django/test/client.py", "request") or 1e-9
    template = cumulative("django/template/backends/django.py", "render")
    orm = cumulative("django/db/models/sql/compiler.py", "execute_sql")
    return (f"under cProfile: templates {100 * template / total:.0f} %, ORM queries (compile, "
            f"execute, fetch) {100 * orm / total:.0f} % (overlapping when templates run queries)")


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        ram = f"{mem_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        ram = "unknown RAM"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # 1, 5, 15 minutes
    import sqlite3

    return (f"{os.cpu_count()} CPUs ({cpu}), {ram}, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, load average (1/5/15 min) at the end {load}; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def _write_readme(facts: dict, table: str, args, missed: list[dict], profile_text: str,
                  load_at_start: float, code: str) -> None:
    section = [
        "## Web",
        "",
        "`python bench/web.py` — real server (gunicorn, 2 workers × 4 threads, DEBUG off, SQLite WAL) "
        "on 127.0.0.1, one keep-alive client, sequential requests after "
        f"{args.warmup} warm-up requests. Data: the demo generator at scale in `var/bench-web/` — "
        f"{facts['customers']:,} customers, {facts['orders']:,} orders, {facts['order_lines']:,} "
        f"order lines, {facts['interactions']:,} interactions (generated in "
        f"{facts['generate_seconds']} s, one transaction); value scores {facts['scoring']}.",
        "",
        f"Code: {code}. Machine: {_machine()}; 1-minute load average at the start "
        f"{load_at_start:.1f}.",
        "",
        table,
        "",
        "p50/p95/max: wall-clock latency seen by the client. CPU p50/p95: CPU time of one "
        "request handled in-process (Django test client, same data and user) — the cost of the "
        "request itself, independent of how busy the machine is.",
        "",
    ]
    if max(load_at_start, os.getloadavg()[0]) > (os.cpu_count() or 1):
        section += ["The machine was busy with other jobs during this run (load average above the "
                    "CPU count), so the figures include waiting for a CPU; re-run on an idle machine "
                    "for the server's own latency.", ""]
    if missed:
        section += ["Slowest queries of the endpoints that missed the target (in-process re-run):", "",
                    profile_text, ""]
    else:
        section += ["Every endpoint meets p95 ≤ 150 ms.", ""]
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    text = _replace_section(text, "## Web", "\n".join(section))
    README.write_text(text)


def _replace_section(text: str, heading: str, body: str) -> str:
    """Swap the `heading` section (up to the next '## ' heading) and leave the rest alone."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    merged = lines[:start] + body.rstrip("\n").splitlines() + ([""] if end < len(lines) else []) + lines[end:]
    return "\n".join(merged).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.exit(main())
