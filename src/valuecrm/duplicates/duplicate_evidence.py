"""How much two customer records say they are one customer: points of evidence per field.

Each field comparison adds or removes points, roughly 2.5 points per bit of
likelihood ratio (Fellegi & Sunter 1969) — a shared mobile number is worth far
more than a shared city, a shared *common* name far less than a shared rare one:

========================  ======  ==================================================
evidence                  points  why
========================  ======  ==================================================
same e-mail               +50     an address belongs to one person
same phone (E.164)        +45     a mobile number too — but families share lines
similar e-mail            +30/35  dots, ``+tag``, case; or one letter apart
different e-mail / phone  −5      people keep several; weak on its own
same name                 +5…30   from how common the name is (see below)
same name in pinyin       ×0.8    王芳 and "Fang Wang"
similar name              ×0.6    Latin typo (Jonathon/Jonathan), same-sound 汉字
different name            −25     a shared phone with another name is a family member
same birthday             +25     1 in ~15,000 for two random people
different birth year      −15     same day, other year: −5
same / different city     +5/−5   cities are large; people move
same / different company  +10/−15
phone, e-mail and birth
year all differ           −20     two people who happen to share a name
========================  ======  ==================================================

**Name frequency.** Two customers called 王伟 are weak evidence: it is among the
commonest names in China. The chance that another customer has this name, ``u``,
is estimated from the data itself (how many customers carry the name) shrunk
towards a prior from surname shares (national statistics, rounded) and given-name
commonness, so a small database does not make every name look rare. Points =
2.5·log2(1/u) − 10, clamped to 5…30.

**Candidates.** A pair is kept only when it shares a contact point (same or
similar e-mail, same phone) or agrees on the name and two of birthday, city and
company — and its points reach ``THRESHOLD``. A same-name pair with different
phone, e-mail and birth year (罗丽 #2 vs #1921) scores below zero and is dropped.
Measured on a labelled set in ``bench/duplicates.py``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from valuecrm.customers.normalize import half_width

THRESHOLD = 50  # default: a pair needs this many points (and the gate) to be a candidate

SAME_EMAIL, SAME_PHONE, SIMILAR_EMAIL_KEY, SIMILAR_EMAIL_TYPO = 50, 45, 35, 30
DIFFERENT_CONTACT = -5
NAME_MIN, NAME_MAX = 5, 30
PINYIN_FACTOR, SIMILAR_NAME_FACTOR = 0.8, 0.6
DIFFERENT_NAME = -25
SAME_BIRTHDAY, SAME_BIRTH_YEAR_OTHER_DAY, DIFFERENT_BIRTH_YEAR = 25, -5, -15
SAME_CITY, DIFFERENT_CITY = 5, -5
SAME_COMPANY, DIFFERENT_COMPANY = 10, -15
ALL_DIFFER = -20
SIMILAR_LATIN_NAME = 88  # rapidfuzz ratio of the sorted-token keys from which two names are "similar"
DIFFERENT_LATIN_NAME = 60
# Pseudo-customers of prior weight when shrinking the observed name frequency.
PRIOR_WEIGHT = 10_000

_NOISE = re.compile(r"[\s.,·•\-_'’()（）]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TOKENS = re.compile(r"[^\w]+")
_DIGITS = re.compile(r"\D")

# Approximate share of the population by surname (published national figures, rounded).
SURNAME_SHARE = {
    "王": .0725, "李": .0719, "张": .0683, "刘": .0538, "陈": .0453, "杨": .0308, "黄": .0223,
    "赵": .0229, "吴": .0205, "周": .0205, "徐": .0133, "孙": .0124, "马": .0122, "朱": .0115,
    "胡": .0103, "郭": .0101, "何": .0091, "林": .0087, "高": .0088, "罗": .0086, "郑": .0081,
    "梁": .0080, "谢": .0064, "宋": .0062, "唐": .0056, "许": .0051, "韩": .0051, "冯": .0050,
    "邓": .0050, "曹": .0048, "彭": .0046, "曾": .0043, "肖": .0042, "田": .0042, "董": .0041,
    "袁": .0037, "潘": .0036, "于": .0035, "蒋": .0035, "蔡": .0035, "余": .0033, "杜": .0032,
    "叶": .0031, "程": .0030, "苏": .0030, "魏": .0030, "吕": .0029, "丁": .0028, "任": .0028,
    "沈": .0027, "姚": .0026, "卢": .0026, "姜": .0025, "崔": .0024, "钟": .0024, "谭": .0023,
    "陆": .0022, "汪": .0021, "范": .0021, "金": .0020, "石": .0020, "廖": .0020, "贾": .0020,
    "夏": .0019, "韦": .0019, "付": .0018, "方": .0018, "白": .0017, "邹": .0017, "孟": .0017,
    "熊": .0016, "秦": .0016, "邱": .0016, "江": .0015, "尹": .0015, "薛": .0014, "闫": .0014,
    "段": .0014, "雷": .0013, "侯": .0013, "龙": .0013, "史": .0012, "陶": .0012, "黎": .0012,
    "贺": .0012, "顾": .0012, "毛": .0012, "郝": .0012, "龚": .0012, "邵": .0011, "万": .0011,
    "钱": .0011, "严": .0011, "欧阳": .0004, "司马": .00005, "诸葛": .00005, "上官": .00005,
}
UNKNOWN_SURNAME_SHARE = 0.0005
COMPOUND_SURNAMES = {s for s in SURNAME_SHARE if len(s) == 2} | {"东方", "皇甫", "尉迟", "公孙", "慕容"}
# Given names that millions share (the 1960s–2000s favourites).
COMMON_GIVEN = set(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 辉 鹏 华 飞 浩 宇 婷 雪 琳 颖 倩 慧 洁 斌 波 鑫 亮 健".split()
) | {"秀英", "桂英", "秀兰", "玉兰", "桂兰", "秀珍", "凤英", "建华", "建国", "建军", "志强", "海燕",
     "晓燕", "子轩", "浩然", "欣怡", "梓涵", "诗涵", "雨桐", "一诺", "宇航", "俊杰", "丹丹"}
GIVEN_SHARE = {("common", 1): 1 / 150, ("rare", 1): 1 / 800, ("common", 2): 1 / 1500, ("rare", 2): 1 / 8000}
LATIN_NAME_PRIOR = 1e-5


# ---------------------------------------------------------------- names


@dataclass(frozen=True)
class NameForm:
    key: str  # script-native, compact, case-folded: "王伟", "fangwang"
    latin: str  # sorted tokens of the Latin/pinyin spelling, joined: "fangwang"
    chinese: bool
    surname: str = ""
    given: str = ""


def name_key(name: str) -> str:
    """Lower-case, half-width, no spaces or punctuation; a Chinese name stays whole."""
    return _NOISE.sub("", half_width(name or "").casefold())


def _fold_latin(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


@lru_cache(maxsize=200_000)
def name_form(name: str) -> NameForm:
    """The comparable forms of a name, cached: a customer base repeats its names."""
    key = name_key(name)
    if not key:
        return NameForm("", "", False)
    if _CJK.search(key):
        from pypinyin import lazy_pinyin

        surname = key[:2] if key[:2] in COMPOUND_SURNAMES else key[:1]
        given = key[len(surname):]
        parts = ["".join(lazy_pinyin(surname)), "".join(lazy_pinyin(given))]
        return NameForm(key, "".join(sorted(p for p in parts if p)), True, surname, given)
    tokens = [t for t in _TOKENS.split(_fold_latin(half_width(name).casefold())) if t and t != "_"]
    return NameForm(key, "".join(sorted(tokens)), False)


def name_prior(form: NameForm) -> float:
    """Share of people expected to carry this name, before looking at the data."""
    if not form.chinese:
        return LATIN_NAME_PRIOR
    surname = SURNAME_SHARE.get(form.surname, UNKNOWN_SURNAME_SHARE)
    commonness = "common" if form.given in COMMON_GIVEN else "rare"
    return surname * GIVEN_SHARE[(commonness, min(len(form.given), 2) or 1)]


def name_frequency(form: NameForm, count: int, population: int) -> float:
    """u: the chance another customer has this name — observed ``count`` of ``population``
    (the pair itself counts once), shrunk towards the prior by PRIOR_WEIGHT pseudo-customers."""
    others = max(count - 1, 0)
    return (others + PRIOR_WEIGHT * name_prior(form)) / (max(population, 0) + PRIOR_WEIGHT)


def name_points(u: float) -> int:
    return int(min(NAME_MAX, max(NAME_MIN, round(2.5 * math.log2(1 / max(u, 1e-12)) - 10))))


def compare_names(a: NameForm, b: NameForm) -> str:
    """'same' | 'same_pinyin' | 'similar' | 'different' | '' (not comparable)."""
    if not a.key or not b.key:
        return ""
    if a.key == b.key:
        return "same"
    if a.chinese and b.chinese:
        return "similar" if a.latin == b.latin else "different"
    if a.latin == b.latin:
        return "same_pinyin" if a.chinese != b.chinese else "same"
    if a.chinese != b.chinese:
        # 王芳 vs "Fang Wang" compares through pinyin only; anything else is inconclusive
        # (a nickname, an English name) rather than evidence against.
        return ""
    ratio = fuzz.ratio(a.latin, b.latin)
    if ratio >= SIMILAR_LATIN_NAME:
        return "similar"
    return "different" if ratio < DIFFERENT_LATIN_NAME else ""


# ---------------------------------------------------------------- e-mail


def email_key(email: str) -> str:
    """'Wang.Wei+shop@Example.cn' → 'wangwei@example.cn' (dots and +tags dropped)."""
    local, _, domain = (email or "").casefold().partition("@")
    return f"{local.split('+', 1)[0].replace('.', '')}@{domain}" if domain else ""


def compare_emails(a: set[str], b: set[str]) -> tuple[str, str]:
    """('same' | 'similar_key' | 'similar_typo' | 'different' | '', the address that matched)."""
    if not a or not b:
        return "", ""
    shared = sorted(a & b)
    if shared:
        return "same", shared[0]
    keys_a = {email_key(e): e for e in a}
    for e in sorted(b):
        if email_key(e) in keys_a:
            return "similar_key", e
    for x in sorted(a):
        local_x, _, domain_x = x.partition("@")
        for y in sorted(b):
            local_y, _, domain_y = y.partition("@")
            # One letter apart is a typing slip; one *digit* apart is usually another
            # person: wangwei83 and wangwei85 are two 王伟s who both got a number.
            if (domain_x == domain_y and min(len(local_x), len(local_y)) >= 6
                    and _DIGITS.sub("", local_x) == _DIGITS.sub("", local_y)
                    and OSA.distance(local_x, local_y) <= 1):  # a swap counts as one slip
                return "similar_typo", y
    return "different", ""


# ---------------------------------------------------------------- records and pairs


@dataclass
class Record:
    id: int
    name: str
    kind: str = "person"
    company: str = ""
    company_id: int | None = None
    city: str = ""
    birthday: date | None = None
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    @property
    def form(self) -> NameForm:
        return name_form(self.name)


@dataclass(frozen=True)
class Reason:
    code: str
    points: int
    detail: str = ""  # the shared value, or how many customers share the name

    def as_dict(self) -> dict:
        return {"code": self.code, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class PairScore:
    score: int  # 0–100, the evidence clamped
    total: int  # the evidence before clamping (ranks pairs that all reach 100)
    candidate: bool
    matched_on: list[str]  # fields that agree: email, phone, name, birthday, city, company
    reasons: list[Reason]

    @property
    def evidence(self) -> dict:
        return {"total": self.total, "reasons": [r.as_dict() for r in self.reasons]}


def _norm_city(city: str) -> str:
    return _NOISE.sub("", half_width(city or "").casefold()).removesuffix("市")


def score_pair(a: Record, b: Record, *, name_counts: dict[str, int] | None = None,
               population: int = 0, threshold: int = THRESHOLD) -> PairScore:
    """The evidence that ``a`` and ``b`` are one customer.

    ``name_counts`` maps name keys to how many customers carry them (of ``population``);
    without it the name frequency comes from the prior alone.
    """
    reasons: list[Reason] = []
    matched: list[str] = []

    emails, shared_email = compare_emails(a.emails, b.emails)
    if emails == "same":
        reasons.append(Reason("same_email", SAME_EMAIL, shared_email))
        matched.append("email")
    elif emails in ("similar_key", "similar_typo"):
        points = SIMILAR_EMAIL_KEY if emails == "similar_key" else SIMILAR_EMAIL_TYPO
        reasons.append(Reason("similar_email", points, shared_email))
        matched.append("email")
    elif emails == "different":
        reasons.append(Reason("different_email", DIFFERENT_CONTACT))

    phones = sorted(a.phones & b.phones)
    if phones:
        reasons.append(Reason("same_phone", SAME_PHONE, phones[0]))
        matched.append("phone")
    elif a.phones and b.phones:
        reasons.append(Reason("different_phone", DIFFERENT_CONTACT))

    form_a, form_b = a.form, b.form
    names = compare_names(form_a, form_b)
    if names in ("same", "same_pinyin", "similar"):
        # The rarer of the two spellings' frequencies is the evidence the names give.
        counts = name_counts or {}
        u = min(name_frequency(f, counts.get(f.key, 1), population) for f in (form_a, form_b))
        base = name_points(u)
        factor = {"same": 1.0, "same_pinyin": PINYIN_FACTOR, "similar": SIMILAR_NAME_FACTOR}[names]
        count = max(counts.get(form_a.key, 1), counts.get(form_b.key, 1))
        reasons.append(Reason(f"{names}_name", int(round(base * factor)), str(count)))
        matched.append("name")
    elif names == "different":
        reasons.append(Reason("different_name", DIFFERENT_NAME))

    birth_year_differs = False
    if a.birthday and b.birthday:
        if a.birthday == b.birthday:
            reasons.append(Reason("same_birthday", SAME_BIRTHDAY, a.birthday.isoformat()))
            matched.append("birthday")
        elif a.birthday.year == b.birthday.year:
            reasons.append(Reason("same_birth_year_other_day", SAME_BIRTH_YEAR_OTHER_DAY))
        else:
            birth_year_differs = True
            reasons.append(Reason("different_birth_year", DIFFERENT_BIRTH_YEAR,
                                  f"{a.birthday.year}/{b.birthday.year}"))

    city_a, city_b = _norm_city(a.city), _norm_city(b.city)
    if city_a and city_b:
        if city_a == city_b:
            reasons.append(Reason("same_city", SAME_CITY, a.city))
            matched.append("city")
        else:
            reasons.append(Reason("different_city", DIFFERENT_CITY))

    if a.company_id is not None and a.company_id == b.company_id:
        reasons.append(Reason("same_company", SAME_COMPANY, a.company))
        matched.append("company")
    elif a.company and b.company:
        if fuzz.ratio(name_key(a.company), name_key(b.company)) >= 90:
            reasons.append(Reason("same_company", SAME_COMPANY, a.company))
            matched.append("company")
        else:
            reasons.append(Reason("different_company", DIFFERENT_COMPANY))

    if emails == "different" and a.phones and b.phones and not phones and birth_year_differs:
        reasons.append(Reason("all_differ", ALL_DIFFER))

    total = sum(r.points for r in reasons)
    contact = "email" in matched or "phone" in matched
    profile = ("name" in matched and names != "similar"
               and sum(f in matched for f in ("birthday", "city", "company")) >= 2)
    candidate = (contact or profile) and total >= threshold
    return PairScore(int(min(100, max(0, total))), total, candidate, matched, reasons)
