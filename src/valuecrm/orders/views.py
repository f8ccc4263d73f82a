"""Order and product pages: thin views over orders.selectors (reads, with the customer
visibility rule) and orders.services (writes, permission-checked there).

An order whose customer the user cannot see is a 404, on its page and on every
action; the list and the CSV export show exactly the orders the API returns.
"""

import csv
import io
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.accounts.capabilities import Capability
from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.selectors import customer_get, customer_list
from valuecrm.orders import selectors, services
from valuecrm.orders.forms import MAX_LINES, OrderForm, OrderLineFormSet, ProductForm
from valuecrm.orders.models import OrderStatus, Product

PAGE_SIZE = 50
EXPORT_BATCH = 200
CUSTOMER_PICK_RESULTS = 10
NEW_ORDER_LINES = 3
# The icon and style of the button that moves an order to each status.
STATUS_ACTIONS = {
    OrderStatus.PAID: ("cash-coin", "btn-outline-success"),
    OrderStatus.FULFILLED: ("box-seam", "btn-outline-primary"),
    OrderStatus.CANCELLED: ("x-circle", "btn-outline-danger"),
    OrderStatus.REFUNDED: ("arrow-counterclockwise", "btn-outline-danger"),
}


def _status_action_label(status) -> str:
    labels = {
        OrderStatus.PAID: _("Mark as paid"), OrderStatus.FULFILLED: _("Mark as fulfilled"),
        OrderStatus.CANCELLED: _("Cancel order"), OrderStatus.REFUNDED: _("Refund order"),
    }
    return labels[status]


def _status_confirm(status) -> str:
    if status == OrderStatus.CANCELLED:
        return _("Cancel this order? It stops counting as revenue, and a cancelled order cannot be reopened.")
    if status == OrderStatus.REFUNDED:
        return _("Refund this order? It stops counting as revenue, and a refunded order cannot be reopened.")
    return ""


# ---------------------------------------------------------------- order list and export

def _date_param(request, key: str, errors: dict) -> date | None:
    raw = request.GET.get(key, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[key] = [_("Enter a date as YYYY-MM-DD.")]
        return None


def _order_query(request) -> tuple[dict, dict]:
    """The list's filters from the query string, and errors by parameter."""
    errors: dict[str, list[str]] = {}
    query = {"status": "", "customer_id": None, "placed_after": None, "placed_before": None}
    status = request.GET.get("status", "")
    if status:
        if status in OrderStatus.values:
            query["status"] = status
        else:
            errors["status"] = [_("Not a valid choice.")]
    customer = request.GET.get("customer", "").strip()
    if customer:
        if customer.isdigit() and len(customer) < 19:
            query["customer_id"] = int(customer)
        else:
            errors["customer"] = [_("Enter a customer number.")]
    query["placed_after"] = _date_param(request, "from", errors)
    query["placed_before"] = _date_param(request, "to", errors)
    return query, errors


@login_required
@require_GET
def order_list(request):
    query, errors = _order_query(request)
    rows, next_cursor = [], None
    status = 200
    if not errors:
        try:
            rows, next_cursor = selectors.order_list(
                user=request.user, after=request.GET.get("after") or None, limit=PAGE_SIZE, **query)
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        status = 400
    customer = None
    if query["customer_id"]:
        try:
            customer = customer_get(user=request.user, pk=query["customer_id"])
        except NotFound:
            customer = None
    params = request.GET.copy()
    params.pop("after", None)
    base = params.urlencode()
    return render(request, "orders/order_list.html", {
        "orders": rows, "next_cursor": next_cursor, "errors": errors, "statuses": OrderStatus.choices,
        "f_status": request.GET.get("status", ""), "f_from": request.GET.get("from", ""),
        "f_to": request.GET.get("to", ""), "f_customer": request.GET.get("customer", ""),
        "customer": customer, "base_query": base, "paged": bool(request.GET.get("after")),
        "can_create": request.user.can(Capability.ORDERS_CHANGE),
    }, status=status)


def _export_rows(user, query):
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush():
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(["order_id", "external_id", "source", "customer_id", "customer", "placed_at", "status",
                     "channel", "currency", "total_amount", "total_cost", "lines"])
    yield "\ufeff" + flush()  # a BOM, so Excel opens the UTF-8 file with 中文 intact
    after = None
    while True:
        rows, after = selectors.order_list(user=user, after=after, limit=EXPORT_BATCH, **query)
        for o in rows:
            writer.writerow([o.pk, o.external_id, o.source, o.customer_id, o.customer.name,
                             timezone.localtime(o.placed_at).isoformat(), o.status, o.channel, o.currency,
                             o.total_amount, o.total_cost, len(o.lines.all())])
        yield flush()
        if after is None:
            return


@login_required
@require_GET
def order_export(request):
    query, errors = _order_query(request)
    if errors:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), status=400,
                            content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_export_rows(request.user, query), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- order page and status

