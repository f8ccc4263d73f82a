"""Extension points of the customer pages, filled by the apps above customers.

`customers` sits low in the layers (see the import-linter contracts in
pyproject.toml): orders, value, deals, service and the other apps import it,
never the other way round. So what those apps show *about a customer* — a list
column, a filter, a timeline entry, a panel on the 360 page, a palette entry —
is registered here from their `AppConfig.ready()`, and the customer pages only
iterate over what is registered.

    from valuecrm.customers.extensions import registry, TimelineSource
    registry.add_timeline_source(TimelineSource("order", "bag", rank=3, fetch=...))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ListColumn:
    """A customer-list column contributed by another app.

    ``fields``/``text`` serve the CSV export (rows are values() dicts); ``cell`` is
    (css class, render(customer) → safe HTML) for the page.
    """

    key: str
    label: str
    fields: tuple[str, ...]
    text: Callable[[dict], str]
    cell: tuple[str, Callable] | None = None
    sort: str | None = None
    default: bool = False
    descending_first: bool = False  # the first click sorts highest first
    # () → {name: expression}: what the list page annotates its rows with (a join or a
    # subquery), so that ``cell`` reads an attribute and never runs a query per row.
    annotations: Callable[[], dict] | None = None


@dataclass(frozen=True)
class SortChoice:
    key: str  # e.g. "-clv"
    label: str


@dataclass(frozen=True)
class TimelineSource:
    """Entries of one type on the customer's timeline.

    ``fetch(customer, page)`` returns (at, obj) pairs; it must build its queryset
    and pass it through ``page(queryset, at_field)``, which applies the cursor and
    the page size so each source stays one bounded query.
    """

    type: str
    icon: str
    rank: int  # tie-break between entries at the same instant (higher first)
    fetch: Callable
    label: str = ""  # the filter tab
    template: str = ""  # draws one entry's body; gets `entry` (entry.obj is the row)


@dataclass(frozen=True)
class HistorySource:
    """Rows of a simple-history table that belong on the customer's change history."""

    model: type
    rows: Callable  # customer → historical queryset
    subject: Callable  # historical row → "Order web:1001"


@dataclass(frozen=True)
class ProfileFact:
    """A fact block in the 360 header (orders count, revenue, …): key → compute(customer)."""

    key: str
    compute: Callable


@dataclass(frozen=True)
class Panel:
    """A panel on the customer's 360 page, drawn by ``template`` with ``context(request, customer)``."""

    key: str
    template: str
    context: Callable
    order: int = 100
    # On phones the page is one column: panels marked so come before the timeline.
    first_on_small_screens: bool = False


@dataclass(frozen=True)
class PaletteEntry:
    """A page the Ctrl+K palette offers; ``allowed(user)`` hides what the user cannot open."""

    url_name: str
    label: str
    icon: str
    keywords: str = ""
    allowed: Callable = lambda user: True


@dataclass(frozen=True)
class KpiCard:
    """A figure another app adds to the KPI row of the value dashboard (e.g. loyalty's
    points liability, deals' weighted pipeline), so the dashboard never imports them.

    ``compute(user, start, end)`` returns the card's figures for that user and period —
    a dict with ``value``, ``kind`` ("money", "percent", "days" or "count"), ``url``
    (the list of exactly what it counts) and optionally ``change`` (vs the previous
    period, a fraction), ``good`` (True/False/None: colours the change) and ``help`` —
    or None to leave the card out for this user (no permission, app switched off)."""

    key: str
    label: str
    compute: Callable
    order: int = 100


@dataclass(frozen=True)
class MergeField:
    """A message-template merge field another app provides: ``{{ customer.<name> }}``.

    ``resolve(customer_ids)`` returns {customer id: value} for many customers in a
    fixed number of queries (never one per recipient); a customer left out gets no
    value, so the template's fallback applies (``{{ customer.points_balance|default:"0" }}``).
    Values must be plain (str, int, Decimal): templates never see ORM rows."""

    name: str
    label: str
    resolve: Callable


