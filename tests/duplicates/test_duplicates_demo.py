"""The demo's customers are all distinct people: a scan may only flag pairs that share a
contact point or a full profile, never namesakes."""

from datetime import UTC, datetime

from django.db.models import Count, F, Sum

from valuecrm.customers.models import Customer
from valuecrm.demo.generate import demo_generate
from valuecrm.duplicates.duplicates import duplicate_scan
from valuecrm.duplicates.models import DuplicateCandidate

NOW = datetime(2026, 3, 15, 6, 30, tzinfo=UTC)


def test_demo_scan_returns_only_plausible_pairs(db):
    demo_generate(customers=500, seed=7, now=NOW, operations=False)  # customers are all it scans

    result = duplicate_scan()

    pairs = list(DuplicateCandidate.objects.select_related("customer_a", "customer_b"))
    assert result.found == len(pairs)
    namesakes = (Customer.objects.persons().values("name").annotate(n=Count("pk")).filter(n__gt=1)
                 .aggregate(pairs=Sum(F("n") * (F("n") - 1) / 2))["pairs"])
    assert namesakes > 20  # the demo has plenty of 王伟s: the test would catch name-only pairs
    # The generator gives a few organisations the same name and info@ address (branches): those,
    # and nothing else, are flagged.
    assert len(pairs) == 6
    assert {(p.customer_a.kind, p.customer_b.kind) for p in pairs} == {("organization", "organization")}
    for pair in pairs:
        codes = {r["code"] for r in pair.evidence["reasons"]}
        shares_contact = bool(codes & {"same_email", "similar_email", "same_phone"})
        full_profile = {"same_name", "same_birthday", "same_city"} <= codes
        assert shares_contact or full_profile, (pair.customer_a.name, pair.customer_b.name, codes)
        assert "different_name" not in codes and "all_differ" not in codes
