"""Marketing writes: segments, templates, campaigns, launch with a randomized hold-out,
sending (worker), opens, clicks and unsubscribes.

Every write checks ``campaigns.send`` first (the unsubscribe, open and click paths are
the customer's own and carry the message's unguessable token instead), validates by
field and emits its event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.customers.extensions import registry as merge_field_registry
from valuecrm.customers.filters import clean_filters, filters_q
from valuecrm.customers.models import ContactPoint, ContactPointKind, Customer
from valuecrm.customers.visibility import visible_customers
from valuecrm.engine.experiments import assign_group, hash_unit
from valuecrm.marketing import channels, consent, render, selectors, uplift
from valuecrm.marketing.models import (
    AbCriterion,
    Campaign,
    CampaignMember,
    CampaignStatus,
    CampaignVariant,
    Channel,
    Group,
    MemberStatus,
    Message,
    MessageStatus,
    MessageTemplate,
    Segment,
    SegmentSnapshot,
    Suppression,
    UpliftModel,
)

CHUNK = 200
# Rows claimed at once (split over the SMTP connections): at most this many are left
# "sending" (unknown) by a killed worker; fewer, larger groups keep the connections busy.
CLAIM = 40


def _cfg(name, default):
    return getattr(settings, name, default)


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


def _text(data: dict, key: str, errors: dict, *, required=False, limit=200, target=None) -> None:
    if key not in data:
        if required and target is not None and not getattr(target, key):
            errors.setdefault(key, []).append(_("This field is required."))
        return
    value = data[key]
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(_("Enter text."))
        return
    value = value.strip()
    if "\x00" in value:
        errors.setdefault(key, []).append(_("Null characters are not allowed."))
    elif len(value) > limit:
        errors.setdefault(key, []).append(_("Enter at most %(n)s characters.") % {"n": limit})
    elif required and not value:
        errors.setdefault(key, []).append(_("This field is required."))
    elif target is not None:
        setattr(target, key, value)


def _clean_filter_json(actor, value, errors: dict, key: str = "filters") -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.setdefault(key, []).append(_("Enter an object of filter keys and values."))
        return {}
    try:
        clean_filters(value, user=actor)
    except ValidationFailed as exc:
        for k, msgs in exc.errors.items():
            errors.setdefault(f"{key}.{k}", []).extend(msgs)
    return {str(k): str(v) for k, v in value.items() if v not in (None, "")}


def _changed(actor, kind: str, pk: int, action: str) -> None:
    events.emit(events.ConfigChanged(kind=kind, object_id=str(pk), action=action), actor=actor)


# ---------------------------------------------------------------- segments

def audience(actor, filters: dict):
    """The customers a filter set selects, within what ``actor`` may see, not archived."""
    active = clean_filters(filters or {}, user=actor)
    return visible_customers(actor).filter(filters_q(active)).filter(archived_at__isnull=True)


@transaction.atomic
def segment_create(*, actor, data: dict) -> Segment:
    require(actor, Capability.CAMPAIGNS_SEND)
    segment = Segment(created_by=actor)
    errors: dict = {}
    _text(data, "name", errors, required=True, limit=120, target=segment)
    if "name" not in data:
        errors["name"] = [_("This field is required.")]
    segment.filters = _clean_filter_json(actor, data.get("filters"), errors)
    _raise_if(errors)
    segment.save()
    _changed(actor, "segment", segment.pk, "created")
    return segment


@transaction.atomic
def segment_update(*, actor, segment: Segment, data: dict) -> Segment:
    require(actor, Capability.CAMPAIGNS_SEND)
    fresh = Segment.objects.select_for_update().get(pk=segment.pk)
    errors: dict = {}
    _text(data, "name", errors, required=True, limit=120, target=fresh)
    if "filters" in data:
        fresh.filters = _clean_filter_json(actor, data["filters"], errors)
    _raise_if(errors)
    fresh.save()
    _changed(actor, "segment", fresh.pk, "updated")
    return fresh


@transaction.atomic
def segment_delete(*, actor, segment: Segment) -> None:
    require(actor, Capability.CAMPAIGNS_SEND)
    if Campaign.objects.filter(segment_id=segment.pk).exists():
        raise Conflict(_("A campaign uses this segment."))
    pk = segment.pk
    segment.delete()
    _changed(actor, "segment", pk, "deleted")


@transaction.atomic
def segment_snapshot(*, actor, segment: Segment) -> SegmentSnapshot:
    """Freeze today's members (a static list) and record the size for the size-over-time chart."""
    require(actor, Capability.CAMPAIGNS_SEND)
    ids = list(audience(actor, segment.filters).order_by("pk").values_list("pk", flat=True))
    snap = SegmentSnapshot.objects.create(segment=segment, size=len(ids), customer_ids=ids)
    events.emit(events.SegmentSnapshotTaken(segment_id=segment.pk, size=len(ids)), actor=actor)
    return snap


# ---------------------------------------------------------------- templates

