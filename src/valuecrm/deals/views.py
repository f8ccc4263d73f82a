"""Deal pages: the kanban board, the list (and CSV export), a deal's record, the forecast,
the sales dashboard, the 公海 pool and its rules. Thin: selectors read, services write."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from valuecrm.accounts.capabilities import Capability
from valuecrm.accounts.models import Team, User
from valuecrm.common.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.problems import domain_error_response
from valuecrm.deals import forecast as forecast_mod
from valuecrm.deals import kpis as kpis_mod
from valuecrm.deals import pool as pool_mod
from valuecrm.deals import saved_views, selectors, services
from valuecrm.deals.explain import factor_words
from valuecrm.deals.models import (
    ClaimCap,
    ContactRole,
    DealSource,
    DealStatus,
    DealViewVisibility,
    ForecastCategory,
    LostReason,
    Pipeline,
    PoolRule,
    StageKind,
)

EXPORT_LIMIT = 100_000
# Who can own deals (the owner filter's choices): the roles that work deals.
DEAL_ROLES = ("admin", "sales_manager", "sales_rep")


def _filters_context(request, filters):
    from valuecrm.insights.models import Stage as LifecycleStage
    from valuecrm.insights.models import Tier

    params = request.GET.copy()
    chips = []
    for chip in filters.chips():
        rest = params.copy()
        rest.pop(chip["key"], None)
        rest.pop("after", None)
        chips.append({**chip, "remove_url": "?" + rest.urlencode()})
    return {
        "filters": filters, "chips": chips, "query": request.GET.urlencode(),
        "owners": User.objects.filter(is_active=True, role__in=DEAL_ROLES).order_by("username")[:200],
        "teams": Team.objects.all(), "tiers": Tier.choices, "lifecycles": LifecycleStage.choices,
        "statuses": DealStatus.choices, "categories": ForecastCategory.choices,
        "errors": filters.errors,
    }


def _views_context(request) -> dict:
    """The saved-views menu, and the view the page shows (`?view=ID`, kept in the URL)."""
    views = list(saved_views.deal_views_for(request.user))
    wanted = request.GET.get("view", "")
    current = next((v for v in views if str(v.pk) == wanted), None)
    return {"saved_views": views, "current_view": current, "default_view_id": saved_views.default_view_id(request.user),
            "current_view_can_change": bool(current and saved_views.can_change(request.user, current)),
            "current_view_can_delete": bool(current and saved_views.can_delete(request.user, current)),
            "view_visibilities": DealViewVisibility.choices}


def _view_redirect(request):
    """`?view=ID` alone opens the view's filters; no parameters at all open the user's
    default view (`?view=0` is "no view")."""
    wanted = request.GET.get("view", "")
    if set(request.GET) - {"view", "pipeline"} or wanted == "0":
        return None
    if wanted:
        try:
            view = saved_views.deal_view_get(user=request.user, pk=wanted)
        except NotFound:
            return None
    elif not request.GET:
        pk = saved_views.default_view_id(request.user)
        if pk is None:
            return None
        view = saved_views.deal_view_get(user=request.user, pk=pk)
    else:
        return None
    target = saved_views.view_query(view)
    if target == request.GET.urlencode():  # a view without filters (or none still valid) is the page itself
        return None
    return redirect(f"{request.path}?{target}")


def _view_filters_from(raw: str) -> dict:
    params = QueryDict(raw or "")
    return {k: params.get(k) for k in saved_views.VIEW_FIELDS if params.get(k)}


@login_required
@require_POST
def deal_view_create(request):
    nxt = request.POST.get("next") or reverse("deal-board")
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        nxt = reverse("deal-board")
    try:
        view = saved_views.deal_view_create(
            actor=request.user, name=request.POST.get("name", ""),
            filters=_view_filters_from(request.POST.get("query", "")),
            visibility=request.POST.get("visibility") or DealViewVisibility.PRIVATE,
            make_default=request.POST.get("make_default") == "1")
    except (ValidationFailed, PermissionDenied) as exc:
        messages.error(request, " ".join(" ".join(v) for v in (exc.errors or {"form": [exc.detail]}).values()))
        return redirect(nxt + "?" + request.POST.get("query", ""))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(f"{nxt}?{saved_views.view_query(view)}")


@login_required
@require_POST
def deal_view_action(request, pk: int):
    nxt = request.POST.get("next") or reverse("deal-board")
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        nxt = reverse("deal-board")
    action = request.POST.get("action", "")
    try:
        view = saved_views.deal_view_get(user=request.user, pk=pk)
        if action == "delete":
            saved_views.deal_view_delete(actor=request.user, view=view)
            messages.success(request, _("View deleted."))
            return redirect(f"{nxt}?view=0")
        if action in ("default", "undefault"):
            saved_views.deal_view_update(actor=request.user, view=view, data={"is_default": action == "default"})
        elif action == "update":
            saved_views.deal_view_update(actor=request.user, view=view,
                                         data={"filters": _view_filters_from(request.POST.get("query", ""))})
            messages.success(request, _("View “%(name)s” updated.") % {"name": view.name})
        else:
            return HttpResponse(_("Unknown action."), status=422, content_type="text/plain; charset=utf-8")
    except NotFound:
        raise Http404 from None
    except (ValidationFailed, PermissionDenied) as exc:
        messages.error(request, " ".join(" ".join(v) for v in (exc.errors or {"form": [exc.detail]}).values()))
    return redirect(f"{nxt}?{saved_views.view_query(view)}")


def _pipeline(request) -> Pipeline | None:
    pipelines = selectors.pipelines()
    wanted = request.GET.get("pipeline", "")
    for p in pipelines:
        if str(p.pk) == wanted:
            return p
    return pipelines[0] if pipelines else None


@login_required
def deal_board(request):
    if (to_view := _view_redirect(request)) is not None:
        return to_view
    filters = selectors.DealFilters.from_params(request.GET)
    pipeline = _pipeline(request)
    board_query = request.GET.copy()
    for key in ("partial", "after", "stage", "shown"):
        board_query.pop(key, None)
    if request.GET.get("partial") == "cards" and pipeline:
        return _board_more_cards(request, pipeline, filters, board_query.urlencode())
    columns = selectors.board(user=request.user, pipeline=pipeline, filters=filters) if pipeline else []
    context = {**_filters_context(request, filters), "pipeline": pipeline, "pipelines": selectors.pipelines(),
               "columns": columns, "can_work": request.user.can(Capability.DEALS_CHANGE),
               "lost_reasons": LostReason.objects.filter(active=True), "now": timezone.now(),
               "board_query": board_query.urlencode()}
    if request.headers.get("HX-Request") and request.GET.get("partial") == "columns":
        return render(request, "deals/_board_columns.html", context)
    context.update(_views_context(request))
    return render(request, "deals/board.html", context, status=422 if filters.errors else 200)


def _board_more_cards(request, pipeline, filters, board_query: str):
    """"Load more" in a column: its next cards (and the next button), for deals.js to append."""
    stage = next((s for s in pipeline.stages.all() if str(s.pk) == request.GET.get("stage", "")), None)
    if stage is None:
        filters.errors.setdefault("stage", [_("Unknown stage of this pipeline.")])
    if filters.errors:
        return domain_error_response(ValidationFailed(_("Validation failed"), errors=filters.errors))
    try:
        cards, next_cursor = selectors.column_cards(user=request.user, pipeline=pipeline, filters=filters,
                                                    stage=stage, after=request.GET.get("after") or None)
    except ValidationFailed as exc:
        return domain_error_response(exc)
    shown = _count_param(request, "shown", selectors.CARDS_PER_COLUMN) + len(cards)
    return render(request, "deals/_board_page.html", {
        "cards": cards, "stage": stage, "next_cursor": next_cursor, "shown": shown, "board_query": board_query,
        "filters": filters, "total": _count_param(request, "total", shown)})


def _count_param(request, key: str, default: int) -> int:
    raw = request.GET.get(key, "")
    return int(raw) if raw.isdigit() and len(raw) < 8 else default


@login_required
@require_POST
def deal_move(request, pk: int):
    """A drag (or the keyboard move) on the board: 200 with the new totals, or a problem
    (403/404/422) — the board then puts the card back."""
    try:
        deal = services.deal_move_stage(actor=request.user, deal=pk, stage_id=request.POST.get("stage_id"),
                                        lost_reason_id=request.POST.get("lost_reason_id") or None)
    except DomainError as exc:
        return domain_error_response(exc)
    return HttpResponse(json.dumps({"id": deal.pk, "stage_id": deal.stage_id, "status": deal.status}),
                        content_type="application/json")


@login_required
def deal_list(request):
    if (to_view := _view_redirect(request)) is not None:
        return to_view
    filters = selectors.DealFilters.from_params(request.GET)
    try:
        rows, next_cursor = selectors.deal_list(user=request.user, filters=filters,
                                                after=request.GET.get("after") or None)
    except ValidationFailed as exc:
        rows, next_cursor = [], None
        filters.errors.update(exc.errors)
    rest = request.GET.copy()
    rest.pop("after", None)
    context = {**_filters_context(request, filters), "deals": rows, "next_cursor": next_cursor,
               "base_query": rest.urlencode(), "pipelines": selectors.pipelines(),
               "can_work": request.user.can(Capability.DEALS_CHANGE), **_views_context(request)}
    return render(request, "deals/list.html", context, status=422 if filters.errors else 200)


@login_required
def deal_export(request):
    filters = selectors.DealFilters.from_params(request.GET)
    if filters.errors:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in filters.errors.items()), status=422,
                            content_type="text/plain; charset=utf-8")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "name", "customer_id", "customer", "pipeline", "stage", "status", "amount", "currency",
                     "expected_close_date", "owner", "probability", "predicted_probability", "forecast_category",
                     "source", "lost_reason", "opened_at", "closed_at"])
    qs = selectors.deal_queryset(user=request.user, filters=filters).order_by("-id")[:EXPORT_LIMIT]
    for d in qs.iterator(chunk_size=2000):
        writer.writerow([d.pk, d.name, d.customer_id, d.customer.name, d.pipeline.name, d.stage.name, d.status,
                         d.amount, d.currency, d.expected_close_date or "", d.owner.username if d.owner else "",
                         "" if d.probability is None else d.probability,
                         "" if d.predicted_probability is None else d.predicted_probability,
                         d.forecast_category, d.source, d.lost_reason.name if d.lost_reason else "",
                         d.opened_at.isoformat(), d.closed_at.isoformat() if d.closed_at else ""])
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deals-{date.today().isoformat()}.csv"'
    return response


def _deal_form_data(post) -> dict:
    data = {}
    for key in ("customer_id", "pipeline_id", "stage_id", "name", "amount", "currency", "expected_close_date",
                "source", "next_step", "forecast_category"):
        if key in post:
            data[key] = post.get(key)
    if "probability" in post:
        raw = post.get("probability", "").strip()
        try:
            data["probability"] = None if raw == "" else float(raw) / 100
        except ValueError:
            data["probability"] = raw
    return data


@login_required
def deal_create(request):
    if not request.user.can(Capability.DEALS_CHANGE):
        raise DjangoPermissionDenied(_("Your role cannot work deals."))
    from valuecrm.customers.visibility import visible_customers

    errors, status = {}, 200
    data = {"customer_id": request.GET.get("customer", ""), "pipeline_id": request.GET.get("pipeline", "")}
    if request.method == "POST":
        data = _deal_form_data(request.POST)
        try:
            deal = services.deal_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            errors, status = exc.errors, 422
        except PermissionDenied as exc:
            errors, status = exc.errors or {"form": [exc.detail]}, 403
        else:
            messages.success(request, _("Deal “%(name)s” created.") % {"name": deal.name})
            return redirect("deal-detail", deal.pk)
    q = request.GET.get("q", "").strip()[:100]
    customers = visible_customers(request.user).filter(archived_at__isnull=True)
    if q:
        customers = customers.filter(name__icontains=q)
    chosen = None
    if str(data.get("customer_id", "")).isdigit():
        chosen = visible_customers(request.user).filter(pk=int(data["customer_id"])).first()
    return render(request, "deals/deal_form.html", {
        "data": data, "errors": errors, "pipelines": selectors.pipelines(), "sources": DealSource.choices,
        "categories": ForecastCategory.choices, "customers": customers.order_by("name")[:50], "chosen": chosen,
        "q": q}, status=status)


@login_required
def deal_detail(request, pk: int):
    try:
        deal = selectors.deal_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404 from None
    errors, status = {}, 200
    if request.method == "POST":
        try:
            if "move" in request.POST:
                services.deal_move_stage(actor=request.user, deal=deal, stage_id=request.POST.get("stage_id"),
                                         lost_reason_id=request.POST.get("lost_reason_id") or None)
            elif "contact_remove" in request.POST:
                services.deal_contact_remove(actor=request.user, deal=deal, person_id=request.POST.get("person_id"))
            elif "contact_set" in request.POST:
                services.deal_contact_set(actor=request.user, deal=deal, person_id=request.POST.get("person_id"),
                                          role=request.POST.get("role", ""))
            elif "create_order" in request.POST:
                order, created = services.deal_create_order(actor=request.user, deal=deal)
                messages.success(request, _("Order %(n)s created.") % {"n": order.external_id} if created
                                 else _("This deal's order exists already."))
            else:
                services.deal_update(actor=request.user, deal=deal, data=_deal_form_data(request.POST))
        except ValidationFailed as exc:
            errors, status = exc.errors, 422
        except PermissionDenied as exc:
            errors, status = exc.errors or {"form": [exc.detail]}, 403
        except NotFound as exc:
            errors, status = {"form": [exc.detail]}, 404
        else:
            return redirect("deal-detail", deal.pk)
        deal = selectors.deal_get(user=request.user, pk=pk)
    log = selectors.stage_log(user=request.user, deal_id=deal.pk)
    can_work = request.user.can(Capability.DEALS_CHANGE)
    stages = list(deal.pipeline.stages.all())
    reached = {row.to_stage_id for row in log}
    from valuecrm.customers.models import Interaction

    return render(request, "deals/deal_detail.html", {
        "deal": deal, "log": log, "stages": stages, "reached": reached,
        "time_in_stages": selectors.time_in_stages(log), "cycle_days": selectors.cycle_days(log),
        "factors": factor_words(deal.prediction_factors), "errors": errors,
        "activities": Interaction.objects.filter(customer_id=deal.customer_id).order_by("-occurred_at")[:15],
        "history": deal.history.select_related("history_user").order_by("-history_date")[:20],
        "can_work": can_work, "sources": DealSource.choices,
        "categories": ForecastCategory.choices, "lost_reasons": LostReason.objects.filter(active=True),
        "StageKind": StageKind, "contacts": selectors.deal_contacts(user=request.user, deal=deal),
        "candidates": selectors.contact_candidates(user=request.user, deal=deal) if can_work else [],
        "contact_roles": ContactRole.choices,
    }, status=status)


@login_required
def deal_forecast(request):
    today = timezone.localdate()
    period = request.GET.get("period") or forecast_mod.period_of(today)
    errors = {}
    try:
        start, end = forecast_mod.parse_period(period)
    except ValueError:
        errors["period"] = [_("Enter a period like 2027-Q1 or 2027-03.")]
        period = forecast_mod.period_of(today)
        start, end = forecast_mod.parse_period(period)
    owner = request.GET.get("owner", "")
    owner_id = int(owner) if owner.isdigit() and 0 < int(owner) < 2**62 else None
    rows = forecast_mod.forecast(user=request.user, period=period, owner_id=owner_id)
    kind = "month" if "Q" not in period else "quarter"
    periods = [forecast_mod.shift_period(forecast_mod.period_of(today, kind), n) for n in range(-2, 4)]
    chart = {"labels": [r.owner_name for r in rows[:-1]],
             "series": [{"name": pgettext("forecast category", "Closed"), "data": [float(r.closed) for r in rows[:-1]]},
                        {"name": _("Weighted pipeline"), "data": [float(r.weighted) for r in rows[:-1]]},
                        {"name": _("Quota"), "data": [float(r.quota) if r.quota else None for r in rows[:-1]]}],
             "urls": [reverse("deal-list") + "?" + urlencode({"owner": r.owner_id or "", "status": "open",
                                                              "close_from": start.isoformat()})
                      for r in rows[:-1]]}
    return render(request, "deals/forecast.html", {
        "rows": rows[:-1], "total": rows[-1], "period": period, "periods": periods, "start": start,
        "end": end, "errors": errors, "chart": chart, "accuracy": forecast_mod.accuracy(),
        "list_query": urlencode({"status": "open", "close_from": start.isoformat(),
                                 "close_to": date.fromordinal(end.toordinal() - 1).isoformat()}),
    }, status=422 if errors else 200)


@login_required
def deal_dashboard(request):
    start, end = kpis_mod.default_range()
    pipeline = request.GET.get("pipeline", "")
    pid = int(pipeline) if pipeline.isdigit() and 0 < int(pipeline) < 2**62 else None
    k = kpis_mod.sales_kpis(user=request.user, start=start, end=end, pipeline_id=pid)
    deal_list_url = reverse("deal-list")
    chart = {
        "funnel": {"labels": [f"{f['pipeline']} · {f['stage']}" for f in k["funnel"]],
                   "values": [f["deals"] for f in k["funnel"]],
                   "urls": [f"{deal_list_url}?pipeline={pid or ''}" for _f in k["funnel"]]},
        "lost": {"labels": [r["reason"] for r in k["lost_reasons"]], "values": [r["deals"] for r in k["lost_reasons"]],
                 "urls": [f"{deal_list_url}?status=lost" for _r in k["lost_reasons"]]},
    }
    return render(request, "deals/dashboard.html", {"k": k, "start": start, "end": end, "chart": chart,
                                                    "pipelines": selectors.pipelines(), "pipeline_id": pid})


@login_required
def pool_list(request):
    if not request.user.can(Capability.DEALS_CHANGE):
        raise DjangoPermissionDenied(_("Your role cannot work deals."))
    q = request.GET.get("q", "").strip()[:100]
    after = request.GET.get("after", "")
    rows, next_cursor = pool_mod.pool_customers(user=request.user, search=q,
                                                after=int(after) if after.isdigit() else None)
    return render(request, "deals/pool.html", {
        "rows": rows, "next_cursor": next_cursor, "q": q,
        "cap": services.claim_cap(request.user), "used": services.claims_today(request.user),
        "near": pool_mod.near_reclaim(user=request.user),
        "can_configure": request.user.can(Capability.DEALS_CONFIGURE),
    })


@login_required
@require_POST
def pool_claim(request, customer_id: int):
    try:
        services.pool_claim(actor=request.user, customer_id=customer_id)
    except (NotFound, PermissionDenied) as exc:
        messages.error(request, exc.detail)
        return redirect(request.POST.get("next") or "pool")
    messages.success(request, _("Customer claimed: it is yours now."))
    return redirect(request.POST.get("next") or reverse("customer-detail", args=[customer_id]))


@login_required
@require_POST
def pool_release(request, customer_id: int):
    try:
        services.pool_release(actor=request.user, customer_id=customer_id, reason=request.POST.get("reason", ""))
    except (NotFound, PermissionDenied, ValidationFailed) as exc:
        messages.error(request, " ".join(sum(exc.errors.values(), [])) or exc.detail)
    else:
        messages.success(request, _("Customer released to the pool."))
    return redirect("pool")


@login_required
def pool_rules(request):
    if not request.user.can(Capability.DEALS_CONFIGURE):
        raise DjangoPermissionDenied(_("Only administrators can change pipelines and pool rules."))
    from valuecrm.accounts.roles import Role
    from valuecrm.insights.models import Stage as LifecycleStage
    from valuecrm.insights.models import Tier

    errors, status = {}, 200
    if request.method == "POST":
        try:
            if "delete" in request.POST:
                services.pool_rule_delete(actor=request.user, rule_id=request.POST.get("delete"))
            elif "role" in request.POST:
                services.claim_cap_set(actor=request.user, role=request.POST.get("role", ""),
                                       per_day=request.POST.get("per_day", ""))
            else:
                services.pool_rule_save(actor=request.user, tier=request.POST.get("tier", ""),
                                        stage=request.POST.get("stage", ""), days=request.POST.get("days", ""),
                                        warn_only=request.POST.get("warn_only") == "on")
        except (ValidationFailed, NotFound) as exc:
            errors, status = getattr(exc, "errors", {}) or {"form": [exc.detail]}, 422
        else:
            messages.success(request, _("Pool rules saved."))
            return redirect("pool-rules")
    caps = {c.role: c.per_day for c in ClaimCap.objects.all()}
    return render(request, "deals/pool_rules.html", {
        "rules": PoolRule.objects.all(), "tiers": Tier.choices, "stages": LifecycleStage.choices,
        "roles": [(value, label, caps.get(value, services.DEFAULT_CAPS.get(value, 0))) for value, label in Role.choices],
        "errors": errors}, status=status)
