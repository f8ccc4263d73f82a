"""Finding likely duplicates among the existing customers.

The evidence model (points per field, the name-frequency rule, the candidate gate
and the default threshold) lives in ``duplicate_evidence``; this module loads the
customers, decides which pairs to compare and stores the candidates.

Blocking keeps the scan near-linear: two customers of the same kind are only
compared when they share a phone, an e-mail (exact or without dots/+tags), or
their name together with the birthday, the city or the company. A bare name is
not a blocking key: a name match alone can never make a candidate, and 王伟 alone
would put hundreds of customers in one block.

A block larger than MAX_BLOCK (a shared switchboard number, "info@…", 王伟 in
上海 in a very large base) says nothing about identity and would make the scan
quadratic, so it is skipped and reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.customers.models import ContactPoint, ContactPointKind, Customer
from valuecrm.duplicates.duplicate_evidence import (
    THRESHOLD,
    PairScore,
    Record,
    _norm_city,
    email_key,
    name_form,
    score_pair,
)
from valuecrm.duplicates.models import CandidateStatus, DuplicateCandidate

MAX_BLOCK = 50

__all__ = ["MAX_BLOCK", "THRESHOLD", "ScanResult", "candidate_pairs", "duplicate_scan", "pair_rescore",
           "reason_text", "load_records"]


@dataclass
class ScanResult:
    compared: int = 0
    found: int = 0
    new: int = 0
    removed: int = 0
    skipped_blocks: int = 0


def load_records(ids: list[int] | None = None) -> dict[int, Record]:
    """Customers (all, or ``ids``) with every e-mail and phone they have, as plain records."""
    records: dict[int, Record] = {}
    companies = dict(Customer.objects.organizations().order_by().values_list("pk", "name"))
    rows = Customer.objects.order_by().values_list("pk", "kind", "name", "company_id", "email", "phone",
                                                   "city", "birthday")
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    for pk, kind, name, company_id, email, phone, city, birthday in rows.iterator(chunk_size=5000):
        record = Record(pk, name, kind, companies.get(company_id, ""), company_id, city, birthday)
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


def _blocking_keys(record: Record) -> set[tuple]:
    keys: set[tuple] = set()
    for email in record.emails:
        keys.add(("email", record.kind, email))
        keys.add(("email_key", record.kind, email_key(email)))
    for phone in record.phones:
        keys.add(("phone", record.kind, phone))
    name = name_form(record.name).key
    if name:
        if record.birthday:
            keys.add(("name_birthday", record.kind, name, record.birthday))
        if city := _norm_city(record.city):
            keys.add(("name_city", record.kind, name, city))
        if record.company_id is not None:
            keys.add(("name_company", record.kind, name, record.company_id))
    return keys


def name_counts(records) -> Counter:
    """How many customers carry each name key: the data's own name frequencies."""
    return Counter(name_form(r.name).key for r in records)


def candidate_pairs(records: dict[int, Record], *, counts: Counter | None = None,
                    population: int | None = None, threshold: int = THRESHOLD,
                    ) -> tuple[dict[tuple[int, int], PairScore], int, int]:
    """(pair → score for the candidates, pairs compared, blocks skipped)."""
    blocks: dict[tuple, list[int]] = defaultdict(list)
    for record in records.values():
        for key in _blocking_keys(record):
            blocks[key].append(record.id)
    counts = name_counts(records.values()) if counts is None else counts
    population = len(records) if population is None else population
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
            result = score_pair(records[a], records[b], name_counts=counts, population=population,
                                threshold=threshold)
            if result.candidate:
                found[(a, b)] = result
    return found, len(seen), skipped