def _apply_template(template: MessageTemplate, data: dict, errors: dict) -> None:
    _text(data, "name", errors, required=True, limit=120, target=template)
    if "channel" in data:
        if data["channel"] not in Channel.values:
            errors["channel"] = [_("Not a valid choice.")]
        else:
            template.channel = data["channel"]
    if "language" in data:
        if data["language"] not in ("en", "zh-hans"):
            errors["language"] = [_("Not a valid choice.")]
        else:
            template.language = data["language"]
    if "translation_id" in data:
        tid = data["translation_id"]
        if tid in (None, ""):
            template.translation = None
        else:
            other = (MessageTemplate.objects.filter(pk=tid).first()
                     if isinstance(tid, int) and not isinstance(tid, bool) else None)
            if other is None or (template.pk and other.pk == template.pk):
                errors["translation_id"] = [_("No such template.")]
            else:
                template.translation = other
    _text(data, "subject", errors, limit=200, target=template)
    _text(data, "body_text", errors, limit=20000, target=template)
    _text(data, "body_html", errors, limit=100000, target=template)
    for field in ("subject", "body_text", "body_html"):
        if field in data and field not in errors:
            render.check_syntax(field, getattr(template, field), errors)
    if template.body_html:
        template.body_html = render.sanitise_html(template.body_html)
    if template.channel == Channel.EMAIL and "subject" not in errors and not template.subject:
        errors.setdefault("subject", []).append(_("An e-mail needs a subject."))
    if "body_text" not in errors and not template.body_text and not template.body_html:
        errors.setdefault("body_text", []).append(_("Write the message."))
    other = template.translation if template.translation_id else None
    if other is not None and "translation_id" not in errors and not errors.keys() & {"channel", "language"}:
        if other.language == template.language:
            errors["translation_id"] = [_("The translation must be in the other language.")]
        elif other.channel != template.channel:
            errors["translation_id"] = [_("The template is for another channel.")]


def _link_translation(template: MessageTemplate) -> None:
    """Keep the link both ways: the partner points back, a former partner lets go."""
    MessageTemplate.objects.filter(translation=template).exclude(pk=template.translation_id or 0).update(
        translation=None)
    if template.translation_id:
        partner = template.translation
        if partner.translation_id and partner.translation_id != template.pk:
            MessageTemplate.objects.filter(pk=partner.translation_id, translation=partner).update(translation=None)
        MessageTemplate.objects.filter(pk=partner.pk).update(translation=template)


@transaction.atomic
def template_create(*, actor, data: dict) -> MessageTemplate:
    require(actor, Capability.CAMPAIGNS_SEND)
    template = MessageTemplate(created_by=actor)
    errors: dict = {}
    if "name" not in data:
        errors["name"] = [_("This field is required.")]
    _apply_template(template, data, errors)
    _raise_if(errors)
    template.save()
    _link_translation(template)
    _changed(actor, "message_template", template.pk, "created")
    return template


@transaction.atomic
def template_update(*, actor, template: MessageTemplate, data: dict) -> MessageTemplate:
    require(actor, Capability.CAMPAIGNS_SEND)
    fresh = MessageTemplate.objects.select_for_update().get(pk=template.pk)
    errors: dict = {}
    _apply_template(fresh, data, errors)
    _raise_if(errors)
    fresh.save()
    if "translation_id" in data or "language" in data or "channel" in data:
        _link_translation(fresh)
    _changed(actor, "message_template", fresh.pk, "updated")
    return fresh


@transaction.atomic
def template_delete(*, actor, template: MessageTemplate) -> None:
    require(actor, Capability.CAMPAIGNS_SEND)
    if Campaign.objects.filter(template_id=template.pk).exists():
        raise Conflict(_("A campaign uses this template."))
    pk = template.pk
    template.delete()
    _changed(actor, "message_template", pk, "deleted")


# ---------------------------------------------------------------- campaigns

def _apply_campaign(actor, campaign: Campaign, data: dict, errors: dict) -> None:
    _text(data, "name", errors, required=True, limit=120, target=campaign)
    if "channel" in data:
        if data["channel"] not in Channel.values:
            errors["channel"] = [_("Not a valid choice.")]
        else:
            campaign.channel = data["channel"]
    if "segment_id" in data:
        sid = data["segment_id"]
        if sid is None:
            campaign.segment = None
        else:
            segment = Segment.objects.filter(pk=sid).first() if isinstance(sid, int) else None
            if segment is None:
                errors["segment_id"] = [_("No such segment.")]
            else:
                campaign.segment = segment
    if "filters" in data:
        campaign.filters = _clean_filter_json(actor, data["filters"], errors)
    if "template_id" in data:
        tid = data["template_id"]
        template = MessageTemplate.objects.filter(pk=tid).first() if isinstance(tid, int) else None
        if template is None:
            errors["template_id"] = [_("No such template.")]
        else:
            campaign.template = template
    elif not campaign.template_id:
        errors["template_id"] = [_("This field is required.")]
    for key, low, high in (("holdout_percent", 0, 50), ("attribution_days", 1, 365)):
        if key in data:
            try:
                value = Decimal(str(data[key]))
            except (InvalidOperation, ValueError):
                errors[key] = [_("Enter a number.")]
                continue
            if not value.is_finite() or not low <= value <= high:
                errors[key] = [_("Enter a number from %(a)s to %(b)s.") % {"a": low, "b": high}]
                continue
            setattr(campaign, key, int(value) if key == "attribution_days" else value.quantize(Decimal("0.01")))
    if "cost" in data:
        try:
            cost = Decimal(str(data["cost"]))
        except (InvalidOperation, ValueError):
            cost = None
        if cost is None or not cost.is_finite() or cost < 0 or cost >= Decimal("1e12"):
            errors["cost"] = [_("Enter an amount of 0 or more.")]
        else:
            campaign.cost = cost.quantize(Decimal("0.01"))
    if "target_top_n" in data:
        top = data["target_top_n"]
        if top in (None, ""):
            campaign.target_top_n = None
        elif isinstance(top, bool) or not isinstance(top, (int, str)) or not str(top).isdigit() \
                or not 1 <= int(top) <= 10_000_000:
            errors["target_top_n"] = [_("Enter a whole number from %(a)s to %(b)s.") % {"a": 1, "b": 10_000_000}]
        else:
            campaign.target_top_n = int(top)
    _apply_ab(campaign, data, errors)
    if campaign.template_id and "template_id" not in errors and "channel" not in errors:
        if campaign.template.channel != campaign.channel:
            errors.setdefault("template_id", []).append(_("The template is for another channel."))
    for template in getattr(campaign, "_variant_templates", None) or []:
        if "channel" not in errors and template.channel != campaign.channel:
            errors.setdefault("variant_template_ids", []).append(_("The template is for another channel."))
            break