def _visible_order(request, pk: int):
    try:
        return selectors.order_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404 from None


@login_required
@require_GET
def order_detail(request, pk: int):
    order = _visible_order(request, pk)
    can_change = request.user.can(Capability.ORDERS_CHANGE)
    actions = []
    if can_change:
        for target in services.STATUS_TRANSITIONS[OrderStatus(order.status)]:
            icon, css = STATUS_ACTIONS[target]
            actions.append({"status": target.value, "label": _status_action_label(target), "icon": icon,
                            "css": css, "confirm": _status_confirm(target)})
        actions.sort(key=lambda a: list(STATUS_ACTIONS).index(a["status"]))
    history = order.history.select_related("history_user").order_by("-history_date", "-history_id")[:20]
    return render(request, "orders/order_detail.html", {
        "order": order, "lines": list(order.lines.all()), "actions": actions, "history": history,
        "statuses": dict(OrderStatus.choices),
    })


@login_required
@require_POST
def order_status_change(request, pk: int):
    order = _visible_order(request, pk)
    try:
        updated = services.order_update_status(actor=request.user, order=order,
                                               status=request.POST.get("status", ""))
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    except NotFound:
        raise Http404 from None
    except ValidationFailed as exc:
        for msgs in exc.errors.values():
            for message in msgs:
                messages.error(request, message)
        return redirect("order-detail", pk=order.pk)
    messages.success(request, _("Order %(number)s is now %(status)s.") % {
        "number": updated.external_id, "status": updated.get_status_display()})
    return redirect("order-detail", pk=order.pk)


# ---------------------------------------------------------------- new order

def _line_errors(exc: ValidationFailed, formset) -> ValidationFailed:
    """Put "lines.2.quantity" under that line's field; return what is left for the order form."""
    rest = {}
    for key, msgs in exc.errors.items():
        parts = key.split(".")
        if parts[0] == "lines" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(formset.kept):
            line_form = formset.forms[formset.kept[int(parts[1])]]
            field = parts[2] if len(parts) > 2 else None
            for message in msgs:
                line_form.add_error(field if field in line_form.fields else None, message)
        else:
            rest[key] = msgs
    return ValidationFailed(exc.detail, errors=rest) if rest else None


def _pick_customer(request):
    """The customer the new order is for (?customer=), or the matches of a search (?find=)."""
    found, customer = [], None
    pk = request.POST.get("customer_id") or request.GET.get("customer")
    if pk:
        try:
            customer = customer_get(user=request.user, pk=int(pk))
        except (NotFound, ValueError, OverflowError):
            customer = None
    search = request.GET.get("find", "").strip()[:100]
    if customer is None and search:
        try:
            found, _cursor = customer_list(user=request.user, search=search, sort="name",
                                           limit=CUSTOMER_PICK_RESULTS)
        except ValidationFailed:
            found = []
    return customer, found, search


