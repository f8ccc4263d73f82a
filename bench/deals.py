"""Deals at scale on SQLite: 100k deals / 1M stage-log rows.

1. The demo generator's deals (3,000 customers, two years, two pipelines): the learned
   model vs the Odoo-style naive Bayes baseline vs the stage-default probability, Brier
   and ROC-AUC on the held-out later period, side by side.
2. Scaled up to 100,000 deals with 1,000,000 stage-log rows: kanban page and forecast page
   p50/p95 (Django test client, logged in as the manager and as a rep), model training time.

    .venv/bin/python bench/deals.py            # figures go to bench/README.md by hand
"""

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "var" / "bench-deals"
N_DEALS = int(os.environ.get("BENCH_DEALS", "100000"))
LOG_PER_DEAL = 10
RUNS = int(os.environ.get("BENCH_RUNS", "20"))


REUSE = os.environ.get("BENCH_REUSE") == "1" and (DATA / "valuecrm.sqlite3").exists()


def setup_django():
    if not REUSE:
        shutil.rmtree(DATA, ignore_errors=True)
        DATA.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(DATA)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(REPO / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def demo_and_compare():
    from valuecrm.deals.models import Pipeline
    from valuecrm.deals.win_model import evaluate_pipeline
    from valuecrm.demo.generate import demo_generate
    from valuecrm.insights.services.scoring import score_now

    demo_generate(customers=3000, seed=42)
    score_now()
    print("\n| pipeline | closed deals train / test | stage default Brier | naive Bayes (Odoo) Brier | "
          "learned logistic Brier | chosen | chosen / stage default | ROC-AUC NB | ROC-AUC logistic |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for pipeline in Pipeline.objects.all():
        r = evaluate_pipeline(pipeline)
        print(f"| {pipeline.name} | {r['n_train']} / {r['n_test']} | {r['brier_stage_default']:.4f} | "
              f"{r['brier_naive_bayes']:.4f} | {r['brier_logistic']:.4f} | {r['chosen']} | "
              f"{r['brier_model'] / r['brier_stage_default']:.2f} | {r['roc_auc_naive_bayes']:.3f} | "
              f"{r['roc_auc_logistic']:.3f} |")


def scale_up():
    """Copy the demo deals' shape to N_DEALS deals with LOG_PER_DEAL log rows each (raw inserts)."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from valuecrm.customers.models import Customer
    from valuecrm.deals.models import Deal, DealStageLog, Pipeline

    rng = np.random.default_rng(7)
    customers = list(Customer.objects.filter(owner__isnull=False).values_list("pk", "owner_id", "team_id"))
    pipelines = [(p, list(p.stages.all())) for p in Pipeline.objects.all()]
    now = timezone.now()
    have = Deal.objects.count()
    started = time.perf_counter()
    deal_cols = ("customer_id", "pipeline_id", "stage_id", "name", "amount", "currency", "expected_close_date",
                 "owner_id", "team_id", "source", "status", "next_step", "forecast_category", "stage_entered_at",
                 "opened_at", "closed_at", "created_at", "updated_at", "prediction_factors")
    with transaction.atomic(), connection.cursor() as cur:
        next_id = (Deal.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        deal_rows, log_rows = [], []
        for i in range(N_DEALS - have):
            pipeline, stages = pipelines[i % len(pipelines)]
            opens = [s for s in stages if s.kind == "open"]
            cid, owner, team = customers[int(rng.integers(0, len(customers)))]
            opened = now - timezone.timedelta(days=float(rng.uniform(0, 730)))
            closed = rng.random() < 0.7
            final = stages[-2] if (closed and rng.random() < 0.4) else (stages[-1] if closed else
                                                                        opens[int(rng.integers(0, len(opens)))])
            status = "open" if final.kind == "open" else final.kind
            t = opened
            path = [opens[j % len(opens)] for j in range(LOG_PER_DEAL - 1)] + [final]
            prev = None
            for s in path:
                log_rows.append((next_id + i, prev.pk if prev else None, s.pk, t.isoformat(" "), owner))
                prev, t = s, t + timezone.timedelta(hours=float(rng.uniform(1, 60)))
            deal_rows.append((cid, pipeline.pk, final.pk, f"Bench deal {i}", f"{rng.lognormal(9, 1):.2f}", "CNY",
                              (now + timezone.timedelta(days=float(rng.uniform(-300, 200)))).date().isoformat(),
                              owner, team, "inbound", status, "", "closed" if status == "won" else "pipeline",
                              t.isoformat(" "), opened.isoformat(" "), t.isoformat(" ") if status != "open" else None,
                              now.isoformat(" "), now.isoformat(" "), "[]"))
            if len(deal_rows) >= 5000:
                _flush(cur, deal_rows, log_rows, deal_cols, next_id + i - len(deal_rows) + 1)
                deal_rows, log_rows = [], []
        if deal_rows:
            _flush(cur, deal_rows, log_rows, deal_cols, next_id + (N_DEALS - have) - len(deal_rows))
    connection.cursor().execute("ANALYZE")
    print(f"\nInserted up to {Deal.objects.count():,} deals and {DealStageLog.objects.count():,} stage-log rows "
          f"in {time.perf_counter() - started:.1f} s.")


def _flush(cur, deal_rows, log_rows, cols, first_id):
    marks = ", ".join(["%s"] * (len(cols) + 1))
    cur.executemany(f"INSERT INTO deals_deal (id, {', '.join(cols)}) VALUES ({marks})",
                    [(first_id + k, *row) for k, row in enumerate(deal_rows)])
    cur.executemany("INSERT INTO deals_dealstagelog (deal_id, from_stage_id, to_stage_id, changed_at, changed_by_id) "
                    "VALUES (%s, %s, %s, %s, %s)", log_rows)


def time_pages():
    from django.db import connection
    from django.test import Client

    from valuecrm.accounts.models import User
    from valuecrm.deals.models import Pipeline

    pipeline = Pipeline.objects.first()
    print("\n| user | page | p50 ms | p95 ms | CPU p50 ms | CPU p95 ms | queries | runs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    # The manager (team scope) and a rep (own scope); administrators must pass MFA first.
    for username in ("chen.jing", "wang.lei"):
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        for label, url in (("kanban", f"/deals/?pipeline={pipeline.pk}"),
                           ("kanban, owner + amount filter", f"/deals/?pipeline={pipeline.pk}&owner={user.pk}"
                                                             "&amount_min=5000"),
                           ("forecast (quarter)", "/deals/forecast/?period=2027-Q1"),
                           ("deal list", "/deals/list/")):
            if os.environ.get("BENCH_ONLY", "") not in label:  # BENCH_ONLY=kanban: only those pages
                continue
            queries: list[str] = []

            def count(execute, sql, params, many, context, queries=queries):
                queries.append(sql)
                return execute(sql, params, many, context)

            # Counted by a wrapper: CaptureQueriesContext loses them (request_started resets the log).
            with connection.execute_wrapper(count):
                client.get(url)  # warm, and count the queries once
            times, cpu = [], []
            for _ in range(RUNS):
                t0, c0 = time.perf_counter(), time.process_time()
                r = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                # CPU of this process only: what the shared machine's other load cannot inflate as much
                cpu.append((time.process_time() - c0) * 1000)
                assert r.status_code == 200, (url, r.status_code)
            print(f"| {username} ({user.scope}) | {label} | {statistics.median(times):.0f} | {p(times, 95):.0f} | "
                  f"{statistics.median(cpu):.0f} | {p(cpu, 95):.0f} | {len(queries)} | {RUNS} |")


def time_training():
    from valuecrm.deals.models import Deal, Pipeline
    from valuecrm.deals.win_model import retrain

    print("\n| pipeline | closed deals | open deals re-predicted | training + prediction s |")
    print("|---|---:|---:|---:|")
    for pipeline in Pipeline.objects.all():
        closed = Deal.objects.filter(pipeline=pipeline).exclude(status="open").count()
        opened = Deal.objects.filter(pipeline=pipeline, status="open").count()
        t0 = time.perf_counter()
        row = retrain(pipeline)
        print(f"| {pipeline.name} | {closed:,} | {opened:,} | {time.perf_counter() - t0:.1f} ({row.chosen}) |")


if __name__ == "__main__":
    setup_django()
    if not REUSE:  # BENCH_REUSE=1: time the pages and the training on the data built by an earlier run
        demo_and_compare()
        scale_up()
    if os.environ.get("BENCH_PAGES_ONLY") != "1":  # BENCH_PAGES_ONLY=1: skip retraining, time the pages only
        time_training()
    time_pages()