def _apply_ab(campaign: Campaign, data: dict, errors: dict) -> None:
    """A/B set-up: 2–4 variant templates (the first is A, the default and the campaign's
    template), the test slice, the wait and the winner criterion."""
    if "variant_template_ids" in data:
        raw = data["variant_template_ids"]
        if raw in (None, []):
            campaign._variant_templates = []
        elif (not isinstance(raw, list) or not 2 <= len(raw) <= 4
              or not all(isinstance(t, int) and not isinstance(t, bool) for t in raw) or len(set(raw)) != len(raw)):
            errors["variant_template_ids"] = [_("Choose 2 to 4 different templates.")]
        else:
            found = MessageTemplate.objects.in_bulk(raw)
            if len(found) != len(raw):
                errors["variant_template_ids"] = [_("No such template.")]
            else:
                campaign._variant_templates = [found[t] for t in raw]
                campaign.template = found[raw[0]]
    for key, low, high in (("ab_test_percent", 1, 100), ("ab_wait_hours", 1, 720)):
        if key in data:
            try:
                value = Decimal(str(data[key]))
            except (InvalidOperation, ValueError):
                errors[key] = [_("Enter a number.")]
                continue
            if not value.is_finite() or not low <= value <= high or (key == "ab_wait_hours" and value != int(value)):
                errors[key] = [_("Enter a number from %(a)s to %(b)s.") % {"a": low, "b": high}]
                continue
            setattr(campaign, key, int(value) if key == "ab_wait_hours" else value.quantize(Decimal("0.01")))
    if "ab_criterion" in data:
        if data["ab_criterion"] not in AbCriterion.values:
            errors["ab_criterion"] = [_("Not a valid choice.")]
        else:
            campaign.ab_criterion = data["ab_criterion"]


def _save_variants(campaign: Campaign) -> None:
    templates = getattr(campaign, "_variant_templates", None)
    if templates is None:
        return
    CampaignVariant.objects.filter(campaign=campaign).delete()
    CampaignVariant.objects.bulk_create([CampaignVariant(campaign=campaign, label="ABCD"[i], template=t)
                                         for i, t in enumerate(templates)])


@transaction.atomic
def campaign_create(*, actor, data: dict) -> Campaign:
    require(actor, Capability.CAMPAIGNS_SEND)
    campaign = Campaign(created_by=actor)
    errors: dict = {}
    if "name" not in data:
        errors["name"] = [_("This field is required.")]
    _apply_campaign(actor, campaign, data, errors)
    _raise_if(errors)
    campaign.save()
    _save_variants(campaign)
    _changed(actor, "campaign", campaign.pk, "created")
    return campaign


@transaction.atomic
def campaign_update(*, actor, campaign: Campaign, data: dict) -> Campaign:
    require(actor, Capability.CAMPAIGNS_SEND)
    fresh = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if fresh.status != CampaignStatus.DRAFT:
        raise Conflict(_("A launched campaign cannot be changed."))
    errors: dict = {}
    _apply_campaign(actor, fresh, data, errors)
    _raise_if(errors)
    fresh.save()
    _save_variants(fresh)
    _changed(actor, "campaign", fresh.pk, "updated")
    return fresh


@transaction.atomic
def campaign_delete(*, actor, campaign: Campaign) -> None:
    require(actor, Capability.CAMPAIGNS_SEND)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(_("A launched campaign is kept for its results."))
    pk = campaign.pk
    campaign.delete()
    _changed(actor, "campaign", pk, "deleted")


def global_control_percent() -> float:
    return float(_cfg("VALUECRM_MARKETING_GLOBAL_CONTROL_PERCENT", 0))


def in_global_control(customer_id: int) -> bool:
    """The global control group: a stable few never receive marketing (Braze-style)."""
    pct = global_control_percent()
    return pct > 0 and hash_unit("global-control", customer_id) * 100 < pct


def _group_for(campaign: Campaign, customer_id: int) -> str:
    if in_global_control(customer_id):
        return Group.EXCLUDED
    return assign_group(campaign.assignment_key, customer_id, float(campaign.holdout_percent))


def campaign_audience(actor, campaign: Campaign):
    filters = dict(campaign.segment.filters) if campaign.segment_id else {}
    filters.update(campaign.filters or {})
    return audience(actor, filters)


def _queue_send(campaign_id: int) -> None:
    from valuecrm.marketing.tasks import campaign_send_task

    transaction.on_commit(lambda: campaign_send_task(campaign_id))


