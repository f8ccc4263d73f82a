"""Forms for the customer record pages.

Forms only parse and present input; the services decide what is valid and write.
A ValidationFailed from a service is mapped back onto the form's fields
(`form.add_service_errors`), so a bad phone number shows under the phone field.
"""

import re
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from valuecrm.accounts.models import Team
from valuecrm.common.forms import ServiceErrorsMixin as CommonServiceErrorsMixin
from valuecrm.customers.custom_fields import choice_values
from valuecrm.customers.models import (
    Customer,
    CustomerKind,
    CustomFieldDefinition,
    CustomFieldType,
    Direction,
    InteractionKind,
)
from valuecrm.customers.normalize import normalize_email, normalize_phone
from valuecrm.customers.visibility import visible_customers

CUSTOM_FIELD_PREFIX = "cf_"
# Service error keys that name a form field differently.
ERROR_KEY_TO_FIELD = {"owner_id": "owner", "team_id": "team", "company_id": "company", "assignee_id": "assignee"}
# Tags may be separated by ASCII or Chinese commas (，、) and semicolons.
TAG_SEPARATORS = re.compile(r"[,，、;；]")

CUSTOMER_MODEL_FIELDS = [
    "kind", "name", "company", "job_title", "email", "phone",
    "birthday", "gender", "age_band", "occupation", "income_band", "region", "city",
    "preferred_language", "acquisition_source", "acquisition_channel", "acquisition_cost",
    "owner", "team",
    "consent_email", "consent_sms", "consent_phone", "consent_wechat",
]
# Shown only for persons; an organisation has no job title, gender or age.
PERSON_ONLY_FIELDS = {"company", "job_title", "birthday", "gender", "age_band", "occupation", "income_band"}


def custom_field_label(definition: CustomFieldDefinition) -> str:
    if (get_language() or "").startswith("zh") and definition.label_zh:
        return definition.label_zh
    return definition.label


def parse_tags(text: str) -> list[str]:
    seen, tags = set(), []
    for part in TAG_SEPARATORS.split(text or ""):
        name = part.strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            tags.append(name)
    return tags


class ServiceErrorsMixin(CommonServiceErrorsMixin):
    def field_for_error_key(self, key: str) -> str | None:
        if key.startswith("custom_fields."):
            name = CUSTOM_FIELD_PREFIX + key.split(".", 1)[1]
        else:
            # "tags.2" → "tags"; "owner_id" → "owner"
            name = ERROR_KEY_TO_FIELD.get(key, key.split(".", 1)[0])
        return name if name in self.fields else None