REASON_TEXT = {
    "same_email": lambda d: _("same e-mail"),
    "similar_email": lambda d: _("similar e-mail"),
    "different_email": lambda d: _("different e-mail"),
    "same_phone": lambda d: _("same phone"),
    "different_phone": lambda d: _("different phone"),
    "same_name": lambda d: _("same name (%(n)s customers have it)") % {"n": d} if d not in ("", "1", "2")
    else _("same name"),
    "same_pinyin_name": lambda d: _("same name in pinyin"),
    "similar_name": lambda d: _("similar name"),
    "different_name": lambda d: _("different name"),
    "same_birthday": lambda d: _("same birthday"),
    "same_birth_year_other_day": lambda d: _("same birth year, other day"),
    "different_birth_year": lambda d: _("different birth year (%(years)s)") % {"years": d},
    "same_city": lambda d: _("same city"),
    "different_city": lambda d: _("different city"),
    "same_company": lambda d: _("same company"),
    "different_company": lambda d: _("different company"),
    "all_differ": lambda d: _("phone, e-mail and birth year all differ"),
}


def reason_text(reason: dict) -> str:
    """One stored reason ({"code", "points", "detail"}) in the viewer's language."""
    describe = REASON_TEXT.get(reason.get("code", ""))
    return describe(str(reason.get("detail", ""))) if describe else str(reason.get("code", ""))


@transaction.atomic
def duplicate_scan(*, threshold: int = THRESHOLD) -> ScanResult:
    """Rescan every customer and refresh DuplicateCandidate.

    Open pairs no longer found are removed; dismissed pairs stay dismissed (their
    evidence is refreshed), so "not a duplicate" is remembered across scans.
    """
    found, compared, skipped = candidate_pairs(load_records(), threshold=threshold)
    existing = {(c.customer_a_id, c.customer_b_id): c for c in DuplicateCandidate.objects.all()}
    now = timezone.now()
    to_create, to_update = [], []
    for (a, b), result in found.items():
        candidate = existing.get((a, b))
        if candidate is None:
            to_create.append(DuplicateCandidate(customer_a_id=a, customer_b_id=b, score=result.score,
                                                points=result.total, matched_on=result.matched_on,
                                                evidence=result.evidence, found_at=now))
        else:
            candidate.score, candidate.points, candidate.matched_on, candidate.evidence = (
                result.score, result.total, result.matched_on, result.evidence)
            to_update.append(candidate)
    stale = [c.pk for key, c in existing.items()
             if key not in found and c.status == CandidateStatus.OPEN]
    DuplicateCandidate.objects.bulk_create(to_create, batch_size=500)
    DuplicateCandidate.objects.bulk_update(to_update, ["score", "points", "matched_on", "evidence"],
                                           batch_size=500)
    for start in range(0, len(stale), 900):
        DuplicateCandidate.objects.filter(pk__in=stale[start:start + 900]).delete()
    return ScanResult(compared=compared, found=len(found), new=len(to_create), removed=len(stale),
                      skipped_blocks=skipped)


def _name_counts_of(records) -> Counter:
    """Name frequencies for a few records, from the whole table (exact stored names)."""
    names = {r.name for r in records}
    counts: Counter = Counter()
    for name, n in (Customer.objects.order_by().filter(name__in=names).values_list("name")
                    .annotate(n=models.Count("pk"))):
        counts[name_form(name).key] += n
    return counts


def pair_rescore(a_id: int, b_id: int) -> DuplicateCandidate | None:
    """Score one pair now (after an undone merge) and store it as an open candidate."""
    a_id, b_id = sorted((a_id, b_id))
    records = load_records([a_id, b_id])
    if len(records) != 2:
        return None
    result = score_pair(records[a_id], records[b_id], name_counts=_name_counts_of(records.values()),
                        population=Customer.objects.count())
    if not result.candidate:
        return None
    candidate, _created = DuplicateCandidate.objects.update_or_create(
        customer_a_id=a_id, customer_b_id=b_id,
        defaults={"score": result.score, "points": result.total, "matched_on": result.matched_on,
                  "evidence": result.evidence, "status": CandidateStatus.OPEN, "dismissed_at": None,
                  "dismissed_by": None},
    )
    return candidate
