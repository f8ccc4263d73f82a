"""Language detection for feedback texts: zh or en.

Feedback here is either Chinese or English. The share of CJK ideographs among the
letters of a text decides: Chinese text mixed with English product names or codes
("iPhone 的屏幕坏了") still has most of its letters as ideographs, and an English text
quoting one Chinese word does not. This needs no model, is deterministic and never
fails on short texts, where statistical detectors are least reliable.
"""
import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")

# A Chinese character carries roughly a word; compare ideographs with Latin words.
ZH_SHARE = 0.5


def cjk_share(text: str) -> float:
    """Ideographs / (ideographs + Latin words); 0.0 for a text with neither."""
    cjk = len(_CJK.findall(text or ""))
    words = len(_LATIN_WORD.findall(text or ""))
    return cjk / (cjk + words) if cjk + words else 0.0


def detect(text: str) -> str:
    """'zh' when ideographs make up at least half of the text's words, otherwise 'en'."""
    return "zh" if cjk_share(text) >= ZH_SHARE else "en"
