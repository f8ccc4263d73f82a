"""What loyalty adds to the customer pages (customers.extensions): the loyalty panel on the
360 page, list columns (points, membership tier) and filters (member, membership tier,
points, VIP care due), the palette entries and the points-liability KPI card on the value
dashboard."""

from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


def _panel_context(request, customer):
    from valuecrm.loyalty.selectors import account_view, referral_stats

    try:
        value_tier = customer.value.tier
    except ObjectDoesNotExist:
        value_tier = ""
    return {"account": account_view(user=request.user, customer_id=customer.pk), "value_tier": value_tier,
            "referrals": referral_stats(customer.pk)}


def _member_q(value: bool) -> Q:
    from valuecrm.loyalty.models import Account

    q = Q(pk__in=Account.objects.values("customer_id"))
    return q if value else ~q


def _tier_parse(raw: str, user) -> str:
    """One tier code ("gold": tier is) or several, comma-separated ("gold,black": tier in)."""
    from valuecrm.loyalty.models import Tier

    codes = list(dict.fromkeys(c.strip() for c in raw.split(",") if c.strip()))
    known = set(Tier.objects.filter(code__in=codes).values_list("code", flat=True))
    if not codes or any(c not in known for c in codes):
        raise ValueError(_("Unknown membership tier."))
    return ",".join(codes)


def _tier_q(codes: str) -> Q:
    from valuecrm.loyalty.models import Account

    return Q(pk__in=Account.objects.filter(tier__code__in=codes.split(",")).values("customer_id"))


def _tier_choices(user):
    from valuecrm.loyalty.models import Tier

    return [(t.code, t.label) for t in Tier.objects.order_by("rank")]


def _tier_display(codes: str) -> str:
    from valuecrm.loyalty.models import Tier

    labels = {t.code: t.label for t in Tier.objects.filter(code__in=codes.split(","))}
    return ", ".join(labels.get(c, c) for c in codes.split(","))


def _points_parse(raw: str, user) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(_("Enter a whole number of points.")) from None
    if abs(value) > 10**9:
        raise ValueError(_("Enter a smaller number."))
    return value


def _points_min_q(value: int) -> Q:
    from valuecrm.loyalty.models import Account

    return Q(pk__in=Account.objects.filter(balance__gte=value).values("customer_id"))


def _expiring_q(value: bool) -> Q:
    import datetime as dt

    from django.utils import timezone

    from valuecrm.loyalty.models import Entry

    now = timezone.now()
    soon = Entry.objects.filter(points__gt=0, expires_at__gt=now, expires_at__lte=now + dt.timedelta(days=30))
    q = Q(pk__in=soon.values("account__customer_id"))
    return q if value else ~q


def _care_due_q(value: bool) -> Q:
    from valuecrm.customers.models import Customer
    from valuecrm.loyalty.selectors import care_due_q

    q = Q(pk__in=Customer.objects.filter(care_due_q()).values("pk"))
    return q if value else ~q


def _filters():
    from valuecrm.customers.filters import FilterSpec, boolean_filter

    return [
        boolean_filter("loyalty_member", gettext_lazy("Loyalty member"), _member_q),
        FilterSpec("membership_tier", gettext_lazy("Membership tier"), "select", _tier_parse, _tier_q,
                   _tier_display, _tier_choices),
        FilterSpec("points_min", gettext_lazy("Points at least"), "number", _points_parse, _points_min_q),
        boolean_filter("points_expiring", gettext_lazy("Points expiring in 30 days"), _expiring_q),
        boolean_filter("vip_care_due", gettext_lazy("VIP care due"), _care_due_q),
    ]


# ---------------------------------------------------------------- list columns

def _annotations() -> dict:
    """Points and tier of each row, as subqueries on the one account per customer."""
    from django.db.models import OuterRef, Subquery

    from valuecrm.loyalty.models import Account

    account = Account.objects.filter(customer=OuterRef("pk"))
    return {"loyalty_points": Subquery(account.values("balance")[:1]),
            "loyalty_tier_code": Subquery(account.values("tier__code")[:1]),
            "loyalty_tier_name": Subquery(account.values("tier__name")[:1]),
            "loyalty_tier_name_zh": Subquery(account.values("tier__name_zh")[:1])}


def _zh() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "").lower().startswith("zh")


def _tier_text(name: str | None, name_zh: str | None) -> str:
    return (name_zh if name_zh and _zh() else name) or ""


_DASH = mark_safe('<span class="text-body-tertiary">—</span>')  # noqa: S308 - constant markup


def _points_cell(customer):
    from django.utils.html import format_html

    points = getattr(customer, "loyalty_points", None)
    if points is None:
        return _DASH
    return format_html('<span class="{}">{}</span>', "text-danger" if points < 0 else "", f"{points:,}")


