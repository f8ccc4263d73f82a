"""Import benchmark: 1M customers and 5M orders from messy-but-valid CSV files on SQLite.

    python bench/import.py [--customers 1000000] [--orders 5000000] [--reuse]

Files go to var/bench-import/ (generated once; --reuse keeps them), the database to
var/bench-import/db/. Each import runs the real engine (`import_run_now`): sniffing,
streaming, normalisation (phones to E.164, full-width text, mixed date formats,
currency amounts), validation, duplicate detection (email/phone/name+city blocks,
rapidfuzz) and idempotent orders. Prints a table and peak RSS.
"""

import argparse
import csv
import os
import platform
import random
import resource
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench-import"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌宇浩凯欣怡子涵梓轩雨晨思彤佳琪一诺俊杰宏博嘉懿晓东海燕春梅婷雪琳"
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州",
          "天津", "长沙", "郑州", "青岛", "宁波", "厦门", "合肥", "福州", "昆明"]
PREFIXES = ["138", "139", "137", "136", "135", "158", "159", "188", "187", "186", "150", "151",
            "130", "131", "132", "155", "156", "185", "133", "153", "180", "189", "177", "199"]


def _phone(n: int, rng: random.Random) -> str:
    digits = f"{PREFIXES[n % len(PREFIXES)]}{n:08d}"
    style = n % 5
    if style == 1:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 2:
        return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 3:
        return digits.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})  # full-width
    return digits


def _date(n: int, rng: random.Random) -> str:
    year, month, day = 1960 + n % 45, 1 + n % 12, 1 + n % 28
    style = n % 4
    if style == 0:
        return f"{year}-{month:02d}-{day:02d}"
    if style == 1:
        return f"{year}/{month}/{day}"
    if style == 2:
        return f"{year}年{month}月{day}日"
    return f"{year}{month:02d}{day:02d}"


def generate_customers(path: Path, count: int) -> None:
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["客户编号", "姓名", "手机号", "邮箱", "城市", "生日", "性别", "标签"])
        for n in range(count):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            email = f" User{n}＠Example.COM " if n % 7 == 0 else f"user{n}@example.com"
            out.writerow([f"C{n:07d}", name, _phone(n, rng), email, rng.choice(CITIES),
                          _date(n, rng), "男" if n % 2 else "女", "VIP" if n % 10 == 0 else ""])


def generate_orders(path: Path, count: int, customers: int) -> None:
    rng = random.Random(2)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["订单号", "客户编号", "下单时间", "实付金额", "订单状态"])
        for n in range(count):
            amount = rng.randint(100, 500000) / 100
            style = n % 3
            money = f"¥{amount:,.2f}" if style == 0 else (f"RMB {amount}" if style == 1 else f"{amount}")
            moment = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}" \
                if n % 2 else f"2024/{1 + n % 12}/{1 + n % 28}"
            out.writerow([f"O{n:08d}", f"C{rng.randrange(customers):07d}", moment, money,
                          "已付款" if n % 10 else "交易成功"])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep generated files")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                        help="postgres: a fresh database valuecrm_bench_import on the cluster of "
                             "scripts/start-postgres.sh (DATABASE_URL's server)")
    parser.add_argument("--no-copy", action="store_true",
                        help="PostgreSQL: INSERT … RETURNING instead of COPY (the 'before')")
    args = parser.parse_args()
    if args.database == "postgres":
        import psycopg

        server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:55432/valuecrm")
        base = server.rsplit("/", 1)[0]
        with psycopg.connect(base + "/postgres", autocommit=True) as admin_db:
            admin_db.execute("DROP DATABASE IF EXISTS valuecrm_bench_import")
            admin_db.execute("CREATE DATABASE valuecrm_bench_import")
        os.environ["DATABASE_URL"] = base + "/valuecrm_bench_import"
        os.environ["VALUECRM_IMPORT_COPY"] = "0" if args.no_copy else "1"
    else:
        os.environ.pop("DATABASE_URL", None)
    OUT.mkdir(parents=True, exist_ok=True)
    db_dir = OUT / "db"
    if db_dir.exists():
        for item in db_dir.iterdir():
            if item.is_file():
                item.unlink()
    os.environ["VALUECRM_DATA_DIR"] = str(db_dir)
    # Production settings (no query logging); the key only signs sessions nobody opens.
    os.environ.setdefault("VALUECRM_DEBUG", "0")
    os.environ.setdefault("VALUECRM_SECRET_KEY", "bench-import-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    sys.path.insert(0, str(ROOT / "src"))

    customers_csv = OUT / f"customers-{args.customers}.csv"
    orders_csv = OUT / f"orders-{args.orders}.csv"
    started = time.perf_counter()
    if not (args.reuse and customers_csv.exists()):
        generate_customers(customers_csv, args.customers)
    if not (args.reuse and orders_csv.exists()):
        generate_orders(orders_csv, args.orders, args.customers)
    generated = time.perf_counter() - started

    import django

    django.setup()
    from django.core.management import call_command

    from valuecrm.accounts.services import admin_ensure
    from valuecrm.imports import services

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")

    results = []

    def run(kind: str, path: Path, label: str, **options):
        with open(path, "rb") as handle:
            draft = services.import_upload(actor=admin, kind=kind, name=path.name,
                                           chunks=iter(lambda: handle.read(1 << 20), b""))
        draft = services.import_configure(actor=admin, run=draft, options=options)
        t0, c0 = time.perf_counter(), time.process_time()
        done = services.import_run_now(actor=admin, run=draft)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        results.append((label, done, seconds, cpu, peak_rss_mb()))
        print(f"{label}: {done.status} {done.total_rows:,} rows in {seconds:.1f} s wall, {cpu:.1f} s CPU "
              f"({done.total_rows / seconds:,.0f} rows/s wall, {done.total_rows / cpu:,.0f} rows/s of CPU), "
              f"created {done.created_count:,}, "
              f"unchanged {done.unchanged_count:,}, skipped {done.skipped_count:,}, "
              f"failed {done.failed_count:,}, review {len(done.review)}; "
              f"peak RSS {peak_rss_mb():,.0f} MB", flush=True)
        return done

    run("customers", customers_csv, "customers (new)", key="external_id")
    run("orders", orders_csv, "orders (new)")
    run("orders", orders_csv, "orders (re-import, all unchanged)")

    print()
    print(f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"Python {platform.python_version()}, "
          f"{'PostgreSQL, ' + ('INSERT' if args.no_copy else 'COPY') if args.database == 'postgres' else 'SQLite ' + sqlite3.sqlite_version}, "
          f"load average {os.getloadavg()[0]:.1f}; files generated in {generated:.0f} s; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| import | rows | wall s | CPU s | rows/s (wall) | rows/s (per CPU second) | created "
          "| unchanged | skipped | possible duplicates flagged | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, done, seconds, cpu, rss in results:
        flagged = sum(1 for d in done.review if d.get("kind") == "existing")
        print(f"| {label} | {done.total_rows:,} | {seconds:.1f} | {cpu:.1f} | "
              f"{done.total_rows / seconds:,.0f} | {done.total_rows / cpu:,.0f} | "
              f"{done.created_count:,} | {done.unchanged_count:,} | {done.skipped_count:,} | "
              f"{flagged}{'+' if len(done.review) >= 500 else ''} | {rss:,.0f} |")


if __name__ == "__main__":
    main()
