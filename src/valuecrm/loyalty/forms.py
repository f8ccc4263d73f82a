"""The programme settings form: cleans what a person typed, the service validates again."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.loyalty.models import ExpiryMode, Rounding

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}


def _int(label, help_text="", maximum=100_000):
    return forms.IntegerField(label=label, min_value=0, max_value=maximum, help_text=help_text,
                              widget=forms.NumberInput(attrs=_TEXT))


def _dec(label, help_text="", maximum=1000, places=4):
    return forms.DecimalField(label=label, min_value=Decimal("0"), max_value=Decimal(maximum), decimal_places=places,
                              help_text=help_text, widget=forms.NumberInput(attrs={**_TEXT, "step": "any"}))


class ProgramForm(forms.Form):
    effective_from = forms.DateField(label=gettext_lazy("Applies from"), widget=forms.DateInput(
        format="%Y-%m-%d", attrs={**_TEXT, "type": "date"}), help_text=gettext_lazy("Orders placed from this day earn under these rules."))
    enabled = forms.BooleanField(label=gettext_lazy("Programme enabled"), required=False)
    auto_enrol = forms.BooleanField(label=gettext_lazy("Enrol customers on their first paid order"), required=False)
    points_per_cny = _dec(gettext_lazy("Points per CNY paid"), places=3)
    rounding = forms.ChoiceField(label=gettext_lazy("Rounding"), choices=Rounding.choices,
                                 widget=forms.Select(attrs=_SELECT))
    category_multipliers = forms.CharField(
        label=gettext_lazy("Category multipliers"), required=False,
        help_text=gettext_lazy("One per line: category = multiplier, e.g. 茶叶 = 2"),
        widget=forms.Textarea(attrs={**_TEXT, "rows": 3}))
    birthday_multiplier = _dec(gettext_lazy("Birthday multiplier"), gettext_lazy("Orders on the birthday earn × this."),
                               maximum=10, places=2)
    first_order_bonus = _int(gettext_lazy("First order bonus (points)"))
    point_value_cny = _dec(gettext_lazy("CNY value of one point"), maximum=100)
    redeem_min_points = _int(gettext_lazy("Minimum points per redemption"))
    redeem_max_share = _dec(gettext_lazy("Maximum share of an order paid with points (0–1)"), maximum=1, places=2)
    expiry_mode = forms.ChoiceField(label=gettext_lazy("Points expire"), choices=ExpiryMode.choices,
                                    widget=forms.Select(attrs=_SELECT))
    expiry_days = _int(gettext_lazy("Expiry days"), gettext_lazy("Used when points expire N days after earning."))
    escrow_days = _int(gettext_lazy("Escrow days (return window)"),
                       gettext_lazy("Points stay pending this long after the order."))
    tier_window_days = _int(gettext_lazy("Tier qualifying window (days)"))
    tier_grace_days = _int(gettext_lazy("Downgrade grace period (days)"))
    referral_referrer_points = _int(gettext_lazy("Referrer reward (points)"))
    referral_referee_points = _int(gettext_lazy("Referred customer reward (points)"))
    referral_monthly_cap = _int(gettext_lazy("Referral rewards per referrer per month"))
    vip_care_days = _int(gettext_lazy("VIP care: a touch every N days"))

    def clean_category_multipliers(self) -> dict:
        out = {}
        for number, line in enumerate(self.cleaned_data["category_multipliers"].splitlines(), start=1):
            if not line.strip():
                continue
            category, sep, raw = line.rpartition("=")
            try:
                value = Decimal(raw.strip())
            except ArithmeticError:
                value = None
            if not sep or not category.strip() or value is None or not value.is_finite() or value < 0:
                raise forms.ValidationError(_("Line %(n)s: write category = multiplier.") % {"n": number})
            out[category.strip()] = str(value)
        return out

    @staticmethod
    def initial_from(program) -> dict:
        data = {name: getattr(program, name) for name in ProgramForm.base_fields if name != "category_multipliers"}
        data["category_multipliers"] = "\n".join(f"{k} = {v}" for k, v in (program.category_multipliers or {}).items())
        return data


class RedeemForm(forms.Form):
    points = forms.IntegerField(label=gettext_lazy("Points"), min_value=1, widget=forms.NumberInput(attrs=_TEXT))
    reference = forms.CharField(label=gettext_lazy("Reference (order or voucher number)"), max_length=100,
                                widget=forms.TextInput(attrs=_TEXT))


class AdjustForm(forms.Form):
    points = forms.IntegerField(label=gettext_lazy("Points (negative to deduct)"),
                                widget=forms.NumberInput(attrs=_TEXT))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300, widget=forms.TextInput(attrs=_TEXT))
