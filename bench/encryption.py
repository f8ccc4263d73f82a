"""Encryption-at-rest cost per value (common/encryption.py, customers/search_tokens.py).

    python bench/encryption.py [--values 100000]

Times, per value: AES-GCM encrypt and decrypt of an e-mail, the blind index (HMAC) of a
phone, and the 16 search tokens of a Chinese mobile plus 2 of an e-mail — what the
import's bulk writer adds per customer row. No database: the import bench
(bench/import.py --customers N --orders 0) measures the whole path.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    n = parser.parse_args().values
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
