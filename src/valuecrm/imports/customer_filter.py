"""The customer-list filter `import_run=<id>`: exactly the customers one import created
or changed — what "See the customers" on an import's result page opens.

Registered on the customer list (customers.extensions) from ImportsConfig.ready(), so
the list, the export, saved views and the API all understand it.
"""

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.imports.models import ImportChange, ImportKind, ImportRun

NOTHING = Q(pk__in=[])


def _ranges_q(field: str, ranges) -> Q:
    q = NOTHING
    for lo, hi in ranges or []:
        q |= Q(**{f"{field}__gte": int(lo), f"{field}__lte": int(hi)})
    return q


def import_run_customers_q(run: ImportRun) -> Q:
    """A Q over Customer: the customers `run` created, updated or merged into, or whose
    orders / interactions it created. Nothing for a dry run or a run that wrote nothing."""
    from valuecrm.customers.models import Interaction, Note
    from valuecrm.orders.models import Order

    if run.dry_run:
        return NOTHING
    created = run.created_ids or {}
    q = NOTHING
    if run.kind == ImportKind.CUSTOMERS:
        q = _ranges_q("pk", created.get("customers"))
        changed = ImportChange.objects.filter(run=run, model="customer").values("object_id")
        q |= Q(pk__in=changed)
        # Existing customers that only gained a note or an interaction from the file.
        if created.get("notes"):
            notes = Note.objects.filter(_ranges_q("pk", created["notes"]))
            q |= Q(pk__in=notes.values("customer_id"))
        if created.get("interactions"):
            rows = Interaction.objects.filter(_ranges_q("pk", created["interactions"]))
            q |= Q(pk__in=rows.values("customer_id"))
    elif run.kind == ImportKind.ORDERS and created.get("orders"):
        orders = Order.objects.filter(_ranges_q("pk", created["orders"]))
        q = Q(pk__in=orders.values("customer_id"))
    elif run.kind == ImportKind.INTERACTIONS and created.get("interactions"):
        rows = Interaction.objects.filter(_ranges_q("pk", created["interactions"]))
        q = Q(pk__in=rows.values("customer_id"))
    return q


def _parse(raw: str, user) -> ImportRun:
    from valuecrm.imports.selectors import import_run_get

    text = raw.strip().lstrip("#")
    if not text.isdigit():
        raise ValueError(_("Enter the number of an import."))
    run = import_run_get(user, int(text)) if user is not None else None
    if run is None:
        raise ValueError(_("No import #%(id)s that you can see.") % {"id": text})
    return run


def _display(run: ImportRun) -> str:
    return f"#{run.pk} · {run.original_name}"


def import_run_filters() -> list:
    from valuecrm.customers.filters import FilterSpec

    # The value is the ImportRun itself; specs compare by key, and the raw text stays
    # the number, so a link, a saved view and the API all write import_run=12.
    return [FilterSpec("import_run", gettext_lazy("Import"), "number", _parse,
                       import_run_customers_q, _display)]


def register() -> None:
    from valuecrm.customers.extensions import registry

    registry.add_filters(import_run_filters)
