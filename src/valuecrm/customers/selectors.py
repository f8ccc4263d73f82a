"""Reads of customers: list with search, filters, sort and keyset pages; one record.

Every read starts from visibility.visible_customers(user), so the role's scope
(own / team / all) applies to the list page, the API, the palette and exports alike.

Pages are keyset ("seek") pages: the cursor carries the last row's sort value and
id, so page 2,000 costs the same as page 1 and rows inserted meanwhile neither
repeat nor vanish. Counts are capped for the same reason — a full COUNT(*) over
100k rows on every page view is the slowest part of a naive list.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import BooleanField, DecimalField, F, FloatField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from valuecrm.accounts.roles import Scope
from valuecrm.common.encryption import blind_index
from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers import search_index
from valuecrm.customers.filters import (
    ActiveFilter,
    clean_filters,
    filters_q,
    hide_archived_unless_asked,
)
from valuecrm.customers.models import ContactPoint, ContactPointKind, Customer, CustomerSearchToken
from valuecrm.customers.normalize import (
    half_width,
    normalize_email_quiet,
    normalize_phone_quiet,
    phone_search_prefixes,
)
from valuecrm.customers.search_tokens import email_part_token, phone_prefix_token, phone_tail_token
from valuecrm.customers.visibility import visible_customers

DEFAULT_SORT = "-id"
MAX_LIMIT = 500
COUNT_CAP = 1000
SEARCH_MAX_LENGTH = 200
# Fewer digits than this match too many phone numbers to be a phone search.
PHONE_SEARCH_MIN_DIGITS = 4
# Up to this many digits a phone search also matches the end of numbers; longer ones are
# prefixes only, so they stay on the index.
TAIL_SEARCH_MAX_DIGITS = 6


@dataclass(frozen=True)
class SortKey:
    field: str  # model field (or annotation) the sort runs on
    kind: str  # how its value is written into a cursor: int | str | datetime | decimal | float
    annotation: object = None  # expression annotated as ``field`` before sorting


def _value_sort(path: str, kind: str) -> SortKey:
    # Customer value columns (insights.CustomerValue). Unscored customers have no
    # row; a -1 stand-in (values are never negative) keeps the keyset cursor a
    # strict total order and puts them last when sorting highest first.
    output = DecimalField(max_digits=14, decimal_places=2) if kind == "decimal" else FloatField()
    sentinel = Value(Decimal("-1") if kind == "decimal" else -1.0, output_field=output)
    return SortKey(f"sort_{path}", kind, Coalesce(F(f"value__{path}"), sentinel, output_field=output))


SORT_KEYS = {
    "id": SortKey("id", "int"),
    "name": SortKey("name", "str"),
    "created": SortKey("created_at", "datetime"),
    "clv": _value_sort("clv", "decimal"),
    "value_at_risk": _value_sort("value_at_risk", "decimal"),
    "churn_risk": _value_sort("churn_risk", "float"),
}
SORTS = tuple(f"{prefix}{key}" for key in SORT_KEYS for prefix in ("", "-"))


def parse_sort(sort: str | None) -> tuple[SortKey, bool]:
    """'-created' → (created_at key, descending=True). Raises ValidationFailed on others."""
    sort = (sort or DEFAULT_SORT).strip()
    descending = sort.startswith("-")
    key = SORT_KEYS.get(sort.lstrip("-"))
    if key is None:
        raise ValidationFailed(
            _("Invalid sort"),
            errors={"sort": [_("Sort by one of: %(sorts)s.") % {"sorts": ", ".join(SORTS)}]},
        )
    return key, descending


# ---------------------------------------------------------------- search

# A search matching more customers than this is "broad" (see _member).
BROAD_MATCHES = 5000


def _member(column: str, sql: str, params: list, *, drive: bool) -> Q:
    """``column IN (sql)``. With ``drive`` the database may start from the subquery's
    rows (the right plan for a few matches). Without it, on SQLite, a unary ``+`` keeps
    the planner from doing so: for a broad search, walking the customers in list order
    and stopping at the page's 50th match beats collecting and sorting every match
    (issue 11: ``q=王`` at 1M customers). PostgreSQL's planner weighs this itself."""
    if drive or connection.vendor != "sqlite":
        return Q(**{f"{column}__in": RawSQL(sql, params)})
    table = connection.ops.quote_name(Customer._meta.db_table)
    return Q(RawSQL(f"+{table}.{connection.ops.quote_name(column)} IN ({sql})", params,
                    output_field=BooleanField()))


