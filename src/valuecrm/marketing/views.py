"""Marketing pages: thin views over marketing.selectors and marketing.services."""

import base64
from urllib.parse import unquote, urlparse

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers.extensions import registry as merge_field_registry
from valuecrm.customers.filters import filter_specs
from valuecrm.customers.visibility import visible_customers
from valuecrm.marketing import consent, selectors, services
from valuecrm.marketing import render as mk_render
from valuecrm.marketing import uplift as mk_uplift
from valuecrm.marketing.models import AbCriterion, Channel, Message

# The value chips the segment builder offers first (the customer list's own filters).
VALUE_KEYS = ("tier", "stage", "segment", "clv_min", "churn_risk_min", "p_alive_max", "last_order_from",
              "tag", "consent")
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _can_send(request) -> bool:
    return request.user.can("campaigns.send")


def _money(value) -> str:
    sign = "+" if value >= 0 else "−"
    return f"{sign}¥{abs(value):,.0f}"


def result_sentence(results) -> str:
    """One sentence in the page's language: the effect and its interval, or why there is none."""
    if results is None:
        return _("Not launched yet.")
    if not results["enough_data"]:
        return _("Not enough data yet: each group needs at least %(n)s customers.") % {
            "n": results["min_per_group"]}
    text = _("%(inc)s (95 %%: %(low)s to %(high)s) more revenue than without the campaign.") % {
        "inc": _money(results["incremental_revenue"]), "low": _money(results["ci_low"]),
        "high": _money(results["ci_high"])}
    if results["ci_low"] <= 0 <= results["ci_high"]:
        text += " " + _("The interval includes zero: the effect is not yet distinguishable from chance.")
    if results["srm_alarm"]:
        text += " " + _("Warning: the groups' sizes do not match the planned split (sample-ratio mismatch).")
    return text


def ab_rule_sentence(campaign, ab) -> str:
    if ab is None:
        return ""
    return _("Test slice: %(pct)s %% of the treatment group, split evenly between %(k)s variants. After "
             "%(h)s hours the variant with the highest %(criterion)s is sent to the rest; if the difference is "
             "not significant (χ² test, p ≥ 0.05), variant A is sent.") % {
        "pct": f"{float(campaign.ab_test_percent):g}", "k": len(ab["variants"]), "h": campaign.ab_wait_hours,
        "criterion": AbCriterion(campaign.ab_criterion).label.lower()}


def ab_state_sentence(campaign, ab) -> str:
    if ab is None:
        return ""
    if campaign.launched_at is None:
        return _("Not launched yet.")
    decision = campaign.ab_decision or {}
    p = decision.get("p_value")
    p_text = "—" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")
    if ab["decided"] and decision.get("significant"):
        p_text = p_text if p_text.startswith("<") else f"= {p_text}"
        return _("Variant %(v)s won (p %(p)s) and was sent to the rest.") % {"v": campaign.ab_winner, "p": p_text}
    if ab["decided"]:
        return _("No significant difference (p = %(p)s): variant A, the stated default, was sent to the rest.") % {
            "p": p_text}
    due = timezone.localtime(ab["due"]).strftime("%Y-%m-%d %H:%M")
    return _("The test runs until %(t)s; variant %(v)s leads so far.") % {"t": due, "v": ab["best"]}


@login_required
def campaign_list(request):
    rows = list(selectors.campaign_list()[:200])
    return render(request, "marketing/campaign_list.html", {"campaigns": rows, "can_send": _can_send(request),
                                                            "tab": "campaigns"})