@transaction.atomic
def campaign_launch(*, actor, campaign: Campaign, now=None, queue: bool = True) -> Campaign:
    """Freeze the audience, assign each customer treatment/control by hash, queue the send."""
    require(actor, Capability.CAMPAIGNS_SEND)
    fresh = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if fresh.status != CampaignStatus.DRAFT:
        raise Conflict(_("This campaign was launched already."))
    ids = list(campaign_audience(actor, fresh).values_list("pk", flat=True))
    if not ids:
        raise ValidationFailed(_("The audience is empty."), errors={"segment_id": [_("The audience is empty.")]})
    if fresh.target_top_n:
        model = selectors.uplift_model_latest()
        if model is None:
            msg = _("Train an uplift model before targeting by predicted uplift.")
            raise ValidationFailed(msg, errors={"target_top_n": [msg]})
        ids = uplift_top(ids, model, fresh.target_top_n)
        fresh.uplift_model = model
    now = now or timezone.now()
    rows, counts = [], {Group.TREATMENT: 0, Group.CONTROL: 0, Group.EXCLUDED: 0}
    for cid in ids:
        group = _group_for(fresh, cid)
        counts[group] += 1
        status = MemberStatus.QUEUED if group == Group.TREATMENT else MemberStatus.HELD_OUT
        rows.append(CampaignMember(campaign=fresh, customer_id=cid, group=group, status=status, enrolled_at=now))
    labels = list(CampaignVariant.objects.filter(campaign=fresh).order_by("label").values_list("label", flat=True))
    if labels:
        _assign_variants(fresh, [r for r in rows if r.group == Group.TREATMENT], labels)
    CampaignMember.objects.bulk_create(rows, batch_size=2000)
    fresh.status, fresh.launched_at = CampaignStatus.SENDING, now
    fresh.save(update_fields=["status", "launched_at", "uplift_model", "updated_at"])
    events.emit(events.CampaignLaunched(campaign_id=fresh.pk, n_treatment=counts[Group.TREATMENT],
                                        n_control=counts[Group.CONTROL], n_excluded=counts[Group.EXCLUDED]),
                actor=actor)
    if queue:
        _queue_send(fresh.pk)
    return fresh


def _assign_variants(campaign: Campaign, treated: list[CampaignMember], labels: list[str]) -> None:
    """The test slice: treated customers whose stable hash falls under ab_test_percent,
    then dealt round-robin in hash order, so the variants' sizes differ by at most one."""
    key = campaign.assignment_key
    pct = float(campaign.ab_test_percent)
    slice_ = [m for m in treated if hash_unit(f"{key}:ab", m.customer_id) * 100 < pct]
    slice_.sort(key=lambda m: (hash_unit(f"{key}:ab-order", m.customer_id), m.customer_id))
    for i, member in enumerate(slice_):
        member.variant = labels[i % len(labels)]


@transaction.atomic
def campaign_enrol(*, actor, campaign: Campaign, customer: Customer, queue: bool = True) -> CampaignMember:
    """Add one customer to a launched campaign (a trigger): same hash, same hold-out."""
    require(actor, Capability.CAMPAIGNS_SEND)
    if campaign.status == CampaignStatus.DRAFT:
        raise Conflict(_("Launch the campaign before enrolling customers."))
    existing = CampaignMember.objects.filter(campaign=campaign, customer=customer).first()
    if existing is not None:
        return existing
    group = _group_for(campaign, customer.pk)
    status = MemberStatus.QUEUED if group == Group.TREATMENT else MemberStatus.HELD_OUT
    member = CampaignMember.objects.create(campaign=campaign, customer=customer, group=group, status=status)
    if campaign.status == CampaignStatus.SENT and group == Group.TREATMENT:
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    events.emit(events.CampaignEnrolled(customer_id=customer.pk, campaign_id=campaign.pk, group=group),
                actor=actor)
    if queue and group == Group.TREATMENT:
        _queue_send(campaign.pk)
    return member


# ---------------------------------------------------------------- sending

