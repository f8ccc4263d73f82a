"""Finding likely duplicates among the existing customers.

Blocking keeps the scan near-linear: two customers are only compared when they
share a normalised e-mail, a normalised phone (primary or any contact point), a
name key (lower-case, no spaces or punctuation — a Chinese name stays whole) or
the same company. Each compared pair is scored with rapidfuzz; exact contact-point
matches dominate the score, the name and company similarity refine it.

A block larger than MAX_BLOCK (a shared switchboard number, "info@…") says nothing
about identity and would make the scan quadratic, so it is skipped and reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from django.db import transaction
from django.utils import timezone
from rapidfuzz import fuzz

from valuecrm.customers.models import ContactPoint, ContactPointKind, Customer
from valuecrm.imports.dedupe import name_key
from valuecrm.integrations.models import CandidateStatus, DuplicateCandidate

MAX_BLOCK = 50
MIN_SCORE = 70  # pairs without a shared contact point need a close name to be kept
SAME_COMPANY_NAME = 85  # name similarity that makes two contacts of one company a pair


@dataclass
class Record:
    id: int
    name: str
    company: str
    company_id: int | None
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class PairScore:
    score: int
    matched_on: list[str]
    evidence: dict


@dataclass
class ScanResult:
    compared: int = 0
    found: int = 0
    new: int = 0
    removed: int = 0
    skipped_blocks: int = 0


def name_similarity(a: str, b: str) -> int:
    """0–100, order-insensitive for Latin names ("Li Lei" = "Lei Li"), whole-string for CJK."""
    a, b = (a or "").lower().strip(), (b or "").lower().strip()
    if not a or not b:
        return 0
    if name_key(a) == name_key(b):
        return 100
    return int(round(fuzz.token_sort_ratio(a, b)))


def score_pair(a: Record, b: Record) -> PairScore | None:
    """The evidence that `a` and `b` are one customer, or None when it is too weak."""
    emails = sorted(a.emails & b.emails)
    phones = sorted(a.phones & b.phones)
    name = name_similarity(a.name, b.name)
    company = name_similarity(a.company, b.company) if a.company and b.company else None
    same_company = a.company_id is not None and a.company_id == b.company_id
    matched = []
    if emails:
        matched.append("email")
    if phones:
        matched.append("phone")
    if name_key(a.name) and name_key(a.name) == name_key(b.name):
        matched.append("name")
    if same_company:
        matched.append("company")
    # Name counts 80 %, company 20 % (the name again when either has no company).
    profile = 0.8 * name + 0.2 * (100 if same_company else company if company is not None else name)
    if emails and phones:
        score = 85 + 0.15 * profile
    elif emails or phones:
        score = 70 + 0.3 * profile
    else:
        if name < (SAME_COMPANY_NAME if same_company else 90):
            return None
        score = profile
        if company is not None and company < 60 and not same_company:
            score -= 20  # same name at two different companies: probably two people
    score = int(round(min(100.0, score)))
    if score < MIN_SCORE:
        return None
    evidence = {"name": name, "company": 100 if same_company else company,
                "emails": emails, "phones": phones}
    return PairScore(score, matched, evidence)


def _records(ids: list[int] | None = None) -> dict[int, Record]:
    records: dict[int, Record] = {}
    companies = dict(Customer.objects.organizations().values_list("pk", "name"))
    rows = Customer.objects.order_by().values_list("pk", "name", "company_id", "email", "phone")
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    for pk, name, company_id, email, phone in rows.iterator(chunk_size=5000):
        record = Record(pk, name, companies.get(company_id, ""), company_id)
        if email:
            record.emails.add(email)
        if phone:
            record.phones.add(phone)
        records[pk] = record
    points = ContactPoint.objects.order_by().filter(
        kind__in=[ContactPointKind.EMAIL, ContactPointKind.PHONE]
    ).values_list("customer_id", "kind", "value")
    if ids is not None:
        points = points.filter(customer_id__in=ids)
    for customer_id, kind, value in points.iterator(chunk_size=5000):
        record = records.get(customer_id)
        if record is not None:
            (record.emails if kind == ContactPointKind.EMAIL else record.phones).add(value)
    return records


def candidate_pairs(records: dict[int, Record]) -> tuple[dict[tuple[int, int], PairScore], int, int]:
    """(pair → score, pairs compared, blocks skipped) over blocking keys."""
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for record in records.values():
        for email in record.emails:
            blocks[("email", email)].append(record.id)
        for phone in record.phones:
            blocks[("phone", phone)].append(record.id)
        key = name_key(record.name)
        if key:
            blocks[("name", key)].append(record.id)
        if record.company_id is not None:
            blocks[("company", str(record.company_id))].append(record.id)
    seen: set[tuple[int, int]] = set()
    found: dict[tuple[int, int], PairScore] = {}
    skipped = 0
    for ids in blocks.values():
        if len(ids) < 2:
            continue
        if len(ids) > MAX_BLOCK:
            skipped += 1
            continue
        for a, b in combinations(sorted(set(ids)), 2):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            result = score_pair(records[a], records[b])
            if result is not None:
                found[(a, b)] = result
    return found, len(seen), skipped


@transaction.atomic
def duplicate_scan() -> ScanResult:
    """Rescan every customer and refresh DuplicateCandidate.

    Open pairs no longer found are removed; dismissed pairs stay dismissed (their
    evidence is refreshed), so "not a duplicate" is remembered across scans.
    """
    found, compared, skipped = candidate_pairs(_records())
    existing = {(c.customer_a_id, c.customer_b_id): c for c in DuplicateCandidate.objects.all()}
    now = timezone.now()
    to_create, to_update = [], []
    for (a, b), result in found.items():
        candidate = existing.get((a, b))
        if candidate is None:
            to_create.append(DuplicateCandidate(customer_a_id=a, customer_b_id=b, score=result.score,
                                                matched_on=result.matched_on, evidence=result.evidence,
                                                found_at=now))
        else:
            candidate.score, candidate.matched_on, candidate.evidence = (
                result.score, result.matched_on, result.evidence)
            to_update.append(candidate)
    stale = [c.pk for key, c in existing.items()
             if key not in found and c.status == CandidateStatus.OPEN]
    DuplicateCandidate.objects.bulk_create(to_create, batch_size=500)
    DuplicateCandidate.objects.bulk_update(to_update, ["score", "matched_on", "evidence"], batch_size=500)
    for start in range(0, len(stale), 900):
        DuplicateCandidate.objects.filter(pk__in=stale[start:start + 900]).delete()
    return ScanResult(compared=compared, found=len(found), new=len(to_create), removed=len(stale),
                      skipped_blocks=skipped)


def pair_rescore(a_id: int, b_id: int) -> DuplicateCandidate | None:
    """Score one pair now (after an undone merge) and store it as an open candidate."""
    a_id, b_id = sorted((a_id, b_id))
    records = _records([a_id, b_id])
    if len(records) != 2:
        return None
    result = score_pair(records[a_id], records[b_id])
    if result is None:
        return None
    candidate, _created = DuplicateCandidate.objects.update_or_create(
        customer_a_id=a_id, customer_b_id=b_id,
        defaults={"score": result.score, "matched_on": result.matched_on, "evidence": result.evidence,
                  "status": CandidateStatus.OPEN, "dismissed_at": None, "dismissed_by": None},
    )
    return candidate
