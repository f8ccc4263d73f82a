"""Encryption-at-rest cost per value (common/encryption.py, customers/search_tokens.py).

    python bench/encryption.py [--values 100000]
    python bench/encryption.py --import-rows 20000 [--repeats 3]

Times, per value: AES-GCM encrypt and decrypt of an e-mail, the blind index (HMAC) of a
phone, and the 16 search tokens of a Chinese mobile plus 2 of an e-mail — what the
import's bulk writer adds per customer row. No database: the import bench
(bench/import.py --customers N --orders 0) measures the whole path.

``--import-rows N``: what encrypting the import's JSON copies of personal values
(ImportRun.review, ImportRowError.values, ImportChange.before — EncryptedJSONField) costs a
real import on SQLite (var/bench-encryption/import-db/): N new customers, then the same N
again with a new phone each (N ImportChange.before copies) and one row in ten failing on
its e-mail (ImportRowError.values), with the copies encrypted and with them stored plain
(EncryptedJSONField.get_prep_value switched to JSONField's), the two interleaved; rows/s
are medians of ``--repeats`` runs.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
os.environ.setdefault("VALUECRM_DATA_DIR", str(ROOT / "var" / "bench-encryption"))


def _import_files(directory: Path, prefix: str, n: int) -> tuple[Path, Path]:
    import csv

    new, again = directory / f"{prefix}-new.csv", directory / f"{prefix}-again.csv"
    for path, second in ((new, False), (again, True)):
        with open(path, "w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["客户编号", "姓名", "手机号", "邮箱", "城市"])
            for i in range(n):
                email = f"{prefix}.{i}@example.cn" if not (second and i % 10 == 0) else f"bad{i}@"
                phone = f"13{8 + second}{i:08d}"
                out.writerow([f"{prefix}-{i}", f"客户{i}", phone, email, "上海"])
    return new, again


def import_overhead(n: int, repeats: int) -> None:
    import statistics

    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import JSONField

    from valuecrm.accounts.services import admin_ensure
    from valuecrm.common.encryption import EncryptedJSONField
    from valuecrm.imports import services

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = admin_ensure(username="bench", password="bench-123456789")
    directory = Path(os.environ["VALUECRM_DATA_DIR"])
    sealing = EncryptedJSONField.get_prep_value

    def run(path, **options):
        with open(path, "rb") as handle:
            draft = services.import_upload(actor=admin, kind="customers", name=path.name, chunks=[handle.read()])
        draft = services.import_configure(actor=admin, run=draft, options=options)
        started = time.perf_counter()
        done = services.import_run_now(actor=admin, run=draft)
        return done, time.perf_counter() - started

    rates: dict[tuple[str, str], list[float]] = {}
    details = {}
    for rep in range(repeats):
        for mode in (("encrypted", "plain") if rep % 2 == 0 else ("plain", "encrypted")):
            EncryptedJSONField.get_prep_value = sealing if mode == "encrypted" else JSONField.get_prep_value
            try:
                new, again = _import_files(directory, f"r{rep}{mode[0]}", n)
                for label, path in (("new customers", new), ("again: updates + 10 % failed rows", again)):
                    done, seconds = run(path, key="external_id", mode="partial")
                    rates.setdefault((label, mode), []).append(done.total_rows / seconds)
                    details[label] = (done.total_rows, done.created_count, done.updated_count, done.failed_count,
                                      len(done.review))
                    assert done.status == "succeeded", (done.status, done.detail)
            finally:
                EncryptedJSONField.get_prep_value = sealing
    print(f"{n:,} rows a file, median of {repeats}; SQLite, Python {sys.version.split()[0]}, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| import | rows | created | updated | failed | held for review | rows/s, copies encrypted "
          "| rows/s, copies plain | overhead |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (total, created, updated, failed, review) in details.items():
        sealed, plain = (statistics.median(rates[(label, m)]) for m in ("encrypted", "plain"))
        print(f"| {label} | {total:,} | {created:,} | {updated:,} | {failed:,} | {review:,} | {sealed:,.0f} "
              f"| {plain:,.0f} "
              f"| {(plain / sealed - 1) * 100:+.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--import-rows", type=int, default=0, metavar="N")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.import_rows:
        import shutil

        directory = ROOT / "var" / "bench-encryption" / "import-db"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        os.environ["VALUECRM_DATA_DIR"] = str(directory)
        os.environ.pop("DATABASE_URL", None)
        import_overhead(args.import_rows, args.repeats)
        return
    n = args.values
    import django

    django.setup()
    from valuecrm.common import encryption
    from valuecrm.customers.search_tokens import tokens_for

    emails = [f"person.{i}@example.cn" for i in range(n)]
    phones = [f"+86138{i:08d}" for i in range(n)]
    rows = []

    def timed(label, fn):
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        rows.append((label, seconds, seconds / n * 1e6))
        return out

    tokens = timed("encrypt (AES-GCM, e-mail)", lambda: [encryption.encrypt(e) for e in emails])
    timed("decrypt", lambda: [encryption.decrypt(t) for t in tokens])
    timed("blind index (HMAC-SHA256, phone)", lambda: [encryption.blind_index("phone", p) for p in phones])
    timed("search tokens (phone + e-mail, 18 HMACs)",
          lambda: [tokens_for(e, p) for e, p in zip(emails, phones, strict=True)])
    print(f"{n:,} values, Python {sys.version.split()[0]}")
    print("| step | total s | µs per value |")
    print("|---|---:|---:|")
    for label, seconds, per in rows:
        print(f"| {label} | {seconds:.2f} | {per:.1f} |")


if __name__ == "__main__":
    main()