def base_url() -> str:
    return _cfg("VALUECRM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def in_quiet_hours(now) -> bool:
    start, end = _cfg("VALUECRM_MARKETING_QUIET_HOURS", (22, 8))
    hour = timezone.localtime(now).hour
    return hour >= start or hour < end if start > end else start <= hour < end


def quiet_hours_end(now) -> dt.datetime:
    _start, end = _cfg("VALUECRM_MARKETING_QUIET_HOURS", (22, 8))
    local = timezone.localtime(now)
    target = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if target <= local:
        target += dt.timedelta(days=1)
    return target


def _addresses(channel: str, customer_ids: list[int]) -> dict[int, str]:
    if channel == Channel.EMAIL:
        rows = Customer.objects.filter(pk__in=customer_ids).exclude(email="").values_list("pk", "email")
    elif channel == Channel.SMS:
        rows = Customer.objects.filter(pk__in=customer_ids).exclude(phone="").values_list("pk", "phone")
    else:
        rows = (ContactPoint.objects.filter(customer_id__in=customer_ids, kind=ContactPointKind.WECHAT)
                .order_by("-is_primary", "id").values_list("customer_id", "value"))
    out: dict[int, str] = {}
    for pk, value in rows:
        out.setdefault(pk, value)
    return out


def recently_messaged(customer_ids, now) -> dict[int, int]:
    days = int(_cfg("VALUECRM_MARKETING_CAP_DAYS", 7))
    rows = (Message.objects.filter(customer_id__in=customer_ids, status=MessageStatus.SENT,
                                   sent_at__gte=now - dt.timedelta(days=days))
            .values("customer_id").annotate(n=Count("id")).values_list("customer_id", "n"))
    return dict(rows)


def eligibility(channel: str, customer_ids: list[int], now) -> dict[int, str]:
    """customer id → the member status that stops the send (absent = may be sent)."""
    ids = list(customer_ids)
    stop: dict[int, str] = {}
    allowed = set(consent.contactable(Customer.objects.filter(pk__in=ids), channel, "marketing")
                  .values_list("pk", flat=True))
    suppressed = set(Suppression.objects.filter(customer_id__in=ids, channel=channel)
                     .values_list("customer_id", flat=True))
    cap = int(_cfg("VALUECRM_MARKETING_CAP", 2))
    recent = recently_messaged(ids, now)
    addresses = _addresses(channel, ids)
    for cid in ids:
        if cid not in allowed:
            stop[cid] = MemberStatus.NO_CONSENT
        elif cid in suppressed:
            stop[cid] = MemberStatus.SUPPRESSED
        elif in_global_control(cid):
            stop[cid] = MemberStatus.SUPPRESSED
        elif recent.get(cid, 0) >= cap:
            stop[cid] = MemberStatus.CAPPED
        elif cid not in addresses:
            stop[cid] = MemberStatus.NO_ADDRESS
    return stop


def wanted_merge_fields(template: MessageTemplate) -> set[str]:
    """The registered extension merge fields (customers.extensions) the template uses."""
    text = f"{template.subject}{template.body_text}{template.body_html}"
    return {f.name for f in merge_field_registry.merge_fields if f"customer.{f.name}" in text}


def merge_context(customer: Customer, message: Message | None, *, personalise: bool,
                  recommendations: bool = True, extra: dict | None = None) -> dict:
    """``extra``: this customer's extension merge values, resolved in a batch by the
    caller; None resolves every registered field for this one customer (previews)."""
    unsubscribe = _token_url("marketing-unsubscribe", message.token) if message else ""
    if not personalise:
        return {"customer": {}, "owner": {}, "recommended_products": [], "unsubscribe_url": unsubscribe}
    value = getattr(customer, "value", None) if hasattr(customer, "value") else None
    owner = customer.owner
    if extra is None:
        extra = merge_field_registry.merge_field_values([customer.pk])[customer.pk]
    return {
        "customer": {**extra, "name": customer.name, "email": customer.email, "city": customer.city,
                     "tier": getattr(value, "tier", ""), "stage": getattr(value, "stage", ""),
                     "clv": getattr(value, "clv", "")},
        "owner": {"name": (owner.get_full_name() or owner.username) if owner else "",
                  "email": owner.email if owner else ""},
        "recommended_products": selectors.recommended_products(customer, limit=3) if recommendations else [],
        "unsubscribe_url": unsubscribe,
    }


def _context_for(template: MessageTemplate, customer: Customer, message: Message,
                 extra: dict | None = None, personalise: bool | None = None) -> dict:
    """The merge values (reads the database: call on the sending thread). A batch
    sender passes ``personalise`` (looked up for the whole chunk at once)."""
    if personalise is None:
        personalise = consent.allows_personalisation(customer)
    # Recommendations cost two queries: only when the template uses them.
    wants = "recommended_products" in f"{template.subject}{template.body_text}{template.body_html}"
    if extra is None:
        names = wanted_merge_fields(template)
        extra = merge_field_registry.merge_field_values([customer.pk], names=names)[customer.pk] if names else {}
    return merge_context(customer, message, personalise=personalise, recommendations=wants, extra=extra)


_TOKEN = "0tOkEn0"


@functools.lru_cache(maxsize=16)
def _token_url_pattern(base: str, name: str) -> tuple[str, str]:
    url = f"{base}{reverse(name, args=[_TOKEN])}"
    head, _sep, tail = url.partition(_TOKEN)
    return head, tail


def _token_url(name: str, token: str) -> str:
    """The absolute URL of a per-message link: reversed once per base URL and name,
    not three times per recipient (tokens are URL-safe, so no quoting is needed)."""
    head, tail = _token_url_pattern(base_url(), name)
    return f"{head}{token}{tail}"


def _render_for(template: MessageTemplate, customer: Customer, message: Message, ctx: dict | None = None):
    ctx = _context_for(template, customer, message) if ctx is None else ctx

    def click(target: str) -> str:
        from urllib.parse import quote

        return f"{_token_url('marketing-click', message.token)}?u={quote(target, safe='')}"

    pixel = _token_url("marketing-open", message.token)
    return render.render(template, ctx, click_url=click, pixel_url=pixel), ctx["unsubscribe_url"]


def _deliver(message: Message, template: MessageTemplate, customer: Customer, connection,
             ctx: dict | None = None) -> None:
    rendered, unsubscribe = _render_for(template, customer, message, ctx)
    if message.channel == Channel.EMAIL:
        channels.email_message(to=message.address, subject=rendered.subject, text=rendered.text,
                               html=rendered.html, unsubscribe_url=unsubscribe, message_key=message.key,
                               connection=connection).send()
    else:
        channels.webhook_send(message.channel, to=message.address, text=rendered.text.strip(),
                              message_key=message.key)


def campaign_send(campaign_id: int, *, now=None, limit: int | None = None) -> dict:
    """The worker half of a launch: send to queued treatment members, in chunks, throttled.

    Resumable: message rows are claimed ("sending") CLAIM (40) at a time just before
    the provider is called and marked "sent" right after. A worker killed in between
    leaves at most those CLAIM "sending"; the next run marks them failed
    ("interrupted", perhaps delivered) instead of sending them again — at most once
    per campaign × customer (the unique key), never twice — and carries on with the
    rows still queued. During quiet hours nothing is
    sent and the rest is left queued for the next run (the task reschedules itself).
    """
    campaign = Campaign.objects.select_related("template__translation").get(pk=campaign_id)
    now = now or timezone.now()
    stats = {"sent": 0, "failed": 0, "skipped": 0, "interrupted": 0, "deferred": False}
    templates = variant_templates(campaign)
    with transaction.atomic():
        stale = list(Message.objects.filter(campaign=campaign, status=MessageStatus.SENDING)
                     .values_list("pk", "customer_id"))
        if stale:
            Message.objects.filter(pk__in=[p for p, _c in stale]).update(
                status=MessageStatus.FAILED, reason="interrupted while sending (perhaps delivered); not resent to avoid a duplicate")
            CampaignMember.objects.filter(campaign=campaign, customer_id__in=[c for _p, c in stale]).update(
                status=MemberStatus.FAILED)
            stats["interrupted"] = len(stale)
    if in_quiet_hours(now):
        stats["deferred"] = True
        return stats
    rate = float(_cfg("VALUECRM_MARKETING_RATE", 500))  # messages per second, 0 = unthrottled
    # Several SMTP connections (or webhook callers) in threads overlap the round trips;
    # each thread uses its own connection, the database is touched only on this one.
    width = max(1, int(_cfg("VALUECRM_MARKETING_SMTP_CONNECTIONS", 4)))
    pool = [channels.smtp_connection() if campaign.channel == Channel.EMAIL else None for _i in range(width)]
    for conn in pool:
        if conn is not None:
            conn.open()
    executor = ThreadPoolExecutor(max_workers=width) if width > 1 else None
    connection = (pool, executor)
    started, done = time.monotonic(), 0
    try:
        while True:
            batch_size = CHUNK if limit is None else min(CHUNK, limit - done)
            if batch_size <= 0:
                break
            queued = CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.QUEUED,
                                                   group=Group.TREATMENT)
            if templates.get("") is None:  # an A/B test still running: only its slice is sent
                queued = queued.exclude(variant="")
            members = list(queued.order_by("pk")[:batch_size].values_list("pk", "customer_id", "variant"))
            if not members:
                break
            done += _send_chunk(campaign, members, now, connection, stats, templates)
            if rate > 0:
                ahead = done / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
        for conn in pool:
            if conn is not None:
                conn.close()
    if not CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.QUEUED).exists():
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(status=CampaignStatus.SENT)
    return stats