def _tier_cell(customer):
    from django.utils.html import format_html

    code = getattr(customer, "loyalty_tier_code", None)
    if not code:
        return _DASH
    return format_html('<a class="badge text-decoration-none text-bg-warning" href="?membership_tier={}">{}</a>',
                       code, _tier_text(customer.loyalty_tier_name, customer.loyalty_tier_name_zh))


def _columns():
    from valuecrm.customers.extensions import ListColumn

    return [
        ListColumn("loyalty_points", gettext_lazy("Points"), ("loyalty_account__balance",),
                   lambda r: "" if r["loyalty_account__balance"] is None else str(r["loyalty_account__balance"]),
                   cell=("text-end text-nowrap", _points_cell), annotations=_annotations),
        ListColumn("membership_tier", gettext_lazy("Membership tier"),
                   ("loyalty_account__tier__name", "loyalty_account__tier__name_zh"),
                   lambda r: _tier_text(r["loyalty_account__tier__name"], r["loyalty_account__tier__name_zh"]),
                   cell=("text-nowrap", _tier_cell), annotations=_annotations),
    ]


def _liability_card(user, start, end):
    from valuecrm.customers.visibility import visible_customers
    from valuecrm.loyalty.models import Account
    from valuecrm.loyalty.selectors import program_current

    accounts = Account.objects.filter(customer__in=visible_customers(user).values("pk"))
    if not accounts.exists():
        return None
    points = accounts.filter(balance__gt=0).aggregate(s=Sum("balance"))["s"] or 0
    return {"value": (Decimal(points) * program_current().point_value_cny).quantize(Decimal("0.01")),
            "kind": "money", "url": reverse("loyalty-dashboard"),
            "help": _("What the points members hold could be redeemed for.")}


def _referral_rate_card(user, start, end):
    """Members whose referral was rewarded in the period ÷ members (the KPI list's referral rate)."""
    from valuecrm.customers.visibility import visible_customers
    from valuecrm.loyalty.models import Account, Referral, ReferralStatus

    accounts = Account.objects.filter(customer__in=visible_customers(user).values("pk"))
    members = accounts.count()
    if not members:
        return None
    referrers = (Referral.objects.filter(referrer__in=accounts, status=ReferralStatus.REWARDED,
                                         rewarded_at__date__gte=start, rewarded_at__date__lte=end)
                 .values("referrer").distinct().count())
    return {"value": referrers / members, "kind": "percent", "url": reverse("loyalty-dashboard"),
            "help": _("Members who brought in a rewarded referral in the period ÷ members.")}


# ---------------------------------------------------------------- "refers others" (insights.reasons)

def _referrer_ids() -> set[int]:
    from valuecrm.loyalty.models import Referral, ReferralStatus

    return set(Referral.objects.filter(status=ReferralStatus.REWARDED).values_list("referrer__customer_id",
                                                                                  flat=True))


def _referral_detail(customer_id: int) -> str | None:
    """"2 referrals, ¥1,200.00 first-order revenue" — rewarded referrals only (a referral whose
    first order was refunded, or still in its return window, does not count)."""
    from django.utils.translation import ngettext

    from valuecrm.loyalty.selectors import referral_stats

    stats = referral_stats(customer_id)
    if stats["count"] < 1:
        return None
    return ngettext("%(n)s referral, ¥%(revenue)s first-order revenue",
                    "%(n)s referrals, ¥%(revenue)s first-order revenue", stats["count"]) % {
        "n": stats["count"], "revenue": f"{stats['revenue']:,.2f}"}


def register() -> None:
    from valuecrm.customers.extensions import KpiCard, PaletteEntry, Panel, registry
    from valuecrm.insights.reasons import ReasonProvider
    from valuecrm.insights.reasons import register as register_reason

    register_reason(ReasonProvider("loyalty_referrals", "referrals", _referrer_ids, _referral_detail))

    registry.add_panel(Panel("loyalty", "loyalty/_panel.html", context=_panel_context, order=30))
    registry.add_filters(_filters)
    for column in _columns():
        registry.add_column(column)
    registry.add_kpi_card(KpiCard("loyalty_liability", gettext_lazy("Points liability"), _liability_card,
                                  order=90))
    registry.add_kpi_card(KpiCard("loyalty_referral_rate", gettext_lazy("Referral rate"), _referral_rate_card,
                                  order=91))
    registry.add_palette_entry(PaletteEntry(
        "loyalty-dashboard", gettext_lazy("Loyalty dashboard"), "award",
        keywords="loyalty points members tiers 积分 会员 referrals"))
    registry.add_palette_entry(PaletteEntry(
        "loyalty-vip", gettext_lazy("VIP care"), "gem", keywords="vip care 专人客服 关怀 top customers"))
    registry.add_palette_entry(PaletteEntry(
        "loyalty-program", gettext_lazy("Loyalty programme settings"), "sliders",
        keywords="loyalty programme program rules earn redeem expiry escrow",
        allowed=lambda user: user.can("loyalty.manage")))