def _campaign_form_context(request, data=None, errors=None):
    # Each variant slot carries the template id it had, so a form re-shown with errors
    # keeps the A/B choices (a select has no value attribute to echo back).
    chosen = {k: str((data or {}).get(f"variant_{k}", "") or "").strip() for k in ("b", "c", "d")}
    return {"segments": list(selectors.segment_list()), "templates": list(selectors.template_list()),
            "channels": Channel.choices, "data": data or {"holdout_percent": "10", "attribution_days": "14",
                                                          "cost": "0", "channel": "email", "ab_test_percent": "20",
                                                          "ab_wait_hours": "24", "ab_criterion": "click_rate"},
            "criteria": AbCriterion.choices,
            "variant_slots": [("b", _("Variant B"), chosen["b"]), ("c", _("Variant C"), chosen["c"]),
                              ("d", _("Variant D"), chosen["d"])],
            "errors": errors or {}, "tab": "campaigns", "uplift_model": selectors.uplift_model_latest()}


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    if request.method == "POST":
        post = request.POST
        data = {k: post.get(k, "").strip() for k in ("name", "channel", "holdout_percent", "attribution_days",
                                                     "cost", "target_top_n")}
        for key in ("segment_id", "template_id"):
            raw = post.get(key, "").strip()
            data[key] = int(raw) if raw.isdigit() else (None if key == "segment_id" else raw)
        extra = [post.get(f"variant_{k}", "").strip() for k in ("b", "c", "d")]
        extra = [int(v) for v in extra if v.isdigit()]
        if extra:  # A/B: the campaign's template is variant A
            data["variant_template_ids"] = [data["template_id"], *extra] if isinstance(
                data["template_id"], int) else extra
            for key in ("ab_test_percent", "ab_wait_hours", "ab_criterion"):
                data[key] = post.get(key, "").strip()
        try:
            campaign = services.campaign_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            return render(request, "marketing/campaign_form.html",
                          _campaign_form_context(request, post, exc.errors), status=422)
        except PermissionDenied as exc:
            raise Http404 from exc
        messages.success(request, _("Campaign saved. Launch it when ready."))
        return redirect("marketing-campaign", campaign.pk)
    if not _can_send(request):
        raise Http404
    return render(request, "marketing/campaign_form.html", _campaign_form_context(request))


@login_required
def campaign_detail(request, pk):
    try:
        campaign = selectors.campaign_get(pk)
    except NotFound as exc:
        raise Http404 from exc
    results = selectors.campaign_results(campaign)
    audience = None
    if campaign.launched_at is None:
        audience = services.campaign_audience(request.user, campaign).count()
    ab = selectors.ab_results(campaign)
    return render(request, "marketing/campaign_detail.html", {
        "campaign": campaign, "results": results, "sentence": result_sentence(results),
        "ab": ab, "ab_rule": ab_rule_sentence(campaign, ab), "ab_state": ab_state_sentence(campaign, ab),
        "funnel": selectors.campaign_funnel(campaign), "audience": audience, "can_send": _can_send(request),
        "tab": "campaigns"})


@login_required
@require_POST
def campaign_launch(request, pk):
    try:
        campaign = selectors.campaign_get(pk)
        services.campaign_launch(actor=request.user, campaign=campaign)
    except NotFound as exc:
        raise Http404 from exc
    except (Conflict, ValidationFailed, PermissionDenied) as exc:
        messages.error(request, str(exc.message if hasattr(exc, "message") else exc))
        return redirect("marketing-campaign", pk)
    messages.success(request, _("Launched: sending in the background; the hold-out group receives nothing."))
    return redirect("marketing-campaign", pk)


# ---------------------------------------------------------------- segments

def _chips(language):
    specs = filter_specs(language)
    return [specs[k] for k in VALUE_KEYS if k in specs]


@login_required
@require_http_methods(["GET", "POST"])
def segment_list(request):
    language = translation.get_language()
    chips = _chips(language)
    raw = {spec.key: (request.POST if request.method == "POST" else request.GET).get(spec.key, "")
           for spec in chips}
    raw = {k: v for k, v in raw.items() if v}
    errors, count = {}, None
    name = request.POST.get("name", "") if request.method == "POST" else ""
    if request.method == "POST":
        try:
            segment = services.segment_create(actor=request.user, data={"name": name, "filters": raw})
        except ValidationFailed as exc:
            errors = exc.errors
        except PermissionDenied as exc:
            raise Http404 from exc
        else:
            messages.success(request, _("Segment saved."))
            return redirect("marketing-segment", segment.pk)
    if not errors:
        try:
            count = selectors.segment_count(request.user, raw)
        except ValidationFailed as exc:
            errors = exc.errors
    segments = [(s, selectors.segment_count(request.user, s)) for s in selectors.segment_list()[:100]]
    choices = {spec.key: (spec.choices(request.user) if spec.choices else None) for spec in chips}
    return render(request, "marketing/segment_list.html", {
        "chips": [(spec, choices[spec.key], raw.get(spec.key, "")) for spec in chips], "count": count,
        "errors": errors, "segments": segments, "name": name, "can_send": _can_send(request), "tab": "segments"},
        status=422 if errors and request.method == "POST" else 200)