def _record(campaign, sent, failed) -> None:
    with transaction.atomic():
        Message.objects.filter(pk__in=[m.pk for m in sent]).update(status=MessageStatus.SENT,
                                                                   sent_at=timezone.now())
        for message, reason in failed:
            Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, reason=reason)
        CampaignMember.objects.filter(campaign=campaign, customer_id__in=[m.customer_id for m in sent]).update(
            status=MemberStatus.SENT)
        if failed:
            CampaignMember.objects.filter(campaign=campaign,
                                          customer_id__in=[m.customer_id for m, _r in failed]).update(
                status=MemberStatus.FAILED)
        events.emit_many([events.MessageSent(customer_id=m.customer_id, message_id=m.pk, campaign_id=campaign.pk,
                                             channel=m.channel) for m in sent])


def variant_templates(campaign: Campaign) -> dict:
    """variant label → template; "" (members outside an A/B test slice) → the campaign's
    template, the A/B winner's once chosen, or None while the test is still running."""
    variants = {v.label: v.template for v in CampaignVariant.objects.filter(campaign=campaign)
                .select_related("template__translation")}
    if not variants:
        return {"": campaign.template}
    return {**variants, "": variants.get(campaign.ab_winner) if campaign.ab_winner else None}


def _send_chunk(campaign, members, now, connection, stats, templates) -> int:
    ids = [cid for _pk, cid, _v in members]
    stop = eligibility(campaign.channel, ids, now)
    addresses = _addresses(campaign.channel, ids)
    go = [cid for cid in ids if cid not in stop]
    customers = Customer.objects.select_related("owner", "value").in_bulk(go)
    go = [cid for cid in go if cid in customers]
    # PIPL Art. 24 for the whole chunk in one query: among customers who may receive
    # marketing on this channel, "personalised marketing" adds only the person's opt-out.
    personalised = set(consent.contactable(Customer.objects.filter(pk__in=go), campaign.channel,
                                           "personalised_marketing").values_list("pk", flat=True))
    # Each customer's language: the variant's (or campaign's) template, or its linked
    # translation when the customer prefers that language.
    template_of = {cid: templates[variant].for_language(customers[cid].preferred_language)
                   for _pk, cid, variant in members if cid in customers}
    by_id = {}
    for template in templates.values():
        if template is not None:
            by_id[template.pk] = template
            if template.translation_id:
                by_id[template.translation_id] = template.translation
    with transaction.atomic():
        for status in set(stop.values()):
            CampaignMember.objects.filter(campaign=campaign, customer_id__in=[c for c, s in stop.items()
                                                                             if s == status]).update(status=status)
        stats["skipped"] += len(stop)
        Message.objects.bulk_create([
            Message(key=f"campaign-{campaign.pk}:{cid}", campaign=campaign, customer_id=cid,
                    channel=campaign.channel, address=addresses[cid], template=template_of[cid],
                    status=MessageStatus.QUEUED, queued_at=now) for cid in go
        ], ignore_conflicts=True)
    messages = list(Message.objects.filter(campaign=campaign, customer_id__in=go, status=MessageStatus.QUEUED))
    for group_start in range(0, len(messages), CLAIM):
        group = messages[group_start:group_start + CLAIM]
        # Claim a few rows before calling the provider: a worker killed meanwhile leaves
        # at most these "sending", and the next run does not send them again.
        claimed = Message.objects.filter(pk__in=[m.pk for m in group], status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING)
        if claimed != len(group):
            group = list(Message.objects.filter(pk__in=[m.pk for m in group], status=MessageStatus.SENDING))
        template_for = {m.pk: by_id.get(m.template_id, campaign.template) for m in group}
        names = set().union(*(wanted_merge_fields(t) for t in set(template_for.values())))
        extras = (merge_field_registry.merge_field_values([m.customer_id for m in group], names=names)
                  if names else {})
        contexts = {m.pk: _context_for(template_for[m.pk], customers[m.customer_id], m,
                                       extras.get(m.customer_id, {}), m.customer_id in personalised)
                    for m in group}
        pool, executor = connection
        lanes = [group[i::len(pool)] for i in range(len(pool))]

        def run(lane, conn, contexts=contexts, template_for=template_for):
            done = []
            for message in lane:
                try:
                    _deliver(message, template_for[message.pk], customers[message.customer_id], conn,
                             contexts[message.pk])
                except (channels.DeliveryError, OSError, ValidationFailed) as exc:
                    done.append((message, str(exc)[:300]))
                else:
                    done.append((message, None))
            return done

        if executor is None:
            results = [run(lanes[0], pool[0])]
        else:
            futures = [executor.submit(run, lane, conn) for lane, conn in zip(lanes, pool, strict=True) if lane]
            results = [f.result() for f in futures]
        sent = [m for lane in results for m, why in lane if why is None]
        failed = [(m, why) for lane in results for m, why in lane if why is not None]
        _record(campaign, sent, failed)
        stats["sent"] += len(sent)
        stats["failed"] += len(failed)
    return len(members)