@login_required
def order_create(request):
    if not request.user.can(Capability.ORDERS_CHANGE):
        raise DjangoPermissionDenied(_("Your role cannot record orders."))
    customer, found, search = _pick_customer(request)
    products = Product.objects.filter(active=True).order_by("sku")[:500]
    context = {"customer": customer, "found": found, "search": search, "products": products,
               "max_lines": MAX_LINES}
    if customer is None:
        return render(request, "orders/order_create.html", context,
                      status=404 if (request.POST.get("customer_id") or request.GET.get("customer")) else 200)

    status = 200
    if request.method == "POST":
        form = OrderForm(request.POST)
        formset = OrderLineFormSet(request.POST, prefix="lines")
        if "add_line" in request.POST:
            # One more empty line, keeping what was typed (works without JavaScript).
            data = request.POST.copy()
            total = min(int(formset.total_form_count()) + 1, MAX_LINES)
            data["lines-TOTAL_FORMS"] = str(total)
            form, formset = OrderForm(data), OrderLineFormSet(data, prefix="lines")
            return render(request, "orders/order_create.html", {**context, "form": form, "formset": formset})
        forms_ok = form.is_valid()
        lines_ok = formset.is_valid()
        if forms_ok and lines_ok:
            formset.kept = [i for i, f in enumerate(formset.forms) if not f.is_blank()]
            lines = [formset.forms[i].to_service_line() for i in formset.kept]
            try:
                order, created = services.order_create(actor=request.user, data=form.to_service_data(lines))
            except (ValidationFailed, Conflict) as exc:
                rest = _line_errors(exc, formset) if exc.errors else exc
                if rest is not None:
                    form.add_service_errors(rest)
                status = 409 if isinstance(exc, Conflict) else 422
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from None
            else:
                if created:
                    messages.success(request, _("Order %(number)s recorded: %(total)s.") % {
                        "number": order.external_id, "total": f"{order.currency} {order.total_amount}"})
                else:
                    messages.info(request, _("Order %(number)s was already recorded; nothing changed.") % {
                        "number": order.external_id})
                return redirect("order-detail", pk=order.pk)
        else:
            status = 422
    else:
        form = OrderForm(initial={"customer_id": customer.pk})
        formset = OrderLineFormSet(prefix="lines", initial=[{}] * NEW_ORDER_LINES)
    return render(request, "orders/order_create.html", {**context, "form": form, "formset": formset},
                  status=status)


# ---------------------------------------------------------------- products

def _categories() -> list[str]:
    return list(Product.objects.exclude(category="").order_by("category")
                .values_list("category", flat=True).distinct()[:500])


@login_required
@require_GET
def product_list(request):
    search = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "").strip()[:100]
    active_raw = request.GET.get("active", "")
    active = {"yes": True, "no": False}.get(active_raw)
    status = 200
    try:
        rows, next_cursor = selectors.product_list(search=search, category=category, active=active,
                                                   after=request.GET.get("after") or None, limit=PAGE_SIZE)
        errors = {}
    except ValidationFailed as exc:
        rows, next_cursor, errors, status = [], None, exc.errors, 400
    params = request.GET.copy()
    params.pop("after", None)
    return render(request, "orders/product_list.html", {
        "products": rows, "next_cursor": next_cursor, "errors": errors, "search": search,
        "category": category, "active": active_raw, "categories": _categories(),
        "base_query": params.urlencode(), "paged": bool(request.GET.get("after")),
        "can_change": request.user.can(Capability.CATALOGUE_CHANGE),
    }, status=status)


def _require_catalogue(request) -> None:
    if not request.user.can(Capability.CATALOGUE_CHANGE):
        raise DjangoPermissionDenied(_("Only managers can change the product catalogue."))


def _product_form_page(request, product):
    _require_catalogue(request)
    form = ProductForm(request.POST or None, instance=product)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                if product is None:
                    saved = services.product_create(actor=request.user, data=form.to_service_data())
                else:
                    saved = services.product_update(actor=request.user, product=product,
                                                    data=form.to_service_data())
            except (ValidationFailed, Conflict) as exc:
                form.add_service_errors(exc)
                status = 422
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from None
            else:
                messages.success(request, _("Product “%(name)s” saved.") % {"name": saved.name})
                return redirect(f"{reverse('product-list')}?q={saved.sku}")
        else:
            status = 422
    return render(request, "orders/product_form.html",
                  {"form": form, "product": product, "categories": _categories()}, status=status)


@login_required
def product_create(request):
    return _product_form_page(request, None)


@login_required
def product_edit(request, pk: int):
    try:
        product = selectors.product_get(pk=pk)
    except NotFound:
        raise Http404 from None
    return _product_form_page(request, product)


@login_required
@require_POST
def product_delete(request, pk: int):
    _require_catalogue(request)
    try:
        product = selectors.product_get(pk=pk)
    except NotFound:
        raise Http404 from None
    try:
        services.product_delete(actor=request.user, product=product)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from None
    messages.success(request, _("Product “%(name)s” deleted; past order lines keep its SKU, name and price.")
                     % {"name": product.name})
    return redirect("product-list")
