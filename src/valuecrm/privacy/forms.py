"""Forms of the privacy pages (validation of what the pages post; the services decide)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from valuecrm.privacy.models import Channel, ErasureReason, Purpose


class ConsentChangeForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    purpose = forms.ChoiceField(choices=Purpose.choices)
    granted = forms.TypedChoiceField(choices=[("1", _("Granted")), ("0", _("Withdrawn"))],
                                     coerce=lambda v: v == "1")


class EraseForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=ErasureReason.choices, initial=ErasureReason.REQUEST)
    confirm = forms.BooleanField(
        label=_("I understand that this cannot be undone."), required=True,
        error_messages={"required": _("Tick this box to confirm the erasure.")})


class ConsentTextForm(forms.Form):
    purpose = forms.ChoiceField(label=_("Purpose"), choices=Purpose.choices)
    body = forms.CharField(label=_("Wording (English)"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20000)
    body_zh = forms.CharField(label=_("Wording (中文)"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20000,
                              required=False)