@transaction.atomic
def message_send(*, actor, customer: Customer, template: MessageTemplate, key: str, now=None) -> Message | None:
    """One message outside a campaign (the automation action "send message").

    The same consent, suppression, cap and quiet-hour rules apply; ``key`` (the rule's
    event × customer) makes a re-run a no-op. Returns None when a rule stops it.
    """
    require(actor, Capability.CAMPAIGNS_SEND)
    now = now or timezone.now()
    existing = Message.objects.filter(key=key).first()
    if existing is not None:
        return existing
    template = template.for_language(customer.preferred_language)
    if in_quiet_hours(now) or eligibility(template.channel, [customer.pk], now):
        return None
    address = _addresses(template.channel, [customer.pk])[customer.pk]
    try:
        message = Message.objects.create(key=key, customer=customer, channel=template.channel, address=address,
                                         template=template, status=MessageStatus.SENDING, queued_at=now)
    except IntegrityError:
        return Message.objects.get(key=key)
    try:
        connection = channels.smtp_connection() if template.channel == Channel.EMAIL else None
        _deliver(message, template, Customer.objects.select_related("owner").get(pk=customer.pk), connection)
    except (channels.DeliveryError, OSError) as exc:
        message.status, message.reason = MessageStatus.FAILED, str(exc)[:300]
        message.save(update_fields=["status", "reason"])
        return message
    message.status, message.sent_at = MessageStatus.SENT, timezone.now()
    message.save(update_fields=["status", "sent_at"])
    events.emit(events.MessageSent(customer_id=customer.pk, message_id=message.pk, campaign_id=None,
                                   channel=message.channel), actor=actor)
    return message


# ---------------------------------------------------------------- the recipient's own actions

def _message_by_token(token: str) -> Message:
    message = Message.objects.filter(token=token).first()
    if message is None:
        raise NotFound(_("Unknown link."))
    return message


@transaction.atomic
def message_open(*, token: str) -> Message:
    message = _message_by_token(token)
    if message.opened_at is None:
        Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=timezone.now())
        events.emit(events.MessageOpened(customer_id=message.customer_id, message_id=message.pk,
                                         campaign_id=message.campaign_id))
    return message


@transaction.atomic
def message_click(*, token: str, url: str) -> Message:
    message = _message_by_token(token)
    now = timezone.now()
    Message.objects.filter(pk=message.pk, clicked_at__isnull=True).update(clicked_at=now)
    Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=now)
    events.emit(events.MessageClicked(customer_id=message.customer_id, message_id=message.pk,
                                      campaign_id=message.campaign_id, url=url[:500]))
    return message


@transaction.atomic
def unsubscribe(*, token: str) -> Message:
    """One click (RFC 8058): suppress this channel for the customer; idempotent."""
    message = _message_by_token(token)
    _obj, created = Suppression.objects.get_or_create(customer_id=message.customer_id, channel=message.channel,
                                                      defaults={"reason": "unsubscribed"})
    if message.unsubscribed_at is None:
        Message.objects.filter(pk=message.pk).update(unsubscribed_at=timezone.now())
    if created:
        events.emit(events.CustomerUnsubscribed(customer_id=message.customer_id, channel=message.channel,
                                                message_id=message.pk))
    return message


@transaction.atomic
def suppression_add(*, actor, customer: Customer, channel: str, reason: str = "manual") -> Suppression:
    require(actor, Capability.CAMPAIGNS_SEND)
    if channel not in Channel.values:
        raise ValidationFailed(_("Validation failed"), errors={"channel": [_("Not a valid choice.")]})
    row, created = Suppression.objects.get_or_create(customer=customer, channel=channel,
                                                     defaults={"reason": reason[:100]})
    if created:
        events.emit(events.CustomerUnsubscribed(customer_id=customer.pk, channel=channel), actor=actor)
    return row




# ---------------------------------------------------------------- recommendations

def recommendations_rebuild(*, top: int = 20, min_count: int = 2) -> int:
    """Recompute ProductAffinity from every revenue order line (one basket per customer).
    Derived data, like a scoring run: replaced whole, no per-row event."""
    from valuecrm.engine import basket
    from valuecrm.marketing.models import ProductAffinity
    from valuecrm.marketing.selectors import basket_arrays

    customers, products = basket_arrays()
    rows = []
    if len(customers):
        model = basket.fit(customers, products, min_count=min_count)
        lift = model.lift.tocsr()
        for i in range(lift.shape[0]):
            start, end = lift.indptr[i], lift.indptr[i + 1]
            if start == end:
                continue
            cols, vals = lift.indices[start:end], lift.data[start:end]
            order = vals.argsort()[::-1][:top]
            for j in order:
                support = int(round(vals[j] * model.counts[i] * model.counts[cols[j]] / model.n_baskets))
                rows.append(ProductAffinity(product_id=int(model.items[i]), other_id=int(model.items[cols[j]]),
                                            lift=float(vals[j]), support=support))
    with transaction.atomic():
        ProductAffinity.objects.all().delete()
        ProductAffinity.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