def _tokens_sql(tokens: list[int]) -> tuple[str, list]:
    sql, params = (CustomerSearchToken.objects.filter(token__in=tokens).values("customer_id")
                   .query.sql_with_params())
    return sql, list(params)


def _broad(subqueries: list[tuple[str, list]]) -> bool:
    """Whether the subqueries' rows together exceed BROAD_MATCHES (counting no further)."""
    if connection.vendor != "sqlite":
        return False
    total = 0
    with connection.cursor() as cursor:
        for sql, params in subqueries:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT {BROAD_MATCHES + 1 - total})", params)
            total += cursor.fetchone()[0]
            if total > BROAD_MATCHES:
                return True
    return False


def _phone_tokens(text: str) -> list[int]:
    """Phone digits: a prefix of the number or its tail, through the search tokens (phones
    are encrypted, so no range or LIKE can run on them)."""
    tokens = [phone_prefix_token(prefix) for prefix in phone_search_prefixes(text)]
    digits = re.sub(r"\D", "", half_width(text))
    if len(digits) <= TAIL_SEARCH_MAX_DIGITS:
        # A few digits may be the tail ("…1234", read off a caller id or a receipt).
        tokens.append(phone_tail_token(digits.lstrip("0") or digits))
    return tokens


def _email_part_tokens(text: str) -> list[int]:
    """The e-mail's local part or domain ("li.lei", "example.com", "@example.com").
    E-mails are encrypted: a fragment of either part does not match."""
    part = text.strip().lower().strip("@")
    return [email_part_token(part)] if part and "@" not in part else []


def _email_bidx_q(text: str) -> Q:
    """The whole (normalised) address, through the blind index."""
    text = text.strip().lower()
    return Q(email_bidx=blind_index("email", text)) if "@" in text.strip("@") else Q(pk__in=[])


def _sql(qs: QuerySet) -> tuple[str, list]:
    sql, params = qs.order_by().query.sql_with_params()
    return sql, list(params)


def _search_q(search: str, *, ordered: bool = True) -> Q:
    """The search condition. ``ordered``: the rows are wanted in list order, a page at a
    time (not for a count), which decides the plan of a broad search (_member).

    Every way a customer can match (name, company name, e-mail part or address, phone
    tokens) is one branch of a single ``id IN (… UNION ALL …)``: both databases can then
    start from the few matching ids, where an OR of several IN-subqueries made
    PostgreSQL filter every row of the table."""
    text = half_width(search).strip()
    if not text:
        return Q()
    digits = re.sub(r"\D", "", text)
    # "1519960", "138 0013 8000", "(0)138-0013-8000", "+86 138…": a phone search only, so
    # the query stays on the phone tokens instead of scanning names for digits.
    if len(digits) >= PHONE_SEARCH_MIN_DIGITS and re.fullmatch(r"[\d\s()+\-.]+", text):
        tokens = _tokens_sql(_phone_tokens(text))
        return _member("id", *tokens, drive=not ordered or not _broad([tokens]))
    names = search_index.matching_ids_sql(text)
    part_tokens = _email_part_tokens(text)
    if names is None:
        # No letter or digit to look up (e.g. "-"): the substring scan, as before the index.
        q = _email_bidx_q(text) | Q(name__icontains=text) | Q(company__name__icontains=text)
        return q | _member("id", *_tokens_sql(part_tokens), drive=True) if part_tokens else q
    # Name or company name containing the text (case-insensitive): the search index
    # (customers.search_index) narrows both to the customers holding the query's terms,
    # and the substring test runs on those rows only — so the answer is the plain scan's.
    branches = [
        _sql(Customer.objects.filter(pk__in=RawSQL(*names), name__icontains=text).values("pk")),
        _sql(Customer.objects.filter(company_id__in=RawSQL(*names), company__name__icontains=text)
             .values("pk")),
    ]
    if part_tokens:
        branches.append(_tokens_sql(part_tokens))
    if "@" in text.strip().lower().strip("@"):
        branches.append(_sql(Customer.objects.filter(_email_bidx_q(text)).values("pk")))
    union = (" UNION ALL ".join(sql for sql, _params in branches), [p for _sql_, ps in branches for p in ps])
    return _member("id", *union, drive=not ordered or not _broad([union]))


# ---------------------------------------------------------------- broad searches, in id order

