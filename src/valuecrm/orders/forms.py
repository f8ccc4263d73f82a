"""Forms of the order and product pages. They parse and present input; the services
in orders.services decide what is valid, and their errors come back under the field
(or order line) they name through common.forms.ServiceErrorsMixin."""

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from valuecrm.common.forms import ServiceErrorsMixin
from valuecrm.orders.models import OrderChannel, OrderStatus, Product

MAX_LINES = 50


def _style(form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.HiddenInput):
            continue
        css = "form-check-input" if isinstance(widget, forms.CheckboxInput) else (
            "form-select" if isinstance(widget, forms.Select) else "form-control")
        widget.attrs.setdefault("class", css)


class OrderForm(ServiceErrorsMixin, forms.Form):
    customer_id = forms.IntegerField(widget=forms.HiddenInput)
    external_id = forms.CharField(
        label=_("Order number"), max_length=100, required=False,
        help_text=_("The shop's or till's number; leave empty to number it automatically."))
    channel = forms.ChoiceField(label=_("Channel"), choices=OrderChannel.choices, initial=OrderChannel.STORE)
    status = forms.ChoiceField(label=_("Status"), choices=OrderStatus.choices, initial=OrderStatus.PAID)
    placed_at = forms.DateTimeField(
        label=_("Placed at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
    currency = forms.CharField(label=_("Currency"), max_length=3, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].initial = settings.VALUECRM_CURRENCY
        self.fields["placed_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        _style(self)

    def to_service_data(self, lines: list[dict]) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        data["placed_at"] = self.cleaned_data["placed_at"].isoformat()
        data["lines"] = lines
        return data


class OrderLineForm(ServiceErrorsMixin, forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64, required=False,
                          widget=forms.TextInput(attrs={"list": "vc-product-skus", "autocomplete": "off"}))
    name = forms.CharField(label=_("Item"), max_length=200, required=False)
    quantity = forms.DecimalField(label=_("Quantity"), max_digits=12, decimal_places=3, required=False,
                                  min_value=0, widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))
    unit_price = forms.DecimalField(label=_("Unit price"), max_digits=14, decimal_places=2, required=False,
                                    min_value=0, widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
                                    help_text=_("Empty: the product's price."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _style(self)
        for field in self.fields.values():
            field.widget.attrs["class"] += " form-control-sm"

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(k) not in (None, "") for k in ("sku", "name", "quantity", "unit_price"))

    def to_service_line(self) -> dict:
        line = {}
        for key in ("sku", "name"):
            if self.cleaned_data.get(key):
                line[key] = self.cleaned_data[key]
        for key in ("quantity", "unit_price"):
            if self.cleaned_data.get(key) is not None:
                line[key] = str(self.cleaned_data[key])
        return line


OrderLineFormSet = forms.formset_factory(OrderLineForm, extra=0, max_num=MAX_LINES, validate_max=True,
                                         absolute_max=MAX_LINES)


class ProductForm(ServiceErrorsMixin, forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    category = forms.CharField(label=_("Category"), max_length=100, required=False,
                               widget=forms.TextInput(attrs={"list": "vc-categories", "autocomplete": "off"}))
    price = forms.DecimalField(label=_("Price"), max_digits=14, decimal_places=2, min_value=0,
                               widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}))
    unit_cost = forms.DecimalField(label=_("Unit cost"), max_digits=14, decimal_places=2, min_value=0,
                                   required=False, help_text=_("For margin and profit CLV."),
                                   widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}))
    currency = forms.CharField(label=_("Currency"), max_length=3, required=False)
    active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    def __init__(self, *args, instance: Product | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {k: getattr(instance, k) for k in
                                 ("sku", "name", "category", "price", "unit_cost", "currency", "active")}
        super().__init__(*args, **kwargs)
        self.fields["currency"].initial = self.fields["currency"].initial or settings.VALUECRM_CURRENCY
        _style(self)

    def to_service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["price"] = str(data["price"])
        data["unit_cost"] = str(data["unit_cost"]) if data.get("unit_cost") is not None else "0"
        data["currency"] = data.get("currency") or settings.VALUECRM_CURRENCY
        return data