@login_required
def segment_detail(request, pk):
    try:
        segment = selectors.segment_get(pk)
    except NotFound as exc:
        raise Http404 from exc
    specs = filter_specs(translation.get_language())
    chips = [(str(specs[k].label), specs[k].display(specs[k].parse(v, request.user)))
             for k, v in segment.filters.items() if k in specs]
    return render(request, "marketing/segment_detail.html", {
        "segment": segment, "chips": chips, "count": selectors.segment_count(request.user, segment),
        "history": selectors.segment_history(segment), "can_send": _can_send(request), "tab": "segments"})


@login_required
@require_POST
def segment_snapshot(request, pk):
    try:
        services.segment_snapshot(actor=request.user, segment=selectors.segment_get(pk))
    except NotFound as exc:
        raise Http404 from exc
    except PermissionDenied as exc:
        raise Http404 from exc
    messages.success(request, _("Snapshot taken: today's members are frozen."))
    return redirect("marketing-segment", pk)


# ---------------------------------------------------------------- templates

@login_required
def template_list(request):
    return render(request, "marketing/template_list.html", {
        "templates": list(selectors.template_list()[:200]), "can_send": _can_send(request), "tab": "templates"})


def _preview(request, template):
    """Render as a chosen visible customer (no message row, no tracking links)."""
    raw = request.POST.get("preview_customer") or request.GET.get("preview_customer") or ""
    qs = visible_customers(request.user).select_related("owner")
    customer = qs.filter(pk=int(raw)).first() if raw.isdigit() else qs.order_by("pk").first()
    if customer is None:
        return None, None
    ctx = services.merge_context(customer, None, personalise=consent.allows_personalisation(customer))
    ctx["unsubscribe_url"] = "#unsubscribe"
    try:
        return customer, mk_render.render(template, ctx)
    except ValidationFailed:
        return customer, None


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, pk=None):
    from valuecrm.marketing.models import MessageTemplate

    template = None
    if pk is not None:
        try:
            template = selectors.template_get(pk)
        except NotFound as exc:
            raise Http404 from exc
    errors, sent_to = {}, ""
    fields = ("name", "channel", "language", "subject", "body_text", "body_html")
    if request.method == "POST":
        data = {k: request.POST.get(k, "") for k in fields}
        raw = request.POST.get("translation_id", "").strip()
        data["translation_id"] = int(raw) if raw.isdigit() else (None if not raw else raw)
        try:
            if template is None:
                template = services.template_create(actor=request.user, data=data)
            else:
                template = services.template_update(actor=request.user, template=template, data=data)
        except ValidationFailed as exc:
            errors = exc.errors
            template = template or MessageTemplate()
            for k, v in data.items():
                if k != "translation_id":
                    setattr(template, k, v)
            template.translation_id = data["translation_id"] if isinstance(data["translation_id"], int) else None
        except PermissionDenied as exc:
            raise Http404 from exc
        else:
            test_to = request.POST.get("test_to", "").strip()
            if request.POST.get("action") == "test" and test_to:
                customer, rendered = _preview(request, template)
                if rendered is not None:
                    from valuecrm.marketing import channels

                    try:
                        channels.email_message(to=test_to, subject="[TEST] " + rendered.subject,
                                               text=rendered.text, html=rendered.html,
                                               unsubscribe_url=services.base_url() + "/",
                                               message_key=f"test-{template.pk}",
                                               connection=channels.smtp_connection()).send()
                        sent_to = test_to
                        messages.success(request, _("Test sent to %(to)s.") % {"to": test_to})
                    except OSError as exc:
                        messages.error(request, _("Test send failed: %(why)s") % {"why": exc})
            elif request.POST.get("action") not in ("preview", "test"):
                messages.success(request, _("Template saved."))
            # Post/redirect/get: the saved template's own page, previewed as the chosen customer.
            target = reverse("marketing-template", args=[template.pk])
            chosen = request.POST.get("preview_customer", "").strip()
            return redirect(f"{target}?preview_customer={chosen}" if chosen.isdigit() else target)
    elif template is None:
        if not _can_send(request):
            raise Http404
        template = MessageTemplate(channel="email", language=translation.get_language() or "zh-hans",
                                   subject="{{ customer.name|default:\"朋友\" }}，您好",
                                   body_text="{{ customer.name|default:\"朋友\" }}，您好！\n\n"
                                             "退订：{{ unsubscribe_url }}")
    customer, rendered = (_preview(request, template) if not errors else (None, None))
    return render(request, "marketing/template_form.html", {
        "template": template, "errors": errors, "preview": rendered, "preview_customer": customer,
        "channels": Channel.choices, "can_send": _can_send(request), "sent_to": sent_to, "tab": "templates",
        "translations": [t for t in selectors.template_list() if t.pk != template.pk],
        "merge_fields": ['{{ customer.name|default:"朋友" }}', "{{ customer.tier }}", "{{ customer.city }}",
                         "{{ owner.name }}", "{% for p in recommended_products %}{{ p.name }} {% endfor %}",
                         "{{ unsubscribe_url }}"]
        + [f"{{{{ customer.{f.name} }}}}" for f in merge_field_registry.merge_fields]})