# The streams below examine at most this many candidates before handing the search back
# to the single-query plan (a scope or filter rejecting nearly every match).
STREAM_MAX_CANDIDATES = 20_000
# Members of matching organisations up to this many are read through the company_id index
# at once; more, and the customers are walked in id order testing their company.
STREAM_FEW_MEMBERS = 20_000
STREAM_FIRST_CHUNK = 256
STREAM_MAX_CHUNK = 8192


class _Stream:
    """Customer ids of one way of matching, highest first, read a chunk at a time.

    ``fetch(below, limit)`` returns up to ``limit`` ids below ``below`` (None: from the
    top), highest first; ``check`` is the condition a candidate from this stream must also
    meet (the substring re-check of the index's superset) — a Q, or ``check(base, ids)``
    returning the ids of ``base`` that meet it — or None when every id it yields matches."""

    def __init__(self, fetch, check: Q | None):
        self.fetch, self.check, self.chunk = fetch, check, STREAM_FIRST_CHUNK
        self.buffer: list[int] = []
        self.last: int | None = None
        self.done = False

    def refill(self) -> None:
        ids = self.fetch(self.last, self.chunk)
        self.buffer.extend(ids)
        if len(ids) < self.chunk:
            self.done = True
        if ids:
            self.last = ids[-1]
        self.chunk = min(self.chunk * 2, STREAM_MAX_CHUNK)


def _list_fetch(ids: list[int]):
    ascending = sorted(set(ids))

    def fetch(below, limit):
        end = len(ascending) if below is None else bisect.bisect_left(ascending, below)
        return ascending[max(0, end - limit):end][::-1]
    return fetch


def _sql_fetch(sql: str, params: list, column: str):
    """``sql`` selects ``column`` (a customer id); read it in descending order with a LIMIT."""
    def fetch(below, limit):
        bounded, args = (f"{sql} AND {column} < %s", [*params, below]) if below is not None else (sql, params)
        with connection.cursor() as cursor:
            cursor.execute(f"{bounded} ORDER BY {column} DESC LIMIT {int(limit)}", args)
            return [row[0] for row in cursor.fetchall()]
    return fetch


def _search_streams(text: str) -> list[_Stream] | None:
    """The ways ``text`` can match (see _search_q) as id-ordered streams, or None when the
    search is not one the streams serve (a phone number, nothing the name index can look up)."""
    text = half_width(text).strip()
    digits = re.sub(r"\D", "", text)
    if not text or (len(digits) >= PHONE_SEARCH_MIN_DIGITS and re.fullmatch(r"[\d\s()+\-.]+", text)):
        return None
    names = search_index.matching_ids_sql(text)
    if names is None:
        return None
    customers = connection.ops.quote_name(Customer._meta.db_table)
    company_sql, company_params = names[0], list(names[1])
    streams = [_Stream(search_index.id_reader(text), Q(name__icontains=text))]
    def company_check(base: QuerySet, ids: list[int]) -> set[int]:
        # company__name__icontains in two look-ups by primary key: as one query with the
        # join, PostgreSQL walked every customer testing the name (1 s for 1,000 ids).
        companies = dict(base.filter(pk__in=ids, company_id__isnull=False).order_by()
                         .values_list("pk", "company_id"))
        named = set(Customer._base_manager.filter(pk__in=set(companies.values()), name__icontains=text)
                    .order_by().values_list("pk", flat=True))
        return {pk for pk, company in companies.items() if company in named}

    members_sql = f"SELECT id FROM {customers} WHERE company_id IN ({company_sql})"
    with connection.cursor() as cursor:
        # Members of the organisations the index offers, through the company_id index
        # (it stops at STREAM_FEW_MEMBERS + 1 however many there are).
        cursor.execute(f"{members_sql} LIMIT {STREAM_FEW_MEMBERS + 1}", company_params)
        members = [row[0] for row in cursor.fetchall()]
    if len(members) <= STREAM_FEW_MEMBERS:
        streams.append(_Stream(_list_fetch(members), company_check))
    else:
        # Many (at least one customer in every 1 / STREAM_FEW_MEMBERS of a million): walk
        # the customers in id order, testing company_id against the index's matches (a
        # unary + on SQLite keeps its planner from starting at company_id).
        column = "+company_id" if connection.vendor == "sqlite" else "company_id"
        streams.append(_Stream(_sql_fetch(f"SELECT id FROM {customers} WHERE {column} IN ({company_sql})",
                                          company_params, "id"), company_check))
    part_tokens = _email_part_tokens(text)
    if part_tokens:
        table = CustomerSearchToken._meta.db_table
        marks = ", ".join(["%s"] * len(part_tokens))
        streams.append(_Stream(_sql_fetch(f"SELECT customer_id FROM {table} WHERE token IN ({marks})",
                                          list(part_tokens), "customer_id"), None))
    if "@" in text.lower().strip("@"):
        streams.append(_Stream(_list_fetch(list(
            Customer.objects.filter(_email_bidx_q(text)).values_list("pk", flat=True))), None))
    return streams