class CustomerForm(ServiceErrorsMixin, forms.Form):
    tags = forms.CharField(
        label=_("tags"), required=False, max_length=1000,
        help_text=_("Separate tags with commas."),
    )

    def __init__(self, *args, user, customer: Customer | None = None, **kwargs):
        self.user = user
        self.customer = customer
        if customer is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(customer)
        super().__init__(*args, **kwargs)
        model_fields = forms.fields_for_model(Customer, fields=CUSTOMER_MODEL_FIELDS)
        for name in CUSTOMER_MODEL_FIELDS:
            self.fields[name] = model_fields[name]
        self.order_fields([*CUSTOMER_MODEL_FIELDS[:CUSTOMER_MODEL_FIELDS.index("acquisition_cost") + 1], "tags"])

        organisations = visible_customers(user).organizations().order_by("name")
        if customer is not None:
            organisations = organisations.exclude(pk=customer.pk)
        self.fields["company"].queryset = organisations
        if user.can_manage:
            self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
            self.fields["owner"].label_from_instance = lambda u: u.display_name
            self.fields["team"].queryset = Team.objects.order_by("name")
        else:
            # Assigning records is a manager's decision; the service defaults them.
            del self.fields["owner"], self.fields["team"]
        # The page hides person-only sections for organisations (Alpine state "kind").
        self.fields["kind"].widget.attrs["x-model"] = "kind"
        self.fields["acquisition_cost"].required = False
        self.fields["email"].widget = forms.EmailInput()
        self.fields["phone"].widget = forms.TextInput(attrs={"type": "tel", "inputmode": "tel"})
        self.fields["birthday"].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

        self.custom_definitions = list(CustomFieldDefinition.objects.all())
        for definition in self.custom_definitions:
            self.fields[CUSTOM_FIELD_PREFIX + definition.key] = self.custom_form_field(definition)
        self.style()

    # The service's own normalisers, so a bad e-mail or phone is reported in the same
    # round as every other field error instead of only after the form is otherwise valid.
    def clean_email(self):
        return normalize_email(self.cleaned_data.get("email"))

    def clean_phone(self):
        return normalize_phone(self.cleaned_data.get("phone"))

    @staticmethod
    def initial_from(customer: Customer) -> dict:
        initial = forms.model_to_dict(customer, fields=[f for f in CUSTOMER_MODEL_FIELDS if f != "tags"])
        initial["tags"] = ", ".join(t.name for t in customer.tags.all())
        for key, value in (customer.custom_fields or {}).items():
            initial[CUSTOM_FIELD_PREFIX + key] = value
        return initial

    @staticmethod
    def custom_form_field(definition: CustomFieldDefinition) -> forms.Field:
        common = {"label": custom_field_label(definition), "required": definition.required}
        kind = definition.field_type
        if kind == CustomFieldType.NUMBER:
            return forms.DecimalField(**common, max_digits=18, decimal_places=6)
        if kind == CustomFieldType.DATE:
            return forms.DateField(**common, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
        if kind == CustomFieldType.BOOLEAN:
            widget = forms.NullBooleanSelect()
            widget.choices = [("unknown", "—"), ("true", _("Yes")), ("false", _("No"))]
            return forms.NullBooleanField(**common, widget=widget)
        if kind == CustomFieldType.CHOICE:
            labels = {
                str(c.get("value", "")): str(c.get("label") or c.get("value", ""))
                for c in definition.choices or [] if isinstance(c, dict)
            }
            values = choice_values(definition)
            return forms.ChoiceField(**common, choices=[("", "—")] + [(v, labels.get(v, v)) for v in values])
        return forms.CharField(**common, max_length=1000)

    def style(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")

    @property
    def custom_bound_fields(self):
        return [self[CUSTOM_FIELD_PREFIX + d.key] for d in self.custom_definitions]

    @property
    def bound_owner_team(self):
        return [self[n] for n in ("owner", "team") if n in self.fields]

    def to_service_data(self) -> dict:
        """The cleaned input in the shape customer_create / customer_update take."""
        data = {}
        for name in CUSTOMER_MODEL_FIELDS:
            if name not in self.cleaned_data:
                continue
            value = self.cleaned_data[name]
            if name == "acquisition_cost" and value is None:
                data[name] = Decimal("0")
            elif name in ("company", "owner", "team"):
                data[f"{name}_id"] = value.pk if value is not None else None
            else:
                data[name] = value if value is not None else ("" if isinstance(self.fields[name], forms.CharField) else None)
        if data.get("kind") == CustomerKind.ORGANIZATION:
            # Those inputs are hidden for organisations; do not keep stale person data.
            for name in PERSON_ONLY_FIELDS:
                if name == "company":
                    data["company_id"] = None
                elif name in data:
                    data[name] = None if name == "birthday" else ""
        data["tags"] = parse_tags(self.cleaned_data.get("tags", ""))
        custom = {}
        for definition in self.custom_definitions:
            value = self.cleaned_data.get(CUSTOM_FIELD_PREFIX + definition.key)
            if value is None or value == "":
                custom[definition.key] = None  # removes the value
            elif definition.field_type == CustomFieldType.NUMBER:
                custom[definition.key] = str(value.normalize()) if value == value.to_integral_value() else str(value)
            elif definition.field_type == CustomFieldType.DATE:
                custom[definition.key] = value.isoformat()
            else:
                custom[definition.key] = value
        data["custom_fields"] = custom
        return data


def _styled(form: forms.Form) -> forms.Form:
    for field in form.fields.values():
        css = "form-select form-select-sm" if isinstance(field.widget, forms.Select) else "form-control form-control-sm"
        field.widget.attrs.setdefault("class", css)
    return form


class NoteForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(label=_("note"), max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _styled(self)


class InteractionForm(ServiceErrorsMixin, forms.Form):
    kind = forms.ChoiceField(label=_("type"), choices=InteractionKind.choices, initial=InteractionKind.CALL)
    direction = forms.ChoiceField(label=_("direction"), choices=Direction.choices, initial=Direction.OUTBOUND)
    occurred_at = forms.DateTimeField(
        label=_("occurred at"), required=False,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    subject = forms.CharField(label=_("subject"), max_length=200, required=False)
    body = forms.CharField(label=_("text"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _styled(self)


class TaskForm(ServiceErrorsMixin, forms.Form):
    title = forms.CharField(label=_("title"), max_length=200)
    due_at = forms.DateTimeField(
        label=_("due"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    description = forms.CharField(
        label=_("description"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
    )
    assignee = forms.TypedChoiceField(label=_("assign to"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, user=None, customer=None, **kwargs):
        from valuecrm.customers.followups import assignable_users

        super().__init__(*args, **kwargs)
        # Anyone the user can see who can also see the customer (services check it again).
        users = assignable_users(user, customer) if user is not None else []
        me = _("%(name)s (me)")
        self.fields["assignee"].choices = [
            (u.pk, me % {"name": u.display_name} if user is not None and u.pk == user.pk
             else u.display_name) for u in users]
        if user is not None:
            self.fields["assignee"].initial = user.pk
        if len(users) <= 1:
            self.fields["assignee"].widget = forms.HiddenInput()
        _styled(self)