# ---------------------------------------------------------------- uplift targeting

def uplift_scores(customer_ids: list[int], model: UpliftModel, *, now=None) -> dict:
    """customer id → (predicted uplift in ¥ of window revenue, uplift × current CLV)."""
    from valuecrm.insights.models import CustomerValue

    now = now or timezone.now()
    ids = sorted(customer_ids)
    x, _source = selectors.uplift_features(ids, now)
    predicted = uplift.TwoModel.from_json(model.params).predict(x)
    clv = dict(CustomerValue.objects.filter(customer_id__in=ids).values_list("customer_id", "clv"))
    return {cid: (float(p), float(p) * float(clv.get(cid) or 0)) for cid, p in zip(ids, predicted, strict=True)}


def uplift_top(customer_ids: list[int], model: UpliftModel, n: int, *, now=None) -> list[int]:
    """The top ``n`` by predicted uplift × CLV, ties by customer id (stable, reproducible)."""
    scores = uplift_scores(customer_ids, model, now=now)
    ids = np.array(sorted(scores), dtype=np.int64)
    order = uplift.rank(np.array([scores[int(c)][1] for c in ids]), ids)
    return sorted(int(c) for c in ids[order[:n]])


@transaction.atomic
def uplift_train(*, actor, now=None) -> UpliftModel:
    """Fit a two-model uplift estimate on every finished campaign but the latest, and
    evaluate it by a Qini curve on that latest one (a later campaign it never saw)."""
    require(actor, Capability.CAMPAIGNS_SEND)
    now = now or timezone.now()
    ready = selectors.uplift_readiness(now)
    if not ready["ready"]:
        msg = _("Needs at least two finished campaigns with a hold-out, and at least %(n)s treated and %(n)s "
                "control customers with outcomes both in the training campaigns and in the latest one.") % {
            "n": ready["min_per_group"]}
        raise ValidationFailed(msg, errors={"campaigns": [msg]})
    parts = [selectors.uplift_campaign_data(r["campaign"]) for r in ready["training"]]
    evaluation = ready["evaluation"]["campaign"]
    later = selectors.uplift_campaign_data(evaluation)
    x = np.vstack([p["x"] for p in parts])
    treated = np.concatenate([p["treated"] for p in parts])
    y = np.concatenate([p["y"] for p in parts])
    model = uplift.fit(x, treated, y)
    q = uplift.qini(model.predict(later["x"]), later["treated"], later["y"], ids=later["ids"])
    sources = {p["source"] for p in [*parts, later]}
    source = next(s for s in ("orders_only", "current", "snapshot") if s in sources)
    last = UpliftModel.objects.select_for_update().order_by("-version").first()
    row = UpliftModel.objects.create(
        version=(last.version + 1) if last else 1, trained_at=now, trained_by=actor,
        training_campaign_ids=[r["campaign"].pk for r in ready["training"]], evaluation_campaign=evaluation,
        n_train_treatment=int(treated.sum()), n_train_control=int((~treated).sum()),
        n_eval_treatment=q.n_treatment, n_eval_control=q.n_control, params=model.to_json(),
        feature_source=source, qini_coefficient=q.coefficient, auuc=q.auuc,
        qini_curve={"fractions": q.fractions, "curve": q.curve, "random": q.random})
    events.emit(events.UpliftModelTrained(model_id=row.pk, version=row.version,
                                          evaluation_campaign_id=evaluation.pk,
                                          qini_coefficient=q.coefficient), actor=actor)
    return row


# ---------------------------------------------------------------- A/B variants

AB_ALPHA = 0.05


@transaction.atomic
def ab_decide(*, campaign_id: int, now=None, actor=None, queue: bool = True) -> Campaign:
    """Choose an A/B campaign's winner on its test slice once the wait is over, by the
    stated criterion; when the variants do not differ significantly (χ² test, p ≥ 0.05)
    the default, variant A, wins and the decision says so. Then the rest is sent.
    Idempotent: a decided campaign is returned unchanged."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.ab_winner or not CampaignVariant.objects.filter(campaign=campaign).exists():
        return campaign
    if campaign.launched_at is None:
        raise Conflict(_("Launch the campaign first."))
    due = campaign.launched_at + dt.timedelta(hours=campaign.ab_wait_hours)
    if now < due:
        raise Conflict(_("The A/B test runs until %(t)s.") % {"t": timezone.localtime(due).strftime("%Y-%m-%d %H:%M")})
    table = selectors.ab_results(campaign, now=now)
    campaign.ab_winner = table["winner"]
    campaign.ab_decided_at = now
    campaign.ab_decision = {k: table[k] for k in ("criterion", "p_value", "significant", "best", "alpha")}
    campaign.save(update_fields=["ab_winner", "ab_decided_at", "ab_decision", "updated_at"])
    events.emit(events.CampaignVariantChosen(campaign_id=campaign.pk, winner=campaign.ab_winner,
                                             criterion=campaign.ab_criterion, significant=table["significant"],
                                             p_value=table["p_value"]), actor=actor)
    if queue:
        _queue_send(campaign.pk)
    return campaign


def ab_decide_due(now=None) -> int:
    """The worker's sweep: decide every A/B test whose wait is over (then they send the rest)."""
    now = now or timezone.now()
    n = 0
    pending = (Campaign.objects.filter(status=CampaignStatus.SENDING, ab_winner="", variants__isnull=False)
               .distinct().values_list("pk", "launched_at", "ab_wait_hours"))
    for pk, launched_at, hours in pending:
        if launched_at and launched_at + dt.timedelta(hours=hours) <= now:
            ab_decide(campaign_id=pk, now=now)
            n += 1
    return n