def _stream_ids(base: QuerySet, streams: list[_Stream], need: int, below: int | None = None) -> list[int] | None:
    """The ids of the first ``need`` customers of ``base`` matching any stream, highest first
    (fewer when there are no more), below ``below``; None after STREAM_MAX_CANDIDATES
    candidates (the caller then runs the single-query plan).

    Candidates are taken in id order across the streams: everything at or above the
    highest id a still-open stream has reached is known, so it is checked — the candidate's
    own re-check, the scope, filters and archive rule of ``base`` — in one query, and the
    stream holding the frontier reads on. It stops at the ``need``-th hit, as the old scan
    of the customers table did, but walks only the index's candidates."""
    for stream in streams:
        stream.last = below
    found: list[int] = []
    seen = 0
    while True:
        for stream in streams:
            if not stream.done and not stream.buffer:
                stream.refill()
        # Every stream still open has read down to its `last`: ids at or above the highest
        # of these are all known (all streams closed: everything is).
        frontier = max((s.last for s in streams if not s.done), default=None)
        ready: dict[int, list[int]] = {}
        for number, stream in enumerate(streams):
            keep = 0
            for pk in stream.buffer:
                if frontier is not None and pk < frontier:
                    break
                ready.setdefault(pk, []).append(number)
                keep += 1
            del stream.buffer[:keep]
        if ready:
            ids = sorted(ready, reverse=True)
            seen += len(ids)
            for start in range(0, len(ids), 1000):
                chunk = ids[start:start + 1000]
                hits: set[int] = set()
                # One query per stream: an OR of the streams' checks made PostgreSQL's
                # planner scan the whole table instead of looking up the ids.
                for number, stream in enumerate(streams):
                    mine = [pk for pk in chunk if number in ready[pk] and pk not in hits]
                    if mine and callable(stream.check):
                        hits.update(stream.check(base, mine))
                    elif mine:
                        rows = base.filter(pk__in=mine)
                        rows = rows.filter(stream.check) if stream.check is not None else rows
                        hits.update(rows.order_by().values_list("pk", flat=True))
                found += [pk for pk in chunk if pk in hits]
                if len(found) >= need:
                    return found[:need]
        if all(s.done and not s.buffer for s in streams):
            return found
        if seen > STREAM_MAX_CANDIDATES:
            return None
        for stream in streams:
            if not stream.done and stream.last == frontier:
                stream.refill()


def customers_with_email(value: str) -> QuerySet:
    """Customers whose primary e-mail is ``value`` (normalised), through the blind index."""
    return Customer.objects.filter(email_bidx=blind_index("email", normalize_email_quiet(value)))


def customers_with_phone(value: str) -> QuerySet:
    """Customers whose primary phone is ``value`` (normalised to E.164)."""
    return Customer.objects.filter(phone_bidx=blind_index("phone", normalize_phone_quiet(value)))


def contact_point_value_bidx(value: str) -> str:
    """The blind index ContactPoint.value_bidx holds for a stored (normalised) value."""
    return blind_index("contact", value)


def customers_with_contact(kind: str, value: str) -> QuerySet:
    """Customers holding ``value`` (already normalised) as their primary ``kind`` ("email" |
    "phone") or as an extra contact point of that kind."""
    by_point = ContactPoint.objects.filter(kind=kind, value_bidx=contact_point_value_bidx(value))
    return Customer.objects.filter(Q(**{f"{kind}_bidx": blind_index(kind, value)})
                                   | Q(pk__in=by_point.values("customer_id")))


def _clean_search(search: str | None) -> str:
    search = search or ""
    if len(search) > SEARCH_MAX_LENGTH:
        raise ValidationFailed(
            _("Invalid search"),
            errors={"q": [_("Enter at most %(n)d characters.") % {"n": SEARCH_MAX_LENGTH}]},
        )
    if "\x00" in search:
        raise ValidationFailed(_("Invalid search"), errors={"q": [_("Null characters are not allowed.")]})
    return search


