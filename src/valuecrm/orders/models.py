"""Products and orders. Orders carry their own totals so value summaries are one scan."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from valuecrm.common.models import TimeStampedModel
from valuecrm.common.money import CurrencyField, MoneyField
from valuecrm.customers.visibility import AboutCustomerQuerySet


class Product(TimeStampedModel):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=100, blank=True, default="", db_index=True)
    price = MoneyField(_("price"))
    unit_cost = MoneyField(_("unit cost"))
    currency = CurrencyField(_("currency"))
    active = models.BooleanField(pgettext_lazy("product", "active"), default=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self):
        return f"{self.sku} {self.name}"


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    FULFILLED = "fulfilled", _("Fulfilled")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


# Orders that count as revenue for value models.
REVENUE_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)


class OrderChannel(models.TextChoices):
    ONLINE = "online", _("Online shop")
    STORE = "store", _("Store")
    PHONE = "phone", _("Phone")
    MARKETPLACE = "marketplace", _("Marketplace")
    WECHAT = "wechat", _("WeChat mini-program")
    SALES = "sales", _("Sales team")
    OTHER = "other", _("Other")


class OrderQuerySet(AboutCustomerQuerySet):
    def revenue(self):
        return self.filter(status__in=REVENUE_STATUSES)


class Order(TimeStampedModel):
    # No index of its own: the (customer, placed_at) index below serves every lookup by
    # customer, and a third randomly-ordered index would slow large order imports.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="orders",
        verbose_name=_("customer"), db_index=False,
    )
    # (source, external_id) makes ingestion idempotent: a shop re-sending an order is a no-op.
    source = models.CharField(_("source"), max_length=50, default="manual")
    external_id = models.CharField(_("external id"), max_length=100)
    channel = models.CharField(
        _("channel"), max_length=20, choices=OrderChannel.choices, default=OrderChannel.ONLINE
    )
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.PAID
    )
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    currency = CurrencyField(_("currency"))
    total_amount = MoneyField(_("total"))
    total_cost = MoneyField(_("cost"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="order_source_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["customer", "placed_at"]),
            models.Index(fields=["placed_at"]),
        ]

    @property
    def gross_margin(self):
        return self.total_amount - self.total_cost

    def __str__(self):
        return f"{self.source}:{self.external_id}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines"
    )
    sku = models.CharField(_("SKU"), max_length=64, blank=True, default="")
    name = models.CharField(_("name"), max_length=200, blank=True, default="")
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3, default=1)
    unit_price = MoneyField(_("unit price"))
    unit_cost = MoneyField(_("unit cost"))

    class Meta:
        ordering = ["id"]

    @property
    def line_total(self):
        return self.quantity * self.unit_price
