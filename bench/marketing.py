"""Marketing benchmarks: segment count, campaign send to a local SMTP server, and
"bought A, also bought B" from order lines.

    .venv/bin/python bench/marketing.py [--customers 100000] [--recipients 5000] [--lines 1000000]

Runs in its own SQLite data dir (var/bench-marketing), built here with bulk inserts.
Prints one table; figures in bench/README.md ("Marketing").
"""

import argparse
import os
import shutil
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "var" / "bench-marketing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--recipients", type=int, default=5_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--demo-hit-rate", type=int, metavar="CUSTOMERS", default=0,
                        help="only: hit-rate@10 vs popularity on the demo data of this many customers")
    args = parser.parse_args()
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
    rows = []
    if args.demo_hit_rate:
        rows.append(bench_demo_hit_rate(args.demo_hit_rate))
        args.customers = args.recipients = args.lines = 0
    if args.customers:
        rows.append(bench_segment_count(args.customers))
    if args.recipients:
        rows.append(bench_send(args.recipients))
    if args.lines:
        rows.extend(bench_recommendations(args.lines))
    print(f"| {'measure':<58} | {'n':>10} | {'result':>18} |")
    print(f"|{'-' * 60}|{'-' * 12}:|{'-' * 19}:|")
    for name, n, result in rows:
        print(f"| {name:<58} | {n:>10,} | {result:>18} |")


def bench_segment_count(n: int):
    import numpy as np
    from django.utils import timezone

    from valuecrm.accounts.models import User
    from valuecrm.customers.models import Customer
    from valuecrm.insights.models import CustomerValue
    from valuecrm.marketing import selectors

    rng = np.random.default_rng(1)
    admin = User.objects.create_superuser("bench", "b@example.cn", "bench-password-1")
    Customer.objects.bulk_create([Customer(name=f"c{i}", email=f"c{i}@example.cn", consent_email=bool(i % 2))
                                  for i in range(n)], batch_size=5000)
    ids = list(Customer.objects.values_list("pk", flat=True))
    tiers = rng.choice(["A", "B", "C"], size=len(ids), p=[0.2, 0.3, 0.5])
    clv = rng.gamma(2, 400, size=len(ids))
    now = timezone.now()
    CustomerValue.objects.bulk_create([CustomerValue(customer_id=c, tier=t, clv=round(float(v), 2), as_of=now)
                                       for c, t, v in zip(ids, tiers, clv, strict=True)], batch_size=5000)
    filters = {"tier": "A", "clv_min": "500", "consent": "email"}
    selectors.segment_count(admin, filters)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        count = selectors.segment_count(admin, filters)
        times.append(time.perf_counter() - t)
    return ("segment count (tier A, CLV ≥ 500, e-mail consent), median of 5", n,
            f"{sorted(times)[2] * 1000:.0f} ms ({count:,} match)")


# The SMTP server in its own process, as a relay would be: it counts the messages and
# the distinct recipients it received and prints both when it is told to stop.
_SINK = """
import asyncio, signal, sys
from aiosmtpd.controller import Controller

class Count:
    def __init__(self):
        self.messages, self.rcpts = 0, set()

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        self.rcpts.update(envelope.rcpt_tos)
        return "250 OK"

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # before the server thread starts
handler = Count()
controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
signal.sigwait({signal.SIGTERM})
controller.stop()
print(handler.messages, len(handler.rcpts), flush=True)
"""