def customer_queryset(
    *, user, search: str = "", filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    ordered: bool = True,
) -> QuerySet:
    """Visible customers matching search and filters, unordered and unsliced; ``ordered=False``
    when the rows will only be counted (it picks the plan of a broad search)."""
    search = _clean_search(search)
    active = filters if isinstance(filters, list) else clean_filters(filters, user=user)
    return (visible_customers(user).filter(_search_q(search, ordered=ordered)).filter(filters_q(active))
            .filter(hide_archived_unless_asked(active)))


# ---------------------------------------------------------------- keyset cursor

def _cursor_encode(key: SortKey, row: Customer) -> str:
    value = getattr(row, key.field)
    if key.kind == "datetime":
        value = value.isoformat()
    elif key.kind == "decimal":
        value = str(value)
    payload = json.dumps([value, row.pk], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _cursor_decode(key: SortKey, cursor: str):
    bad = ValidationFailed(_("Invalid cursor"), errors={"after": [_("This page link is not valid.")]})
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise bad from None
    if not isinstance(pk, int) or isinstance(pk, bool):
        raise bad
    if key.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad
    elif key.kind == "str":
        if not isinstance(value, str):
            raise bad
    elif key.kind == "decimal":
        try:
            value = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            raise bad
    elif key.kind == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise bad
    else:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if not isinstance(parsed, datetime.datetime):
            raise bad
        value = parsed
    return value, pk


def _after_q(key: SortKey, descending: bool, value, pk: int) -> Q:
    op = "lt" if descending else "gt"
    if key.field == "id":
        return Q(**{f"id__{op}": pk})
    return Q(**{f"{key.field}__{op}": value}) | Q(**{key.field: value, f"id__{op}": pk})


def _ordering(key: SortKey, descending: bool) -> list[str]:
    prefix = "-" if descending else ""
    # id breaks ties in the same direction, so (value, id) is a strict total order
    # and the cursor comparison above matches the ORDER BY exactly.
    return [f"{prefix}{key.field}"] if key.field == "id" else [f"{prefix}{key.field}", f"{prefix}id"]


def _sortable(qs: QuerySet, key: SortKey) -> QuerySet:
    return qs.annotate(**{key.field: key.annotation}) if key.annotation is not None else qs


def _with_list_relations(qs: QuerySet) -> QuerySet:
    from valuecrm.customers.extensions import registry

    qs = qs.select_related("owner", "team", "company", "value").prefetch_related("tags")
    annotations = registry.list_annotations()  # other apps' columns (loyalty points, tier)
    return qs.annotate(**annotations) if annotations else qs


def customer_list(
    *, user, search: str = "", filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    sort: str = DEFAULT_SORT, after: str | None = None, limit: int = 50,
) -> tuple[list[Customer], str | None]:
    """One keyset page of visible customers and the cursor of the next page (or None).

    ``filters`` is the raw ``{key: value}`` of customers.filters (or already parsed
    ActiveFilters); ``sort`` one of SORTS; ``after`` the cursor a previous call returned.
    Bad values raise ValidationFailed naming the parameter.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            _("Invalid limit"),
            errors={"limit": [_("Enter a whole number from 1 to %(n)d.") % {"n": MAX_LIMIT}]},
        )
    key, descending = parse_sort(sort)
    cursor_value = _cursor_decode(key, after) if after else None
    rows = None
    if search and key.field == "id" and descending:
        # Newest first (the default): a broad search reads its matches in id order and
        # stops at the page's last row instead of collecting every match.
        active = filters if isinstance(filters, list) else clean_filters(filters, user=user)
        base = customer_queryset(user=user, filters=active)
        streams = _search_streams(_clean_search(search))
        ids = _stream_ids(base, streams, limit + 1, below=cursor_value[1] if cursor_value else None) \
            if streams is not None else None
        if ids is not None:
            rows = list(_with_list_relations(base.filter(pk__in=ids).order_by("-id"))) if ids else []
        filters = active
    if rows is None:
        qs = _sortable(customer_queryset(user=user, search=search, filters=filters), key)
        if cursor_value:
            qs = qs.filter(_after_q(key, descending, *cursor_value))
        rows = list(_with_list_relations(qs.order_by(*_ordering(key, descending)))[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _cursor_encode(key, rows[-1])
    return rows, next_cursor


def customer_iter(
    *, user, search: str = "", filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    sort: str = DEFAULT_SORT, batch_size: int = 500,
) -> Iterator[Customer]:
    """Every matching visible customer in list order, fetched page by page (for exports).

    Keyset batches keep memory flat and each query short, so a long export never
    holds a read transaction open on SQLite while the client downloads.
    """
    active = filters if isinstance(filters, list) else clean_filters(filters, user=user)
    after = None
    while True:
        rows, after = customer_list(
            user=user, search=search, filters=active, sort=sort, after=after, limit=batch_size
        )
        yield from rows
        if after is None:
            return


def customer_value_batches(
    *, user, fields: tuple[str, ...], search: str = "",
    filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    sort: str = DEFAULT_SORT, batch_size: int = 2000,
) -> Iterator[list[dict]]:
    """All matching visible customers as batches of ``values(*fields)`` dicts (always
    with "id"), in list order — the lean path for exports of the whole base."""
    key, descending = parse_sort(sort)
    qs = _sortable(customer_queryset(user=user, search=search, filters=filters), key)
    columns = tuple(dict.fromkeys(("id", key.field, *fields)))
    ordered = qs.order_by(*_ordering(key, descending)).values(*columns)
    last = None
    while True:
        page = ordered.filter(_after_q(key, descending, *last)) if last else ordered
        rows = list(page[:batch_size])
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        last = (rows[-1][key.field], rows[-1]["id"])


@dataclass(frozen=True)
class CappedCount:
    value: int
    capped: bool  # True when there are more than `value` rows

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


def customer_count(
    *, user, search: str = "", filters: Mapping[str, object] | list[ActiveFilter] | None = None,
    cap: int = COUNT_CAP,
) -> CappedCount:
    """How many visible customers match, counting at most ``cap`` + 1 rows.

    Django counts a sliced queryset as COUNT(*) over a LIMIT subquery, so the cost is
    bounded by ``cap`` however large the table is.
    """
    if not search and not filters and user.scope == Scope.ALL:
        # The whole customer base: a plain COUNT(*) walks the smallest index and stays
        # cheap (≈ 5 ms per 100k rows on SQLite), so "how many customers do we have"
        # gets an exact answer. Filters and team scopes keep the capped count.
        return CappedCount(Customer.objects.filter(archived_at__isnull=True).count(), False)
    n = None
    if search:
        # A broad search counts its first cap + 1 matches in id order (see _stream_ids).
        streams = _search_streams(_clean_search(search))
        if streams is not None:
            active = filters if isinstance(filters, list) else clean_filters(filters, user=user)
            ids = _stream_ids(customer_queryset(user=user, filters=active), streams, cap + 1)
            n = None if ids is None else len(ids)
            filters = active
    if n is None:
        qs = customer_queryset(user=user, search=search, filters=filters, ordered=False)
        n = qs.order_by().values("pk")[: cap + 1].count()
    return CappedCount(cap, True) if n > cap else CappedCount(n, False)


def customer_get(*, user, pk) -> Customer:
    """One visible customer; NotFound when it does not exist or the user may not see it
    (the two are indistinguishable on purpose: no probing for other teams' records)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(_("Customer not found.")) from None
    customer = _with_list_relations(visible_customers(user)).filter(pk=pk).first()
    if customer is None:
        raise NotFound(_("Customer not found."))
    return customer


# ---------------------------------------------------------------- contact-point warnings

@dataclass(frozen=True)
class ContactClash:
    """Another visible customer already holding a phone or e-mail being saved."""

    field: str  # "email" | "phone"
    value: str
    customer_id: int
    customer_name: str


MAX_CLASHES = 5


def contact_clashes(*, user, customer: Customer) -> list[ContactClash]:
    """Other customers ``user`` can see with ``customer``'s primary e-mail or phone, as their
    primary value or as an extra contact point — a warning for the form and the API, never
    a refusal (a household may share a line). Customers the user cannot see are not named."""
    visible = visible_customers(user).exclude(pk=customer.pk)
    clashes: list[ContactClash] = []
    for field, kind in (("email", ContactPointKind.EMAIL), ("phone", ContactPointKind.PHONE)):
        value = getattr(customer, field)
        if not value:
            continue
        matches = (visible.filter(pk__in=customers_with_contact(kind, value).values("pk"))
                   .order_by("id").values_list("pk", "name")[:MAX_CLASHES])
        clashes += [ContactClash(field, value, pk, name) for pk, name in matches]
    return clashes
