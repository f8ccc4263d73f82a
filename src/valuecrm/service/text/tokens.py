"""Tokenising and keywords: rjieba for Chinese, a plain regex for English, stop words for both."""
import re

import rjieba

from .language import detect

ZH_STOP = frozenset("""
的 了 是 我 你 他 她 它 们 我们 你们 他们 这 那 这个 那个 这些 那些 就 都 也 还 又 在 和 与 及 或 但 但是 而 而且
因为 所以 如果 虽然 就是 不 没 没有 很 太 非常 比较 有点 一个 一些 有 会 能 可以 要 想 说 对 把 被 让 给 从 到
吧 吗 呢 啊 呀 哦 嗯 哈 么 着 过 得 地 之 其 等 个 次 上 下 里 中 后 前 时 什么 怎么 怎样 为什么 还是 已经 一直
真的 真 挺 再 才 只 自己 大家 东西 觉得 感觉 一下 一样 这样 那样 还有 然后 时候 可能 应该 这么 那么
""".split())

EN_STOP = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you
your yours also get got one really im ive dont didnt cant wont its thats theres lot much even still
""".split())

_EN_WORD = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
_ZH_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9]")
_DIGITS = re.compile(r"^[0-9.]+$")


def tokens(text: str, language: str | None = None) -> list[str]:
    """Content words of `text` in order: no punctuation, numbers, stop words or 1-letter English words."""
    language = language or detect(text)
    if language == "zh":
        out = []
        for tok in rjieba.cut(text or ""):
            tok = tok.strip().lower()
            if not tok or not _ZH_TOKEN.search(tok) or _DIGITS.match(tok) or tok in ZH_STOP:
                continue
            if tok.isascii() and (len(tok) < 2 or tok in EN_STOP):
                continue
            out.append(tok)
        return out
    words = (w.replace("'", "") for w in _EN_WORD.findall((text or "").lower()))
    return [w for w in words if len(w) > 1 and w not in EN_STOP]


def keywords(texts: list[str], *, top: int = 5, languages: list[str] | None = None) -> list[list[str]]:
    """The `top` keywords of each text by TF-IDF over `texts` (e.g. the month's corpus)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    languages = languages or [detect(t) for t in texts]
    docs = [tokens(t, lang) for t, lang in zip(texts, languages, strict=True)]
    if not any(docs):
        return [[] for _ in docs]
    vec = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True)
    matrix = vec.fit_transform(docs)
    vocab = vec.get_feature_names_out()
    out = []
    for i in range(matrix.shape[0]):
        row = matrix.getrow(i)
        pairs = sorted(zip(row.data, row.indices, strict=True), key=lambda p: (-p[0], vocab[p[1]]))
        out.append([str(vocab[j]) for _, j in pairs[:top]])
    return out