def bench_send(n: int):
    import resource
    import subprocess

    from django.conf import settings
    from django.db.models import Count

    from valuecrm.accounts.models import User
    from valuecrm.customers.models import Customer
    from valuecrm.marketing import consent, services
    from valuecrm.marketing.models import Message, MessageStatus

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _SINK, str(port)], stdout=subprocess.PIPE, text=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    settings.VALUECRM_MARKETING_SMTP = {"host": "127.0.0.1", "port": port, "from": "shop@example.cn"}
    settings.VALUECRM_MARKETING_RATE = 0
    settings.VALUECRM_MARKETING_QUIET_HOURS = (0, 0)
    consent.clear_contact_policy()  # the consent booleans decide (no ledger rows in this bench)
    admin = User.objects.get(username="bench")
    template = services.template_create(actor=admin, data={
        "name": "b", "subject": '{{ customer.name|default:"朋友" }}，新品',
        "body_text": "您好 {{ customer.name }}\n{{ unsubscribe_url }}",
        "body_html": '<p>{{ customer.name }}</p><a href="https://shop.example.cn/">go</a>'})
    Customer.objects.filter(pk__gt=n * 2).update(consent_email=False)
    Customer.objects.filter(pk__lte=n * 2).update(consent_email=True)
    campaign = services.campaign_create(actor=admin, data={"name": "bench", "template_id": template.pk,
                                                           "holdout_percent": 10,
                                                           "filters": {"consent": "email"}})
    t = time.perf_counter()
    Campaign = type(campaign)
    services.campaign_launch(actor=admin, campaign=Campaign.objects.get(pk=campaign.pk), queue=False)
    Customer.objects.filter(pk__gt=n).update(consent_email=False)  # n recipients at most
    launch = time.perf_counter() - t
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, t = time.process_time(), time.perf_counter()
    stats = services.campaign_send(campaign.pk)
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    server.terminate()
    received, rcpts = (int(x) for x in server.communicate(timeout=30)[0].split())
    server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    most = (Message.objects.filter(campaign_id=campaign.pk).values("customer_id").annotate(n=Count("id"))
            .order_by("-n").values_list("n", flat=True).first())
    sent_rows = Message.objects.filter(campaign_id=campaign.pk, status=MessageStatus.SENT).count()
    assert received == rcpts == stats["sent"] == sent_rows and most == 1, (received, rcpts, stats, sent_rows, most)
    print(f"send: {stats}; {took:.1f} s wall, {cpu:.1f} s CPU in the sender ({cpu / took:.0%} of one core), "
          f"{server_cpu.ru_utime + server_cpu.ru_stime:.1f} s CPU in the SMTP server; peak RSS "
          f"{rss_before / 1024:.0f} MB before the send, {rss_after / 1024:.0f} MB after; server got {received:,} "
          f"messages for {rcpts:,} distinct recipients; at most {most} message per customer", flush=True)
    return (f"e-mail campaign: launch {launch:.1f} s, then send over SMTP", stats["sent"],
            f"{stats['sent'] / took:.0f} msg/s")


def bench_demo_hit_rate(customers: int):
    """The demo generator's orders, split at the 80th percentile of time: train on the
    lines before, test on products a customer first bought after."""
    import numpy as np

    from valuecrm.demo.generate import demo_generate
    from valuecrm.engine import basket
    from valuecrm.orders.models import REVENUE_STATUSES, OrderLine

    demo_generate(customers=customers, seed=42)
    rows = sorted(OrderLine.objects.filter(order__status__in=REVENUE_STATUSES, product__isnull=False)
                  .values_list("order__customer_id", "product_id", "order__placed_at"), key=lambda r: r[2])
    cut = rows[int(len(rows) * 0.8)][2]
    train = [r for r in rows if r[2] < cut]
    history: dict = {}
    for c, p, _t in train:
        history.setdefault(c, set()).add(p)
    test: dict = {}
    for c, p, t in rows:
        if t >= cut and c in history and p not in history[c]:
            test.setdefault(c, set()).add(p)
    r = basket.hit_rate_at_k(np.array([x[0] for x in train]), np.array([x[1] for x in train]), test, k=10)
    return (f"hit-rate@10, demo data ({customers:,} customers, {len(rows):,} lines), time split", r["n"],
            f"{r['hit_rate']:.3f} vs {r['popularity_hit_rate']:.3f} "
            f"({r['hit_rate'] / max(r['popularity_hit_rate'], 1e-9):.2f}×)")


def bench_recommendations(n_lines: int):
    import numpy as np

    from valuecrm.engine import basket

    rng = np.random.default_rng(3)
    n_customers, n_items = n_lines // 10, 2000
    customers = rng.integers(0, n_customers, size=n_lines)
    taste = customers % 50
    items = np.where(rng.random(n_lines) < 0.7, taste * 40 + rng.integers(0, 40, size=n_lines),
                     rng.zipf(1.6, size=n_lines) % n_items)
    t = time.perf_counter()
    model = basket.fit(customers, items)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    for c in range(1000):
        basket.recommend(model, items[customers == c][:5] if c < 50 else items[c * 7:c * 7 + 3], k=10)
    per = (time.perf_counter() - t) / 1000
    # Time split: train on the first 80 % of lines, test on items bought later.
    cut = int(n_lines * 0.8)
    history = {}
    for b, i in zip(customers[:cut].tolist(), items[:cut].tolist(), strict=True):
        history.setdefault(b, set()).add(i)
    test = {}
    for b, i in zip(customers[cut:].tolist(), items[cut:].tolist(), strict=True):
        if b in history and i not in history[b] and len(test) < 5000:
            test.setdefault(b, set()).add(i)
    result = basket.hit_rate_at_k(customers[:cut], items[:cut], test, k=10)
    return [("co-occurrence with lift: fit on order lines", n_lines, f"{fit:.1f} s"),
            ("recommend top 10 for one customer", 1000, f"{per * 1000:.1f} ms"),
            ("hit-rate@10 on a time split vs popularity", result["n"],
             f"{result['hit_rate']:.3f} vs {result['popularity_hit_rate']:.3f}")]


if __name__ == "__main__":
    main()
