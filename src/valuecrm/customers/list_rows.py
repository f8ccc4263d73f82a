"""The customer list's table rows, built in Python once per row.

The list is the busiest page, and drawing its 50 rows × 10 columns through
template tags (an {% if %} per column, a {% url %} per row and per company link,
translations and an {% include %} inside the loop) was most of its time. Here each
cell is one format_html call, with the request's translations, URL prefix and
column set worked out once. The markup is the same the template used to draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from valuecrm.customers.extensions import registry
from valuecrm.customers.models import Customer, CustomerKind

DASH = mark_safe('<span class="text-body-tertiary">—</span>')  # noqa: S308 - constant markup
LINK = "link-body-emphasis text-decoration-none"
# The value chips of a card on a phone, from the columns the value app registers.
CARD_CHIPS = ("tier", "stage", "clv", "churn_risk")


def _detail_prefix() -> str:
    # "/customers/0/" → "/customers/": one reverse() per page instead of two per row.
    return reverse("customer-detail", args=[0])[: -len("0/")]


class RowBuilder:
    """Turns a page of customers into <tr> contents for the chosen columns."""

    def __init__(self, columns: Iterable[str], *, can_bulk: bool):
        self.columns = [key for key in columns if key != "name"]  # the name cell is always first
        self.show_kind = "kind" in self.columns
        self.can_bulk = can_bulk
        self.prefix = _detail_prefix()
        self.select_label = _("Select %(name)s")
        self.unassigned = format_html(
            '<span class="badge bg-body-tertiary text-body-secondary border fw-medium">{}</span>', _("Unassigned"))
        self.cells: list[Callable[[Customer], SafeString]] = [self._cell(key) for key in self.columns]

    def rows(self, customers: Iterable[Customer]) -> list[SafeString]:
        return [self.row(c) for c in customers]

    def row(self, c: Customer) -> SafeString:
        parts = [self.check_cell(c)] if self.can_bulk else []
        parts.append(self.name_cell(c))
        parts.extend(cell(c) for cell in self.cells)
        return mark_safe("".join(parts))  # noqa: S308 - every part is format_html output

    # ----------------------------------------------------------------- fixed cells
    def check_cell(self, c: Customer) -> SafeString:
        return format_html(
            '<td class="vc-col-check"><input class="form-check-input" type="checkbox" value="{}" '
            'data-vc-select-row aria-label="{}"></td>', c.pk, self.select_label % {"name": c.name})

    def name_cell(self, c: Customer) -> SafeString:
        is_org = c.kind == CustomerKind.ORGANIZATION
        if is_org:
            avatar = format_html('<span class="vc-initials vc-av-{} vc-initials--org" aria-hidden="true">'
                                 '<i class="bi bi-building"></i></span>', c.avatar_colour)
        else:
            avatar = format_html('<span class="vc-initials vc-av-{}" aria-hidden="true">{}</span>',
                                 c.avatar_colour, c.initials)
        subtitle = c.get_kind_display() if is_org and not self.show_kind else c.job_title
        sub = format_html('<div class="small text-body-secondary text-truncate">{}</div>', subtitle) if subtitle else ""
        return format_html('<td><div class="vc-customer-cell">{}<div class="min-w-0"><a href="{}{}/">{}</a>{}</div>'
                           '</div></td>', avatar, self.prefix, c.pk, c.name, sub)

    # ----------------------------------------------------------------- phone cards
    def cards(self, customers: Iterable[Customer]) -> list[SafeString]:
        """The same page as cards, for narrow screens: name, phone tail, city, owner and
        the value chips (tier, stage, CLV, churn risk) whatever the chosen columns."""
        if not hasattr(self, "_chips"):
            registered = {c.key: c for c in registry.columns if c.cell}
            self._chips = [(registered[k].label, registered[k].cell[1]) for k in CARD_CHIPS
                           if k in registered]
            self.phone_label = _("Phone ending %(tail)s")
        return [self.card(c) for c in customers]

    def card(self, c: Customer) -> SafeString:
        check = format_html(
            '<input class="form-check-input vc-mcard-check" type="checkbox" value="{}" '
            'data-vc-select-row aria-label="{}">', c.pk, self.select_label % {"name": c.name}) \
            if self.can_bulk else ""
        is_org = c.kind == CustomerKind.ORGANIZATION
        avatar = (format_html('<span class="vc-initials vc-av-{} vc-initials--org" aria-hidden="true">'
                              '<i class="bi bi-building"></i></span>', c.avatar_colour) if is_org else
                  format_html('<span class="vc-initials vc-av-{}" aria-hidden="true">{}</span>',
                              c.avatar_colour, c.initials))
        meta = []
        if c.phone:
            tail = c.phone[-4:]
            meta.append(format_html('<a class="{}" href="tel:{}" aria-label="{}"><i class="bi bi-telephone me-1" '
                                    'aria-hidden="true"></i>···{}</a>', LINK, c.phone,
                                    self.phone_label % {"tail": tail}, tail))
        if c.city:
            meta.append(format_html('<span><i class="bi bi-geo-alt me-1" aria-hidden="true"></i>{}</span>', c.city))
        meta.append(format_html('<span><i class="bi bi-person me-1" aria-hidden="true"></i>{}</span>',
                                c.owner.display_name if c.owner else _("Unassigned")))
        chips = format_html_join("", '<span class="vc-mchip"><span class="vc-mchip-label">{}</span> {}</span>',
                                 ((label, inner(c)) for label, inner in self._chips))
        return format_html(
            '<li class="vc-mcard" data-vc-card>{}<div class="min-w-0 flex-grow-1">'
            '<div class="vc-customer-cell">{}<a class="vc-mcard-name text-truncate" href="{}{}/">{}</a></div>'
            '<div class="vc-mcard-meta">{}</div><div class="vc-mcard-chips">{}</div></div></li>',
            check, avatar, self.prefix, c.pk, c.name, mark_safe(" ".join(meta)), chips)  # noqa: S308

    # ----------------------------------------------------------------- column cells
    def _cell(self, key: str) -> Callable[[Customer], SafeString]:
        registered = next((c.cell for c in registry.columns if c.key == key and c.cell), None)
        if registered is not None:
            css, inner = registered
            opening = format_html('<td class="{}">', css) if css else mark_safe("<td>")
            return lambda c: format_html("{}{}</td>", opening, inner(c))
        return getattr(self, f"cell_{key}")

    def cell_kind(self, c: Customer) -> SafeString:
        icon = "building" if c.kind == CustomerKind.ORGANIZATION else "person"
        return format_html('<td><i class="bi bi-{} me-1 text-body-secondary" aria-hidden="true"></i>{}</td>',
                           icon, c.get_kind_display())

    def cell_company(self, c: Customer) -> SafeString:
        if not c.company_id:
            return format_html("<td>{}</td>", DASH)
        return format_html('<td><a class="{}" href="{}{}/">{}</a></td>', LINK, self.prefix, c.company_id,
                           c.company.name)

    def cell_email(self, c: Customer) -> SafeString:
        if not c.email:
            return format_html('<td class="text-nowrap">{}</td>', DASH)
        return format_html('<td class="text-nowrap"><a class="{}" href="mailto:{}">{}</a></td>', LINK, c.email, c.email)

    def cell_phone(self, c: Customer) -> SafeString:
        if not c.phone:
            return format_html('<td class="text-nowrap font-monospace small">{}</td>', DASH)
        return format_html('<td class="text-nowrap font-monospace small"><a class="{}" href="tel:{}">{}</a></td>',
                           LINK, c.phone, c.phone)

    def cell_owner(self, c: Customer) -> SafeString:
        return format_html('<td class="text-nowrap">{}</td>', c.owner.display_name if c.owner else self.unassigned)

    def cell_team(self, c: Customer) -> SafeString:
        return format_html('<td class="text-nowrap">{}</td>', c.team.name if c.team else "—")

    def cell_city(self, c: Customer) -> SafeString:
        return format_html('<td class="text-nowrap">{}</td>', c.city or "—")

    def cell_region(self, c: Customer) -> SafeString:
        return format_html('<td class="text-nowrap">{}</td>', c.region or "—")

    def cell_channel(self, c: Customer) -> SafeString:
        return format_html('<td class="text-nowrap">{}</td>',
                           c.get_acquisition_channel_display() if c.acquisition_channel else "—")

    def cell_tags(self, c: Customer) -> SafeString:
        tags = list(c.tags.all())  # prefetched
        if not tags:
            return format_html("<td>{}</td>", DASH)
        return format_html("<td>{}</td>", format_html_join(
            "", '<span class="vc-tag bg-{0}-subtle text-{0}-emphasis">{1}</span>',
            ((tag.color or "secondary", tag.name) for tag in tags)))

    def cell_created(self, c: Customer) -> SafeString:
        local = timezone.localtime(c.created_at)
        return format_html('<td class="text-nowrap text-body-secondary"><time datetime="{}" title="{}">{}</time></td>',
                           local.isoformat(), local.strftime("%Y-%m-%d %H:%M"), local.strftime("%Y-%m-%d"))
