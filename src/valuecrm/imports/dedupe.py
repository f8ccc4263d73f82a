"""Possible duplicates of incoming customers among the existing ones.

Blocking keeps this linear: a pair is only scored when it shares a normalised
e-mail, a normalised phone, or the same name in the same city or company. The
score (rapidfuzz) tells the reviewer how alike the two records are; an exact
e-mail or phone match is what makes the wizard propose "merge" by default.
"""

import re
from dataclasses import dataclass

from django.db import connection
from rapidfuzz import fuzz

from valuecrm.common.encryption import blind_index, decrypt
from valuecrm.customers.models import Customer
from valuecrm.customers.normalize import half_width

NAME_MATCH = 90  # token-sort ratio from which two names count as the same name
_NOISE = re.compile(r"[\s.,·•\-_'’()（）]+")


def name_key(name: str) -> str:
    return _NOISE.sub("", half_width(name or "").lower())


@dataclass(frozen=True)
class Existing:
    id: int
    name: str
    email: str
    phone: str
    city: str
    company: str


@dataclass(frozen=True)
class Candidate:
    existing: Existing
    score: int
    reason: str  # "email" | "phone" | "name"

    @property
    def exact(self) -> bool:
        return self.reason in ("email", "phone")


def similarity(a: str, b: str) -> int:
    return int(round(fuzz.token_sort_ratio(name_key(a), name_key(b))))


def score_pair(row: dict, existing: Existing, reason: str) -> int:
    """0–100: contact points dominate, then the name, then the company."""
    name = similarity(row.get("name", ""), existing.name)
    if reason in ("email", "phone"):
        return max(90, min(100, 80 + name // 5))
    company = similarity(row.get("company", ""), existing.company) if row.get("company") else 0
    return int(round(0.8 * name + 0.2 * max(company, 100 if row.get("city") == existing.city else 0)))


def _existing_rows(sql: str, params: list) -> list[Existing]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # email and phone come back encrypted (raw SQL skips the fields' from_db_value).
        return [Existing(pk, name, decrypt(email), decrypt(phone), city, company)
                for pk, name, email, phone, city, company in cursor.fetchall()]


_SELECT = (
    "SELECT c.id, c.name, c.email, c.phone, c.city, COALESCE(o.name, '') "
    "FROM {table} c LEFT JOIN {table} o ON o.id = c.company_id WHERE "
)


def _select() -> str:
    return _SELECT.format(table=connection.ops.quote_name(Customer._meta.db_table))


def find_candidates(rows: list[dict], *, skip_field: str = "") -> dict[int, list[Candidate]]:
    """For each row (by list index), existing customers that may be the same person.

    `skip_field` is the upsert key: a match on it is an update, not a duplicate.
    """
    emails = {r["email"] for r in rows if r.get("email")} if skip_field != "email" else set()
    phones = {r["phone"] for r in rows if r.get("phone")} if skip_field != "phone" else set()
    pairs = {(r["name"], r.get("city", "")) for r in rows if r.get("name") and r.get("city")}
    found: list[tuple[str, Existing]] = []
    for field, values in (("email", emails), ("phone", phones)):
        # Encrypted columns: blocking on their blind index (HMAC of the normalised value).
        values = sorted(blind_index(field, v) for v in values)
        for start in range(0, len(values), 900):
            chunk = values[start:start + 900]
            marks = ",".join(["%s"] * len(chunk))
            found += [(field, e) for e in _existing_rows(_select() + f"c.{field}_bidx IN ({marks})",
                                                          chunk)]
    pairs_list = sorted(pairs)
    for start in range(0, len(pairs_list), 450):
        chunk = pairs_list[start:start + 450]
        marks = " OR ".join(["(c.name = %s AND c.city = %s)"] * len(chunk))
        params = [value for pair in chunk for value in pair]
        found += [("name", e) for e in _existing_rows(_select() + f"({marks})", params)]

    by_email: dict[str, list[Existing]] = {}
    by_phone: dict[str, list[Existing]] = {}
    by_name_city: dict[tuple[str, str], list[Existing]] = {}
    for reason, existing in found:
        if reason == "email":
            by_email.setdefault(existing.email, []).append(existing)
        elif reason == "phone":
            by_phone.setdefault(existing.phone, []).append(existing)
        else:
            by_name_city.setdefault((existing.name, existing.city), []).append(existing)

    result: dict[int, list[Candidate]] = {}
    for index, row in enumerate(rows):
        seen: dict[int, Candidate] = {}
        for reason, pool in (("email", by_email.get(row.get("email", ""), [])),
                             ("phone", by_phone.get(row.get("phone", ""), [])),
                             ("name", by_name_city.get((row.get("name", ""), row.get("city", "")), []))):
            for existing in pool:
                if existing.id in seen:
                    continue
                score = score_pair(row, existing, reason)
                if reason == "name" and similarity(row.get("name", ""), existing.name) < NAME_MATCH:
                    continue
                seen[existing.id] = Candidate(existing, score, reason)
        if seen:
            result[index] = sorted(seen.values(), key=lambda c: (-c.score, c.existing.id))
    return result