# ---------------------------------------------------------------- the recipient's links

def track_open(request, token):
    try:
        services.message_open(token=token)
    except NotFound:
        pass  # a pixel never errors
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def track_click(request, token):
    target = unquote(request.GET.get("u", ""))
    message = Message.objects.filter(token=token).select_related("template").first()
    parsed = urlparse(target)
    # Only links that are in the message's own template: no open redirect.
    if (message is None or parsed.scheme not in ("http", "https") or message.template is None
            or target not in (message.template.body_html or "")):
        return HttpResponseBadRequest(_("Unknown link."))
    services.message_click(token=token, url=target)
    return redirect(target)


@csrf_exempt  # RFC 8058: the mail client POSTs without a session; the token is the credential
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    message = Message.objects.filter(token=token).select_related("template").first()
    if message is None:
        raise Http404
    language = (message.template.language if message.template else "") or "zh-hans"
    with translation.override(language):
        if request.method == "POST":
            services.unsubscribe(token=token)
            return render(request, "marketing/unsubscribe.html", {"done": True, "message": message,
                                                                 "LANGUAGE_CODE": language})
        return render(request, "marketing/unsubscribe.html", {"done": False, "message": message,
                                                             "LANGUAGE_CODE": language})




# ---------------------------------------------------------------- uplift targeting

def _feature_labels() -> list[str]:
    labels = {"frequency": _("orders before"), "recency_days": _("days since last order"),
              "t_days": _("days since first order"), "monetary": _("average order value"), "clv": _("CLV"),
              "churn_risk": _("churn risk"), "p_alive": _("P(alive)"), "tier_a": _("tier A"),
              "tier_b": _("tier B"), "tier_c": _("tier C"), "r_score": "R", "f_score": "F", "m_score": "M",
              "consent_email": _("e-mail consent"), "consent_sms": _("SMS consent"),
              "consent_wechat": _("WeChat consent")}
    return [labels.get(name, name) for name in mk_uplift.FEATURES]


@login_required
def uplift(request):
    model = selectors.uplift_model_latest()
    chart = None
    if model is not None:
        curve = model.qini_curve
        chart = {"x": curve["fractions"], "model": curve["curve"], "random": curve["random"],
                 "model_name": _("Model ranking"), "random_name": _("Random order"),
                 "x_name": _("Share of customers targeted"), "y_name": _("Incremental revenue per customer")}
    signed = None
    if model is not None:
        signed = {k: f"{'−' if v < 0 else ''}¥{abs(v):,.2f}" for k, v in
                  (("qini", model.qini_coefficient), ("auuc", model.auuc))}
    return render(request, "marketing/uplift.html", {
        "model": model, "chart": chart, "signed": signed, "readiness": selectors.uplift_readiness(),
        "training": list(selectors.campaign_list().filter(pk__in=model.training_campaign_ids)) if model else [],
        "features": _feature_labels(), "can_send": _can_send(request), "tab": "uplift"})


@login_required
@require_POST
def uplift_train(request):
    try:
        model = services.uplift_train(actor=request.user)
    except PermissionDenied as exc:
        raise Http404 from exc
    except ValidationFailed as exc:
        messages.error(request, exc.detail)
        return redirect("marketing-uplift")
    messages.success(request, _("Uplift model v%(v)s trained.") % {"v": model.version})
    return redirect("marketing-uplift")
