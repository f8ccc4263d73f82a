"""Money is Decimal with a currency; amounts are stored as DecimalField(14, 2)."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models

MONEY_DIGITS = 14
MONEY_PLACES = 2
CENT = Decimal("0.01")


def MoneyField(verbose_name=None, **kwargs):  # noqa: N802 - reads like a field class
    kwargs.setdefault("max_digits", MONEY_DIGITS)
    kwargs.setdefault("decimal_places", MONEY_PLACES)
    kwargs.setdefault("default", Decimal("0"))
    return models.DecimalField(verbose_name, **kwargs)


def CurrencyField(verbose_name=None, **kwargs):  # noqa: N802
    kwargs.setdefault("max_length", 3)
    kwargs.setdefault("default", default_currency)
    return models.CharField(verbose_name, **kwargs)


def default_currency() -> str:
    return settings.VALUECRM_CURRENCY


def quantize(amount) -> Decimal:
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)
