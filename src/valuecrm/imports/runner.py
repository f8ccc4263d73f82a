"""The import engine: stream the file in batches, clean every row, write in bulk.

One run is one transaction. In all-or-nothing mode (the default) any invalid row
rolls the whole run back, so nothing is half-imported; in partial mode the valid
rows are kept and the rest reported. A dry run always rolls back, and is how the
wizard previews counts and finds duplicates to review.

Rows are written as they stream (so later rows find earlier ones, which is how
duplicates inside the file are found), with plain multi-row INSERTs and one
lookup query per batch and key — never a query or an ORM save per row.
"""

import bisect
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from valuecrm.accounts.capabilities import Capability
from valuecrm.accounts.roles import Scope
from valuecrm.common import history
from valuecrm.common.encryption import blind_index, index_updates
from valuecrm.customers import search_index
from valuecrm.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomerKind,
    CustomerSearchToken,
    CustomFieldDefinition,
    Interaction,
    InteractionKind,
    Note,
    Tag,
)
from valuecrm.customers.search_tokens import refresh_tokens, token_rows
from valuecrm.customers.visibility import visible_customers
from valuecrm.imports import dedupe
from valuecrm.imports.bulk import (
    BackgroundWrites,
    DeferredIndexes,
    KeyLookup,
    TableWriter,
    collect_batch_garbage,
    id_ranges,
    lookup,
    merge_ranges,
    sorts_on_disk,
    tuned_for_loading,
)
from valuecrm.imports.models import ImportChange, ImportKind, ImportMode, ImportRun
from valuecrm.imports.progress import progress_write
from valuecrm.imports.readers import FileInfo, estimate_rows, read_batches
from valuecrm.imports.row_errors import RowProblem
from valuecrm.imports.validate import CleanBatch, CleanRow, RowCleaner
from valuecrm.orders.models import Order, OrderChannel, OrderStatus, Product

BATCH = 20_000
GC_EVERY_BATCHES = 25  # see bulk.tuned_for_loading
MAX_STORED_ERRORS = 100_000
MAX_REVIEW = 500
LOOKUP_CHUNK = 900
PROGRESS_EVERY = 1.0  # seconds
KEYS = ("email", "phone", "external_id")
DUPLICATE_ACTIONS = ("auto", "create", "skip", "merge")

# Customer fields an import may write (besides tags, custom fields and company).
CUSTOMER_VALUE_FIELDS = (
    "kind", "name", "job_title", "email", "phone", "birthday", "gender", "age_band",
    "occupation", "income_band", "region", "city", "preferred_language", "acquisition_source",
    "acquisition_channel", "acquisition_cost", "acquired_at", "external_id", "consent_email", "consent_sms",
    "consent_phone", "consent_wechat",
)


@dataclass
class Outcome:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[tuple[int, str, str, list]] = field(default_factory=list)
    review: list[dict] = field(default_factory=list)
    created_ids: dict[str, list[list[int]]] = field(default_factory=dict)
    changes: list[tuple[str, int, dict]] = field(default_factory=list)
    committed: bool = False
    seconds: float = 0.0


