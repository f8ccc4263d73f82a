"""The loyalty programme: versioned rules, membership tiers, the append-only points
ledger with an account snapshot per member, and referrals.

A ledger row moves points between two buckets: ``points`` changes the available
balance, ``pending`` the points held in escrow until the order's return window
closes. Balance and pending are Σ of those columns; the account row is a snapshot
kept in the same transaction as every row and verified against the sum.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from valuecrm.common.models import TimeStampedModel


class Rounding(models.TextChoices):
    FLOOR = "floor", _("Round down")
    NEAREST = "nearest", _("Round to nearest")


class ExpiryMode(models.TextChoices):
    DAYS = "days", _("N days after earning")
    END_OF_NEXT_YEAR = "end_of_next_year", _("End of the following year")


class Program(models.Model):
    """One version of the programme's rules; the version in force on a day is the newest
    whose ``effective_from`` is on or before it, so past orders keep the rules they earned under."""

    effective_from = models.DateField(_("applies from"), default=timezone.localdate)
    enabled = models.BooleanField(_("programme enabled"), default=True)
    # Off: only enrolled members earn; on: a customer's first paid order enrols them.
    auto_enrol = models.BooleanField(_("enrol customers on their first paid order"), default=True)
    points_per_cny = models.DecimalField(_("points per CNY"), max_digits=8, decimal_places=3, default=Decimal("1"))
    rounding = models.CharField(_("rounding"), max_length=10, choices=Rounding.choices, default=Rounding.FLOOR)
    # {"茶叶": "2"}: points × multiplier for orders whose lines are in that category.
    category_multipliers = models.JSONField(_("category multipliers"), default=dict, blank=True)
    birthday_multiplier = models.DecimalField(_("birthday multiplier"), max_digits=4, decimal_places=2,
                                              default=Decimal("2"))
    first_order_bonus = models.PositiveIntegerField(_("first order bonus points"), default=100)
    point_value_cny = models.DecimalField(_("CNY value of one point"), max_digits=8, decimal_places=4,
                                          default=Decimal("0.01"))
    redeem_min_points = models.PositiveIntegerField(_("minimum points per redemption"), default=100)
    redeem_max_share = models.DecimalField(_("maximum share of an order paid with points"), max_digits=3,
                                           decimal_places=2, default=Decimal("0.50"))
    expiry_mode = models.CharField(_("expiry"), max_length=20, choices=ExpiryMode.choices,
                                   default=ExpiryMode.DAYS)
    expiry_days = models.PositiveIntegerField(_("expiry days"), default=365)
    escrow_days = models.PositiveIntegerField(_("escrow days (return window)"), default=7)
    tier_window_days = models.PositiveIntegerField(_("tier qualifying window (days)"), default=365)
    tier_grace_days = models.PositiveIntegerField(_("downgrade grace period (days)"), default=30)
    referral_referrer_points = models.PositiveIntegerField(_("referrer reward points"), default=200)
    referral_referee_points = models.PositiveIntegerField(_("referee reward points"), default=100)
    referral_monthly_cap = models.PositiveIntegerField(_("referral rewards per referrer per month"), default=5)
    vip_care_days = models.PositiveIntegerField(_("VIP care: a touch every N days"), default=30)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_from", "-id"]


class Tier(models.Model):
    """A membership level (普通/银卡/金卡/黑金), reached by qualifying points in the window."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=60)
    name_zh = models.CharField(_("name in Chinese"), max_length=60, blank=True, default="")
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    threshold = models.PositiveIntegerField(_("qualifying points"), default=0)
    multiplier = models.DecimalField(_("points multiplier"), max_digits=4, decimal_places=2, default=Decimal("1"))
    free_shipping = models.BooleanField(_("free shipping"), default=False)
    priority_service = models.BooleanField(_("priority service"), default=False)

    class Meta:
        ordering = ["rank"]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        from django.utils.translation import get_language

        if self.name_zh and (get_language() or "").lower().startswith("zh"):
            return self.name_zh
        return self.name


