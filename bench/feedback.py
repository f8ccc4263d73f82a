"""Feedback analysis at size on a fresh SQLite database: the backfill (`analyse_feedback`)
of N survey comments and ticket descriptions (中文 and English), and the topics page's
reads (overview and one topic's drill-down) as an admin.

    .venv/bin/python bench/feedback.py [--texts 100000] [--customers 20000]

Uses the sentiment model saved under var/bench-feedback/models (trained first, not timed).
Prints the backfill's wall/CPU seconds and texts per second, then wall p50/p95 ms of 10
requests of each read after 2 warm-ups; bench/README.md holds the figures.
"""

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench-feedback"

PHRASES_ZH = ["快递破损，罐子压坏了", "快递太慢了", "客服态度很差", "问题很快就解决了", "包装很精美",
              "退款一直没有到账", "发票抬头开错了", "积分没有到账", "茶叶很好喝", "物流很快，非常满意",
              "尺码不合适想退货", "再也不买了", "服务很耐心", "质量一般"]
PHRASES_EN = ["the parcel arrived late", "great tea and fast delivery", "refund still missing",
              "friendly support", "wrong item in the box", "packaging was damaged"]


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--reuse", action="store_true", help="time the reads on the last run's database")
    args = parser.parse_args()
    if not args.reuse:
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
    os.environ["VALUECRM_DATA_DIR"] = str(OUT)
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ["VALUECRM_MFA_REQUIRED_ROLES"] = ""
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-feedback-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from valuecrm.accounts.services import admin_ensure

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    if not args.reuse:
        build(args, admin)
    reads(admin)


def build(args, admin) -> None:
    from valuecrm.customers.models import Customer
    from valuecrm.service import feedback
    from valuecrm.service.models import Survey, Ticket
    from valuecrm.service.text import sentiment

    model, _ev = sentiment.train()
    sentiment.save(model)
    rng = random.Random(5)
    Customer.objects.bulk_create([Customer(name=f"客户{i}", owner=admin) for i in range(args.customers)],
                                 batch_size=5000)
    ids = list(Customer.objects.values_list("pk", flat=True))
    now = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)

    def text():
        if rng.random() < 0.2:
            return ", ".join(rng.sample(PHRASES_EN, 2))
        return "，".join(rng.sample(PHRASES_ZH, rng.randint(1, 3))) + "。"

    half = args.texts // 2
    for s in range(0, half, 20_000):
        at = [now - dt.timedelta(minutes=rng.randint(1, 365 * 1440)) for _ in range(min(20_000, half - s))]
        Ticket.objects.bulk_create([Ticket(customer_id=rng.choice(ids), subject="反馈", description=text(),
                                           opened_at=a) for a in at], batch_size=5000)
        Survey.objects.bulk_create([Survey(kind="csat", customer_id=rng.choice(ids), sent_at=a,
                                           expires_at=a + dt.timedelta(days=14), answered_at=a,
                                           score=rng.randint(1, 5), comment=text()) for a in at],
                                   batch_size=5000)
    wall, cpu = time.perf_counter(), time.process_time()
    done = feedback.feedback_backfill(model=sentiment.load())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"backfill: {done} texts in {wall:.1f} s wall, {cpu:.1f} s CPU ({done / wall:,.0f} texts/s)")


def reads(admin) -> None:
    from django.test import Client

    from valuecrm.service import feedback

    client = Client()
    client.force_login(admin)
    topic = feedback.topic_words()[0]
    for label, url in (("topics overview", "/service/topics/"),
                       ("topic drill-down", f"/service/topics/?topic={topic}&sentiment=negative")):
        times, cpus = [], []
        for i in range(12):
            t, c = time.perf_counter(), time.process_time()
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            if i >= 2:
                times.append((time.perf_counter() - t) * 1000)
                cpus.append((time.process_time() - c) * 1000)
        print(f"{label}: wall p50 {_p(times, 0.5):.0f} ms, p95 {_p(times, 0.95):.0f} ms; "
              f"CPU p50 {_p(cpus, 0.5):.0f} ms, p95 {_p(cpus, 0.95):.0f} ms")


if __name__ == "__main__":
    main()