def _chunks(values: list, size: int = LOOKUP_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class CreatedLog:
    """Ids a run created, in insert order, with the file row each came from."""

    def __init__(self):
        self.ids = array("q")
        self.rows = array("l")

    def add(self, ids: list[int], rows: list[int]) -> None:
        self.ids.extend(ids)
        self.rows.extend(rows)

    def row_of(self, pk: int) -> int | None:
        # Ids grow within a run, so the log is sorted and bisect finds them.
        index = bisect.bisect_left(self.ids, pk)
        if index < len(self.ids) and self.ids[index] == pk:
            return self.rows[index]
        return None

    def ranges(self) -> list[list[int]]:
        return id_ranges(self.ids)


class Engine:
    def __init__(self, run: ImportRun, actor, *, on_progress: Callable | None = None):
        self.run = run
        self.actor = actor
        self.options = dict(run.options or {})
        self.mode = self.options.get("mode", ImportMode.ALL_OR_NOTHING)
        self.dry_run = bool(run.dry_run)
        self.source = (self.options.get("source") or "import").strip()[:50]
        self.outcome = Outcome()
        self.on_progress = on_progress
        self.info = FileInfo(format=run.file_format, encoding=run.encoding,
                             delimiter=run.delimiter, header_row=run.header_row,
                             headers=list(run.headers))
        self.cleaner = RowCleaner(run.kind, self.info.headers, run.mapping, self.options)
        self.expected_rows = estimate_rows(run.file_path, self.info)
        self._last_progress = 0.0

    # ------------------------------------------------------------ reporting

    def fail_row(self, row: CleanRow, column: str, reason: str) -> None:
        row.errors.append((column, reason))

    def _record_errors(self, rows: list[CleanRow]) -> None:
        for row in rows:
            if not row.errors:
                continue
            self.outcome.failed += 1
            for column, reason in row.errors:
                if len(self.outcome.errors) < MAX_STORED_ERRORS:
                    self.outcome.errors.append((row.number, column, reason, row.raw))

    def record_batch_errors(self, batch: CleanBatch) -> None:
        for position in sorted(p for p, found in batch.errors.items() if found):
            row = batch.rows[position]
            self.outcome.failed += 1
            for column, reason in batch.errors[position]:
                if len(self.outcome.errors) < MAX_STORED_ERRORS:
                    self.outcome.errors.append((row.number, column, reason, row.values))

    def review(self, entry: dict) -> None:
        if len(self.outcome.review) < MAX_REVIEW:
            self.outcome.review.append(entry)

    def _progress(self, force=False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        o = self.outcome
        values = dict(processed=o.total, created=o.created, updated=o.updated,
                      unchanged=o.unchanged, skipped=o.skipped, failed=o.failed)
        progress_write(self.run.pk, **values)
        if self.on_progress:
            self.on_progress(values)

    # ------------------------------------------------------------ the run

    def execute(self) -> Outcome:
        started = time.perf_counter()
        writer = WRITERS[self.run.kind](self)
        with tuned_for_loading(), sorts_on_disk(), transaction.atomic():
            try:
                for number, chunk in enumerate(read_batches(self.run.file_path, self.info,
                                                             BATCH)):
                    if writer.columnar:
                        batch = self.cleaner.clean_columns(chunk)
                        self.outcome.total += len(batch)
                        writer.write_columns(batch)  # it reports the batch's errors
                    else:
                        rows = self.cleaner.clean_batch(chunk)
                        self.outcome.total += len(rows)
                        writer.write([r for r in rows if not r.errors])
                        self._record_errors(rows)
                    if number % GC_EVERY_BATCHES == GC_EVERY_BATCHES - 1:
                        collect_batch_garbage()
                    self._progress()
                writer.finish()
            finally:
                writer.close()
            keep = not self.dry_run and (self.mode == ImportMode.PARTIAL or not self.outcome.failed)
            if not keep:
                transaction.set_rollback(True)
            else:
                self._save_changes()
        self.outcome.committed = keep
        self.outcome.created_ids = {k: merge_ranges(v) for k, v in writer.created_ranges().items()
                                    if v} if keep else {}
        self.outcome.seconds = time.perf_counter() - started
        self._progress(force=True)
        return self.outcome

    def _save_changes(self) -> None:
        changes = [ImportChange(run_id=self.run.pk, model=model, object_id=pk, before=before)
                   for model, pk, before in self.outcome.changes]
        ImportChange.objects.bulk_create(changes, batch_size=2000)
        # The updates went through QuerySet.update(); put them on the records' history.
        for key, model in (("customer", Customer), ("product", Product)):
            befores = history.changed_ids(self.outcome.changes, key)
            if befores and hasattr(model, "history"):
                history.record_bulk_changes(model, befores, actor=self.actor,
                                            reason=f"import:{self.run.pk}")

    # ------------------------------------------------------------ visibility

    def visible_ids(self, ids: Iterable[int]) -> set[int]:
        ids = list(set(ids))
        if self.actor.scope == Scope.ALL or not ids:
            return set(ids)
        visible: set[int] = set()
        for chunk in _chunks(ids):
            visible.update(visible_customers(self.actor).filter(pk__in=chunk)
                           .values_list("pk", flat=True))
        return visible


# ---------------------------------------------------------------- writers

class Writer:
    """What the engine calls on a writer, per import kind: `write(rows)` per batch of
    valid CleanRows — or `write_columns(batch)` with the whole CleanBatch when
    `columnar`, the writer then reporting the batch's errors — then `finish()` once
    all batches are in (inside the transaction), and `close()` last, always, even
    after an error (a writer with a helper thread waits for it there)."""

    columnar = False

    def finish(self) -> None:
        """Called once after the last batch, inside the import's transaction."""

    def close(self) -> None:
        """Called last, also when the import fails."""


# ---------------------------------------------------------------- customers

class CustomerWriter(Writer):
    def __init__(self, engine: Engine):
        self.engine = engine
        options = engine.options
        self.key = options.get("key") or ("external_id" if "external_id" in engine.cleaner.mapped
                                          else "email" if "email" in engine.cleaner.mapped
                                          else "phone" if "phone" in engine.cleaner.mapped else "")
        self.on_duplicate = options.get("on_duplicate") or "auto"
        self.decisions: dict = options.get("decisions") or {}
        self.fuzzy = options.get("fuzzy", True)
        self.actor = engine.actor
        self.owner_id = self.actor.pk
        self.team_id = self.actor.team_id
        self.created = CreatedLog()
        self.orgs = CreatedLog()
        self.contact_point_ranges: list[list[int]] = []
        self.updated_rows: dict[int, int] = {}  # existing customer id → the row that updated it
        self.tag_ids: dict[str, int] = {}
        self.required_custom = [d.key for d in CustomFieldDefinition.objects.filter(required=True)]
        mapped = set(engine.cleaner.mapped)
        self.writes = [f for f in CUSTOMER_VALUE_FIELDS if f in mapped]
        columns = [*self.writes, "owner_id", "team_id", "company_id", "custom_fields", "source",
                   "created_by_id", "kind"]
        self.customers = TableWriter(Customer, columns)
        self.points = TableWriter(ContactPoint, ["customer_id", "kind", "value", "is_primary"])
        self.tag_links = TableWriter(Customer.tags.through, ["customer_id", "tag_id"])
        self.tokens = TableWriter(CustomerSearchToken, ["customer_id", "token"])
        # A column mapped to a note or an interaction adds one to the customer's timeline.
        self.timeline = TimelineEntries(engine, mapped)
        self.company_ids: dict[str, int] = {}
        # New customers (with their contact points and tags) are written on a helper
        # thread while the engine cleans the next batch; see bulk.BackgroundWrites.
        self.background = BackgroundWrites()

    def created_ranges(self) -> dict[str, list[list[int]]]:
        return {"customers": self.created.ranges() + self.orgs.ranges(),
                "contact_points": self.contact_point_ranges, **self.timeline.created_ranges()}

    def finish(self) -> None:
        self.background.settle()

    def close(self) -> None:
        self.background.close()

    # -------------------------------------------------------- lookups

    def _match_by_key(self, rows: list[CleanRow]) -> dict[str, int]:
        """key value → existing customer id (one query per chunk of keys)."""
        key = self.key
        values = sorted({r.values[key] for r in rows if r.values.get(key)})
        found: dict[str, int] = {}
        extra = ("source = %s", (self.engine.source,)) if key == "external_id" else ("", ())
        column, by_column = key, None
        if key in ("email", "phone"):
            # Encrypted columns: the upsert matches on their blind index.
            column = f"{key}_bidx"
            by_column = {blind_index(key, v): v for v in values}
            values = sorted(by_column)
        for value, pk in sorted(lookup(Customer, column, values, extra=extra[0],
                                       extra_params=extra[1]), key=lambda r: r[1]):
            found.setdefault(by_column[value] if by_column else value, pk)
        return found

    def _stored(self, ids: Iterable[int]) -> dict[int, dict]:
        ids = list(ids)
        stored: dict[int, dict] = {}
        fields = ["pk", *[f for f in CUSTOMER_VALUE_FIELDS], "custom_fields", "company_id"]
        for chunk in _chunks(ids):
            for values in Customer.objects.filter(pk__in=chunk).values(*fields):
                stored[values["pk"]] = values
        return stored

    def _companies(self, rows: list[CleanRow]) -> None:
        names = sorted({r.values["company"] for r in rows if r.values.get("company")}
                       - set(self.company_ids))
        if not names:
            return
        for chunk in _chunks(names):
            query = visible_customers(self.actor).filter(kind=CustomerKind.ORGANIZATION,
                                                         name__in=chunk)
            for pk, name in query.order_by("pk").values_list("pk", "name"):
                self.company_ids.setdefault(name, pk)
        missing = [n for n in names if n not in self.company_ids]
        if missing:
            ids = self.customers.insert([
                {"kind": CustomerKind.ORGANIZATION, "name": name, "owner_id": self.owner_id,
                 "team_id": self.team_id, "source": self.engine.source,
                 "created_by_id": self.actor.pk, "custom_fields": {}}
                for name in missing
            ])
            self.orgs.add(ids, [0] * len(ids))
            self.company_ids.update(zip(missing, ids, strict=True))

    def _tag_ids(self, names: Iterable[str]) -> list[int]:
        result = []
        for name in names:
            lowered = name.lower()
            if lowered not in self.tag_ids:
                tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
                self.tag_ids[lowered] = tag.pk
            result.append(self.tag_ids[lowered])
        return result

    # -------------------------------------------------------- one batch

    def write(self, rows: list[CleanRow]) -> None:
        # The previous batch's customers must be in before this batch looks for matches
        # (that is how a repeated key further down the file is found).
        self.background.settle()
        if not rows:
            return
        engine = self.engine
        key = self.key
        matches = self._match_by_key(rows) if key else {}
        matched_ids = set(matches.values())
        visible = engine.visible_ids(matched_ids)
        stored = self._stored(matched_ids & visible)

        creates: list[CleanRow] = []
        pending: dict[str, int] = {}  # key value → row number of a create in this batch
        updates: list[tuple[CleanRow, int, bool]] = []  # (row, customer id, merge-only)
        for row in rows:
            value = row.values.get(key) if key else None
            if value and value in pending:
                self._in_file_duplicate(row, pending[value], key)
                continue
            pk = matches.get(value) if value else None
            if pk is not None:
                if pk not in visible:
                    engine.fail_row(row, engine.cleaner.mapped.get(key, key),
                                    RowProblem("key_not_visible", key=key))
                    continue
                earlier = self.created.row_of(pk) or self.updated_rows.get(pk)
                if earlier:
                    self._in_file_duplicate(row, earlier, key)
                    continue
                self.updated_rows[pk] = row.number
                updates.append((row, pk, False))
                continue
            if value:
                pending[value] = row.number
            creates.append(row)

        creates = self._review_duplicates(creates, updates, stored)
        merge_targets = [pk for _row, pk, _merge in updates if pk not in stored]
        stored.update(self._stored(merge_targets))
        self._companies([r for r in rows if not r.errors])

        for row, pk, merge_only in updates:
            if row.errors:
                continue
            self._update(row, pk, stored.get(pk), merge_only)
        self.timeline.add_for_existing([(pk, row.values) for row, pk, _merge in updates
                                        if not row.errors])

        new_rows = []
        for row in creates:
            if row.errors:
                continue
            missing = [k for k in self.required_custom if k not in row.values.get("custom_fields", {})]
            if missing:
                engine.fail_row(row, "", RowProblem("custom_required", keys=", ".join(missing)))
                continue
            new_rows.append(row)
        self._create(new_rows)

    def _in_file_duplicate(self, row: CleanRow, earlier: int, key: str) -> None:
        self.engine.outcome.skipped += 1
        self.engine.review({
            "row": row.number, "kind": "in_file", "reason": key, "earlier_row": earlier,
            "name": row.values.get("name", ""), "email": row.values.get("email", ""),
            "phone": row.values.get("phone", ""), "action": "skip", "score": 100,
        })

    def _decide(self, row: CleanRow, candidate: dedupe.Candidate | None) -> str:
        decision = self.decisions.get(str(row.number))
        if decision:
            return decision
        if candidate is None:
            return "create"
        if self.on_duplicate == "auto":
            return f"merge:{candidate.existing.id}" if candidate.exact else "create"
        if self.on_duplicate == "merge":
            return f"merge:{candidate.existing.id}"
        return self.on_duplicate

    def _review_duplicates(self, creates, updates, stored) -> list[CleanRow]:
        engine = self.engine
        candidates = (dedupe.find_candidates([r.values for r in creates], skip_field=self.key)
                      if self.fuzzy and creates else {})
        if candidates:
            visible = engine.visible_ids(c.existing.id for cs in candidates.values() for c in cs)
            candidates = {i: [c for c in cs if c.existing.id in visible]
                          for i, cs in candidates.items()}
        remaining = []
        for index, row in enumerate(creates):
            found = candidates.get(index) or []
            best = found[0] if found else None
            decision = self._decide(row, best)
            if best is not None:
                engine.review({
                    "row": row.number, "kind": "existing", "reason": best.reason,
                    "score": best.score, "name": row.values.get("name", ""),
                    "email": row.values.get("email", ""), "phone": row.values.get("phone", ""),
                    "city": row.values.get("city", ""),
                    "match_id": best.existing.id, "match_name": best.existing.name,
                    "match_email": best.existing.email, "match_phone": best.existing.phone,
                    "match_city": best.existing.city, "action": decision.split(":")[0],
                    "in_file_row": self.created.row_of(best.existing.id),
                })
            if decision == "skip":
                engine.outcome.skipped += 1
                continue
            if decision.startswith("merge:"):
                try:
                    target = int(decision.split(":", 1)[1])
                except ValueError:
                    target = None
                if target is None or not engine.visible_ids([target]):
                    engine.fail_row(row, "", RowProblem("merge_target_missing"))
                    continue
                if target in self.updated_rows or self.created.row_of(target):
                    engine.outcome.skipped += 1  # already written from an earlier row
                    continue
                self.updated_rows[target] = row.number
                updates.append((row, target, True))
                continue
            remaining.append(row)
        return remaining

    # -------------------------------------------------------- writes

    def _update(self, row: CleanRow, pk: int, current: dict | None, merge_only: bool) -> None:
        outcome = self.engine.outcome
        if current is None:
            self.engine.fail_row(row, "", RowProblem("customer_missing"))
            return
        values = row.values
        changes: dict = {}
        for name in self.writes:
            if name not in values or name == "external_id" and merge_only:
                continue
            new, old = values[name], current.get(name)
            if merge_only and old not in (None, "", {}):
                continue
            if new != old and not (new in ("", None) and old in ("", None)):
                changes[name] = new
        if values.get("company"):
            company = self.company_ids.get(values["company"])
            if company and company != current.get("company_id") and company != pk and not (
                merge_only and current.get("company_id")
            ):
                changes["company_id"] = company
        if values.get("custom_fields"):
            merged = dict(current.get("custom_fields") or {})
            for k, v in values["custom_fields"].items():
                if not (merge_only and merged.get(k) not in (None, "")):
                    merged[k] = v
            if merged != (current.get("custom_fields") or {}):
                changes["custom_fields"] = merged
        new_tags: list[int] = []
        if values.get("tags"):
            have = set(Customer.tags.through.objects.filter(customer_id=pk)
                       .values_list("tag_id", flat=True))
            new_tags = [t for t in self._tag_ids(values["tags"]) if t not in have]
        if not changes and not new_tags:
            outcome.unchanged += 1
            return
        before = {name: _json_safe(current.get(name)) for name in changes}
        if new_tags:
            before["_added_tags"] = new_tags
            Customer.tags.through.objects.bulk_create(
                [Customer.tags.through(customer_id=pk, tag_id=t) for t in new_tags],
                ignore_conflicts=True)
        added_points = []
        for kind in ("email", "phone"):
            if changes.get(kind):
                value_bidx = blind_index("contact", changes[kind])
                if not ContactPoint.objects.filter(customer_id=pk, kind=kind,
                                                   value_bidx=value_bidx).exists():
                    added_points.append([kind, changes[kind]])
                ContactPoint.objects.filter(customer_id=pk, kind=kind).update(is_primary=False)
                ContactPoint.objects.update_or_create(
                    customer_id=pk, kind=kind, value_bidx=value_bidx,
                    defaults={"is_primary": True, "value": changes[kind]})
        if added_points:
            before["_added_contact_points"] = added_points
        if changes:
            Customer.objects.filter(pk=pk).update(updated_at=timezone.now(), **changes,
                                                  **index_updates(Customer, changes))
            if {"email", "phone"} & set(changes):
                refresh_tokens([pk], [changes.get("email", current.get("email"))],
                               [changes.get("phone", current.get("phone"))], replace=True)
            if "name" in changes:
                search_index.refresh([pk], [changes["name"]])
        outcome.changes.append(("customer", pk, before))
        outcome.updated += 1

    def _create(self, rows: list[CleanRow]) -> None:
        if not rows:
            return
        # Column by column (no dict per row); a value missing from a row is None, which
        # the writer turns into the column's default — as for the ORM.
        values = [row.values for row in rows]
        columns: dict[str, object] = {name: [v.get(name) for v in values]
                                      for name in self.writes if name != "kind"}
        columns["kind"] = [v.get("kind", CustomerKind.PERSON) for v in values]
        company_ids = self.company_ids
        columns.update(
            owner_id=self.owner_id, team_id=self.team_id, source=self.engine.source,
            created_by_id=self.actor.pk,
            custom_fields=[v.get("custom_fields") or {} for v in values],
            company_id=[company_ids.get(v.get("company") or "") for v in values])
        tags = [self._tag_ids(v["tags"]) if v.get("tags") else () for v in values]
        statements = self.customers.statements(len(rows), columns)
        cursors = (self.customers.cursor(), self.points.cursor(), self.tag_links.cursor(),
                   self.tokens.cursor(), self.customers.cursor())
        add_entries = self.timeline.prepare_for_new(values)

        def write() -> tuple[list[int], list[int]]:
            ids = self.customers.run(cursors[0], statements)
            point_customers, point_kinds, point_values = [], [], []
            for pk, v in zip(ids, values, strict=True):
                email, phone = v.get("email"), v.get("phone")
                if email:
                    point_customers.append(pk)
                    point_kinds.append(ContactPointKind.EMAIL)
                    point_values.append(email)
                if phone:
                    point_customers.append(pk)
                    point_kinds.append(ContactPointKind.PHONE)
                    point_values.append(phone)
            point_ids = self.points.run(cursors[1], self.points.statements(len(point_customers), {
                "customer_id": point_customers, "kind": point_kinds, "value": point_values,
                "is_primary": True}))
            links = [(pk, t) for pk, row_tags in zip(ids, tags, strict=True) for t in row_tags]
            self.tag_links.run(cursors[2], self.tag_links.statements(len(links), {
                "customer_id": [c for c, _t in links], "tag_id": [t for _c, t in links]}))
            token_customers, tokens = token_rows(ids, columns.get("email") or [""] * len(ids),
                                                 columns.get("phone") or [""] * len(ids))
            self.tokens.run(cursors[3], self.tokens.statements(len(tokens), {
                "customer_id": token_customers, "token": tokens}))
            try:
                search_index.write_new(cursors[4], sqlite=self.customers.sqlite, ids=ids,
                                       names=[v.get("name") or "" for v in values])
            finally:
                cursors[4].close()
            add_entries(ids)
            return ids, point_ids

        numbers = [r.number for r in rows]

        def written(result: tuple[list[int], list[int]]) -> None:
            ids, point_ids = result
            self.created.add(ids, numbers)
            self.engine.outcome.created += len(ids)
            self.contact_point_ranges.extend(id_ranges(point_ids))
        self.background.submit(write, written)


def _json_safe(value):
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# ---------------------------------------------------------------- notes and interactions

class TimelineEntries:
    """Notes and interactions a customer import adds from columns mapped to "note" and
    "interaction" (with "interaction_kind" and "interaction_at"): one per non-empty cell,
    by the importing user. For an existing customer a note or interaction with the same
    text already there is not added again, so importing a file twice adds nothing twice."""

    def __init__(self, engine: Engine, mapped: set[str]):
        self.engine = engine
        self.notes = TableWriter(Note, ["customer_id", "author_id", "body"]) \
            if "note" in mapped else None
        self.interactions = TableWriter(Interaction, [
            "customer_id", "author_id", "kind", "direction", "occurred_at", "body",
        ]) if "interaction" in mapped else None
        self.note_ids: list[int] = []
        self.interaction_ids: list[int] = []

    def created_ranges(self) -> dict[str, list[list[int]]]:
        ranges = {}
        if self.note_ids:
            ranges["notes"] = id_ranges(sorted(self.note_ids))
        if self.interaction_ids:
            ranges["interactions"] = id_ranges(sorted(self.interaction_ids))
        return ranges

    def _rows(self, pairs: list[tuple[int, dict]]) -> tuple[list, list]:
        now = timezone.now()
        author = self.engine.actor.pk
        notes = [{"customer_id": pk, "author_id": author, "body": v["note"]}
                 for pk, v in pairs if self.notes is not None and v.get("note")]
        interactions = [{"customer_id": pk, "author_id": author,
                         "kind": v.get("interaction_kind") or InteractionKind.CALL,
                         "direction": "outbound", "occurred_at": v.get("interaction_at") or now,
                         "body": v["interaction"]}
                        for pk, v in pairs if self.interactions is not None and v.get("interaction")]
        return notes, interactions

    def add_for_existing(self, pairs: list[tuple[int, dict]]) -> None:
        """On the engine's thread (no background write is running then)."""
        notes, interactions = self._rows(pairs)
        if notes:
            have = set(Note.objects.filter(customer_id__in={n["customer_id"] for n in notes},
                                           body__in={n["body"] for n in notes})
                       .values_list("customer_id", "body"))
            notes = [n for n in notes if (n["customer_id"], n["body"]) not in have]
            self.note_ids.extend(self.notes.insert(notes) if notes else [])
        if interactions:
            have = set(Interaction.objects.filter(
                customer_id__in={i["customer_id"] for i in interactions},
                body__in={i["body"] for i in interactions}).values_list("customer_id", "body"))
            interactions = [i for i in interactions if (i["customer_id"], i["body"]) not in have]
            self.interaction_ids.extend(self.interactions.insert(interactions)
                                        if interactions else [])

    def prepare_for_new(self, values: list[dict]) -> Callable[[list[int]], None]:
        """For customers not written yet: cursors now (the engine's thread), the INSERTs in
        the returned function, given the new customers' ids (on the writer's thread)."""
        if not any(v.get("note") or v.get("interaction") for v in values):
            return lambda ids: None
        cursors = (self.notes.cursor() if self.notes else None,
                   self.interactions.cursor() if self.interactions else None)

        def add(ids: list[int]) -> None:
            notes, interactions = self._rows(list(zip(ids, values, strict=True)))
            if notes:
                self.note_ids.extend(self.notes.run(cursors[0], self.notes.statements(
                    len(notes), _columns(notes))))
            if interactions:
                self.interaction_ids.extend(self.interactions.run(
                    cursors[1], self.interactions.statements(len(interactions),
                                                             _columns(interactions))))
        return add


def _columns(rows: list[dict]) -> dict[str, list]:
    return {key: [row[key] for row in rows] for key in rows[0]}


# ---------------------------------------------------------------- customer references

# E-mail and phone are encrypted: rows name customers by them through the blind indexes.
BIDX_COLUMNS = {"email": "email_bidx", "phone": "phone_bidx"}


class CustomerRefs:
    """Finds the customer an order or interaction row names: external id, email or phone
    (the first of them the row gives that names a known customer)."""

    LOOKUPS = {"customer_external_id": "external_id", "customer_email": "email",
               "customer_phone": "phone"}

    def __init__(self, engine: Engine):
        self.engine = engine
        source = engine.options.get("customer_source") or engine.source
        self.finders = {target: KeyLookup(Customer, BIDX_COLUMNS.get(column, column), **(
            {"extra": "source = %s", "extra_params": (source,)} if column == "external_id" else {}))
            for target, column in self.LOOKUPS.items()}

    def resolve(self, rows: list[CleanRow]) -> dict[int, int]:
        """row number → customer id; rows that name no known customer get an error."""
        batch = CleanBatch.from_rows(rows, list(self.LOOKUPS))
        found = self.resolve_columns(batch, range(len(rows)))
        return {rows[position].number: pk for position, pk in found.items()}

    def resolve_columns(self, batch: CleanBatch, positions) -> dict[int, int]:
        """position → customer id for the batch rows at `positions`; the others get an error."""
        return self.resolve_found(batch, positions, self.prepare_lookups(batch, positions)())

    def prepare_lookups(self, batch: CleanBatch, positions) -> Callable[[], list]:
        """The queries `resolve_found` needs, ready to run on any thread."""
        queries = []
        for target, finder in self.finders.items():
            cells = batch.columns.get(target)
            if cells is not None:
                wanted = {cells[i] for i in positions if cells[i]}
                column = self.LOOKUPS[target]
                by_index = ({blind_index(column, v): v for v in wanted}
                            if column in BIDX_COLUMNS else None)
                queries.append((cells, by_index, finder.prepare(sorted(by_index or wanted))))

        def run() -> list[tuple[list, dict]]:
            searched = []  # (the column's cleaned values, value → customer id)
            for cells, by_index, query in queries:
                found: dict[str, int] = {}
                # Lowest id first, so a value two customers share names the older one.
                for value, pk in sorted(query(), key=lambda r: r[1]):
                    found.setdefault(by_index[value] if by_index else value, pk)
                searched.append((cells, found))
            return searched
        return run

    def resolve_found(self, batch: CleanBatch, positions, searched: list) -> dict[int, int]:
        resolved: dict[int, int] = {}
        if len(searched) == 1:  # the usual file: one column names the customer
            cells, found = searched[0]
            get = found.get
            for i in positions:
                pk = get(cells[i])
                if pk is not None:
                    resolved[i] = pk
        else:
            for i in positions:
                for cells, found in searched:
                    pk = found.get(cells[i])
                    if pk is not None:
                        resolved[i] = pk
                        break
        visible = self.engine.visible_ids(resolved.values())
        if len(resolved) == len(positions) and len(visible) == len(set(resolved.values())):
            return resolved
        columns, mapped = batch.columns, self.engine.cleaner.mapped
        for i in positions:
            pk = resolved.get(i)
            if pk is not None and pk in visible:
                continue
            named = next((t for t in self.LOOKUPS if columns.get(t) and columns[t][i]), "")
            value = columns[named][i] if named else ""
            if pk is None:
                batch.fail(i, mapped.get(named, ""), RowProblem("no_customer_with", value=str(value)))
            else:
                resolved.pop(i)
                batch.fail(i, mapped.get(named, ""),
                           RowProblem("customer_not_visible", value=str(value)))
        return resolved


# ---------------------------------------------------------------- orders

class OrderWriter(Writer):
    """Orders, idempotent on (source, external id), written column by column.

    The database work overlaps the cleaning: while the engine cleans batch k+1, the
    helper thread (bulk.BackgroundWrites) inserts batch k-1's new orders and then looks
    up batch k's order numbers and customers; the next `write_columns` call takes those
    answers, decides batch k and queues its INSERT. A large load also sets the orders
    table's customer and date indexes aside and rebuilds them at the end
    (bulk.DeferredIndexes).
    """

    columnar = True

    def __init__(self, engine: Engine):
        self.engine = engine
        self.refs = CustomerRefs(engine)
        self.created = CreatedLog()
        self.orders = TableWriter(Order, ["customer_id", "source", "external_id", "channel",
                                          "status", "placed_at", "currency", "total_amount",
                                          "total_cost", "created_by_id"])
        self.order_numbers = KeyLookup(Order, "external_id", extra="source = %s",
                                       extra_params=(engine.source,), sequential=True)
        self.background = BackgroundWrites()
        self.indexes = DeferredIndexes(Order, ("customer_id", "placed_at"))
        self.started = False
        self.waiting: tuple[CleanBatch, list[int]] | None = None  # looked up, not yet decided
        self.found: tuple[dict, list] = ({}, [])

    def created_ranges(self):
        return {"orders": self.created.ranges()}

    def write_columns(self, batch: CleanBatch) -> None:
        # Everything queued is done once this returns: the previous batch's INSERT (so
        # this batch's lookups, queued after it, see a repeated order number) and the
        # waiting batch's lookups.
        self.background.settle()
        if not self.started:
            self.started = True
            if self.indexes.worthwhile(self.engine.expected_rows):
                self.indexes.drop()
        if self.waiting is not None:
            self._decide(*self.waiting, *self.found)
        valid = batch.valid()
        self.waiting = (batch, valid)
        numbers = batch.columns["external_id"] if valid else []
        find_orders = self.order_numbers.prepare(sorted({numbers[i] for i in valid}))
        find_customers = self.refs.prepare_lookups(batch, valid)

        def lookups() -> tuple[dict, list]:
            return dict(find_orders()), find_customers()

        self.background.submit(lookups, self._set_found)

    def _set_found(self, found: tuple[dict, list]) -> None:
        self.found = found

    def finish(self) -> None:
        self.background.settle()
        if self.waiting is not None:
            self._decide(*self.waiting, *self.found)
            self.waiting = None
        self.background.settle()
        self.indexes.restore()

    def close(self) -> None:
        self.background.close()

    def _decide(self, batch: CleanBatch, valid: list[int], existing: dict, searched: list) -> None:
        """Which of the batch's rows are new orders; queue their INSERT; report the rest."""
        engine = self.engine
        source = engine.source
        columns, rows = batch.columns, batch.rows
        external_ids = columns["external_id"] if valid else []
        seen: dict[str, int] = {}  # order number → the file row that has it

        def repeated(number: int, external_id: str, earlier: int) -> None:
            engine.outcome.skipped += 1
            engine.review({"row": number, "kind": "in_file", "reason": "external_id",
                           "earlier_row": earlier, "action": "skip",
                           "name": external_id, "score": 100})

        candidates = []
        for i in valid:
            external_id, number = external_ids[i], rows[i].number
            if external_id not in existing:
                candidates.append(i)
                continue
            earlier = seen.get(external_id) or self.created.row_of(existing[external_id])
            if earlier is not None:  # its first row is earlier in this file
                repeated(number, external_id, earlier)
                continue
            # Re-sent orders are left as they are, like orders.services.order_create.
            seen[external_id] = number
            engine.outcome.unchanged += 1
        # Customers before repeats: a row rejected for its customer must not make a
        # later, valid row with the same order number look like a repeat.
        customers = self.refs.resolve_found(batch, candidates, searched) if candidates else {}
        engine.record_batch_errors(batch)
        fresh = []
        for i in candidates:
            if i not in customers:
                continue
            external_id, number = external_ids[i], rows[i].number
            earlier = seen.get(external_id)
            if earlier is not None:
                repeated(number, external_id, earlier)
                continue
            seen[external_id] = number
            fresh.append(i)
        if not fresh:
            return

        def pick(target: str, default=None):
            cells = columns.get(target)
            if cells is None:
                return default
            return [cells[i] or default for i in fresh]

        insert = self.orders.prepare_columns(len(fresh), {
            "customer_id": [customers[i] for i in fresh], "source": source,
            "external_id": [external_ids[i] for i in fresh],
            "channel": pick("channel", OrderChannel.ONLINE),
            "status": pick("status", OrderStatus.PAID),
            "placed_at": pick("placed_at"),
            "currency": pick("currency"),
            "total_amount": pick("total_amount"),
            "total_cost": pick("total_cost"),
            "created_by_id": engine.actor.pk,
        })
        numbers = [rows[i].number for i in fresh]

        def inserted(new_ids: list[int]) -> None:
            self.created.add(new_ids, numbers)
            engine.outcome.created += len(new_ids)
        self.background.submit(insert, inserted)


# ---------------------------------------------------------------- products and interactions

class ProductWriter(Writer):
    """The catalogue is small; the ORM is fast enough and keeps product rules in one place."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.created: list[int] = []

    def created_ranges(self):
        return {"products": id_ranges(self.created)}

    def write(self, rows: list[CleanRow]) -> None:
        engine = self.engine
        if not rows:
            return
        if not engine.actor.can(Capability.CATALOGUE_CHANGE):
            for row in rows:
                engine.fail_row(row, "", RowProblem("catalogue_forbidden"))
            return
        skus = [r.values["sku"] for r in rows]
        existing = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
        fields = ("name", "category", "price", "unit_cost", "currency", "active")
        new = []
        seen: set[str] = set()
        for row in rows:
            sku = row.values["sku"]
            if sku in seen:
                engine.outcome.skipped += 1
                engine.review({"row": row.number, "kind": "in_file", "reason": "sku",
                               "name": sku, "action": "skip", "score": 100})
                continue
            seen.add(sku)
            product = existing.get(sku)
            if product is None:
                new.append(Product(sku=sku, **{f: row.values[f] for f in fields if f in row.values}))
                continue
            changes = {f: row.values[f] for f in fields
                       if f in row.values and row.values[f] != getattr(product, f)}
            if not changes:
                engine.outcome.unchanged += 1
                continue
            before = {f: _json_safe(getattr(product, f)) for f in changes}
            Product.objects.filter(pk=product.pk).update(updated_at=timezone.now(), **changes)
            engine.outcome.changes.append(("product", product.pk, before))
            engine.outcome.updated += 1
        created = Product.objects.bulk_create(new)
        self.created.extend(p.pk for p in created)
        engine.outcome.created += len(created)


class InteractionWriter(Writer):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.refs = CustomerRefs(engine)
        self.created: list[int] = []

    def created_ranges(self):
        return {"interactions": id_ranges(self.created)}

    def write(self, rows: list[CleanRow]) -> None:
        engine = self.engine
        if not rows:
            return
        if not engine.actor.can(Capability.CUSTOMERS_CHANGE):
            for row in rows:
                engine.fail_row(row, "", RowProblem("role_cannot_change"))
            return
        customers = self.refs.resolve(rows)
        now = timezone.now()
        new = [
            Interaction(customer_id=customers[row.number], author_id=engine.actor.pk,
                        kind=row.values["kind"], direction=row.values.get("direction") or "outbound",
                        occurred_at=row.values.get("occurred_at") or now,
                        subject=row.values.get("subject", ""), body=row.values.get("body", ""))
            for row in rows if not row.errors
        ]
        created = Interaction.objects.bulk_create(new)
        self.created.extend(i.pk for i in created)
        engine.outcome.created += len(created)


WRITERS = {
    ImportKind.CUSTOMERS: CustomerWriter,
    ImportKind.ORDERS: OrderWriter,
    ImportKind.PRODUCTS: ProductWriter,
    ImportKind.INTERACTIONS: InteractionWriter,
}