class Account(models.Model):
    """A member: the snapshot of the ledger sums, the tier and the referral code."""

    customer = models.OneToOneField("customers.Customer", on_delete=models.CASCADE, related_name="loyalty_account",
                                    verbose_name=_("customer"))
    enrolled_at = models.DateTimeField(_("enrolled at"), default=timezone.now)
    balance = models.IntegerField(_("available points"), default=0)
    pending = models.IntegerField(_("pending points"), default=0)
    lifetime_earned = models.IntegerField(_("lifetime earned"), default=0)
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("tier"))
    tier_since = models.DateTimeField(null=True, blank=True)
    # When the qualifying points first fell below the current tier: the grace clock.
    below_tier_since = models.DateTimeField(null=True, blank=True)
    override_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      verbose_name=_("manual tier (floor)"))
    override_until = models.DateField(_("manual tier until"), null=True, blank=True)
    referral_code = models.CharField(_("referral code"), max_length=12, unique=True)
    referred_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="referees")

    class Meta:
        indexes = [models.Index(fields=["tier"])]


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    RELEASE = "release", _("Pending → available")
    REDEEM = "redeem", _("Redeemed")
    EXPIRE = "expire", _("Expired")
    REVERSE = "reverse", _("Reversed (refund or cancel)")
    ADJUST = "adjust", _("Manual adjustment")
    REFERRAL = "referral", _("Referral reward")


class Entry(models.Model):
    """One movement of points. Rows are never updated or deleted."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(_("kind"), max_length=10, choices=EntryKind.choices)
    points = models.IntegerField(_("available points change"), default=0)
    pending = models.IntegerField(_("pending points change"), default=0)
    at = models.DateTimeField(_("at"), default=timezone.now)
    # A row that makes points available starts a lot; it expires then (FIFO order).
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # Earn rows in escrow: when they may be released.
    available_at = models.DateTimeField(null=True, blank=True)
    order_id = models.BigIntegerField(_("order"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=300, blank=True, default="")
    # The row this one settles: the earn row a release/reverse belongs to, the lot an expiry empties.
    source = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["account", "at"]),
                   models.Index(fields=["kind", "expires_at"]),
                   models.Index(fields=["kind", "available_at"])]
        constraints = [
            # Idempotence: one earn and one reversal per (order, kind of bonus), one release per
            # earn row, one expiry per lot, one redemption per (customer, reference).
            models.UniqueConstraint(fields=["kind", "order_id", "reference"], condition=Q(order_id__isnull=False),
                                    name="loyalty_entry_order_once"),
            models.UniqueConstraint(fields=["kind", "source"],
                                    condition=Q(source__isnull=False) & Q(kind__in=["release", "expire", "reverse"]),
                                    name="loyalty_entry_settles_once"),
            models.UniqueConstraint(fields=["account", "reference"], condition=Q(kind="redeem"),
                                    name="loyalty_redeem_reference_once"),
        ]


class ReferralStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    QUALIFIED = "qualified", _("First order placed")
    REWARDED = "rewarded", _("Rewarded")
    CLAWED_BACK = "clawed_back", _("Clawed back")
    REJECTED = "rejected", _("Rejected")


class Referral(TimeStampedModel):
    referrer = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="referrals_made")
    referee = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="referral")
    status = models.CharField(_("status"), max_length=12, choices=ReferralStatus.choices,
                              default=ReferralStatus.REGISTERED)
    order_id = models.BigIntegerField(_("first order"), null=True, blank=True)
    order_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    rewarded_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]


class CareReminder(models.Model):
    """A care task the VIP-care rule gave a VIP's care owner: at most one per VIP within the
    programme's care cadence, however often the schedule fires."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("customers.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["customer", "created_at"])]


class EarnWatermark(models.Model):
    """How far the import earn has looked: imported orders raise no order events (one
    import.finished per run), so loyalty credits every order past ``last_order_id`` when an
    order import finishes, and moves the mark in the same transaction."""

    IMPORTS = "imports"

    key = models.CharField(max_length=20, unique=True)
    last_order_id = models.BigIntegerField(default=0)
