"""What loyalty adds to the customer pages (customers.extensions): the loyalty panel on the
360 page, list filters (member, membership tier, points), the palette entries and the
points-liability KPI card on the value dashboard."""

from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, Sum
from django.urls import reverse
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
    from valuecrm.loyalty.models import Tier

    code = raw.strip()
    if not Tier.objects.filter(code=code).exists():
        raise ValueError(_("Unknown membership tier."))
    return code


def _tier_q(code: str) -> Q:
    from valuecrm.loyalty.models import Account

    return Q(pk__in=Account.objects.filter(tier__code=code).values("customer_id"))


def _tier_choices(user):
    from valuecrm.loyalty.models import Tier

    return [(t.code, t.label) for t in Tier.objects.order_by("rank")]


def _tier_display(code: str) -> str:
    from valuecrm.loyalty.models import Tier

    tier = Tier.objects.filter(code=code).first()
    return tier.label if tier else code


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


def register() -> None:
    from valuecrm.customers.extensions import KpiCard, PaletteEntry, Panel, registry

    registry.add_panel(Panel("loyalty", "loyalty/_panel.html", context=_panel_context, order=30))
    registry.add_filters(_filters)
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