@dataclass
class Registry:
    columns: list[ListColumn] = field(default_factory=list)
    filter_providers: list[Callable] = field(default_factory=list)  # () → [FilterSpec]
    sort_choices: list[SortChoice] = field(default_factory=list)
    preset_links: list[Callable] = field(default_factory=list)  # () → [{"key","label","url"}]
    timeline_sources: list[TimelineSource] = field(default_factory=list)
    history_sources: list[HistorySource] = field(default_factory=list)
    profile_facts: list[ProfileFact] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    palette_entries: list[PaletteEntry] = field(default_factory=list)
    kpi_cards: list[KpiCard] = field(default_factory=list)
    merge_fields: list[MergeField] = field(default_factory=list)

    # Registration is idempotent by key: ready() can run twice in some test setups.
    def add_column(self, column: ListColumn) -> None:
        self._put(self.columns, column, "key")

    def add_filters(self, provider: Callable) -> None:
        if provider not in self.filter_providers:
            self.filter_providers.append(provider)

    def add_sort_choice(self, choice: SortChoice) -> None:
        self._put(self.sort_choices, choice, "key")

    def add_preset_links(self, provider: Callable) -> None:
        if provider not in self.preset_links:
            self.preset_links.append(provider)

    def add_timeline_source(self, source: TimelineSource) -> None:
        self._put(self.timeline_sources, source, "type")

    def add_history_source(self, source: HistorySource) -> None:
        self._put(self.history_sources, source, "model")

    def add_profile_fact(self, fact: ProfileFact) -> None:
        self._put(self.profile_facts, fact, "key")

    def add_panel(self, panel: Panel) -> None:
        self._put(self.panels, panel, "key")
        self.panels.sort(key=lambda p: p.order)

    def add_palette_entry(self, entry: PaletteEntry) -> None:
        self._put(self.palette_entries, entry, "url_name")

    def add_kpi_card(self, card: KpiCard) -> None:
        self._put(self.kpi_cards, card, "key")
        self.kpi_cards.sort(key=lambda c: c.order)

    def add_merge_field(self, merge_field: MergeField) -> None:
        self._put(self.merge_fields, merge_field, "name")

    def merge_field_values(self, customer_ids, *, names=None) -> dict[int, dict]:
        """{customer id: {field name: value}} from every registered provider (or only
        ``names``), one batched resolve call per provider."""
        ids = list(customer_ids)
        out: dict[int, dict] = {cid: {} for cid in ids}
        if not ids:
            return out
        for merge_field in self.merge_fields:
            if names is not None and merge_field.name not in names:
                continue
            for cid, value in merge_field.resolve(ids).items():
                if cid in out and value is not None:
                    out[cid][merge_field.name] = value
        return out

    def kpi_card_figures(self, user, start, end) -> list[dict]:
        """The registered cards' figures for this user and period, in order, in the
        dashboard card shape (key, label, value, kind, url, change, good, help)."""
        figures = []
        for card in self.kpi_cards:
            result = card.compute(user, start, end)
            if result is None:
                continue
            figures.append({"change": None, "good": None, "help": "", **result,
                            "key": card.key, "label": str(card.label)})
        return figures

    def list_annotations(self) -> dict:
        """The registered columns' row annotations, for the list page's query."""
        out: dict = {}
        for column in self.columns:
            if column.annotations is not None:
                out.update(column.annotations())
        return out

    @staticmethod
    def _put(items: list, item, attr: str) -> None:
        for i, existing in enumerate(items):
            if getattr(existing, attr) == getattr(item, attr):
                items[i] = item
                return
        items.append(item)


registry = Registry()


def register_merge_field(name: str, label: str, resolve: Callable) -> None:
    """Shorthand for ``registry.add_merge_field(MergeField(name, label, resolve))``."""
    registry.add_merge_field(MergeField(name, label, resolve))
