"""What the customer 360 page shows beside the timeline: key facts, contact
points, addresses, consent, custom fields and related records.

Every part is one query (or none), independent of how many orders or contacts
the customer has; related records go through the visibility rule like any read.
"""

from dataclasses import dataclass, field

import phonenumbers
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.customers.extensions import registry
from valuecrm.customers.forms import custom_field_label
from valuecrm.customers.models import (
    Customer,
    CustomerKind,
    CustomFieldDefinition,
    CustomFieldType,
)
from valuecrm.customers.visibility import visible_customers

RELATED_LIMIT = 20
CONTACT_ICONS = {"email": "envelope", "phone": "telephone", "wechat": "wechat", "other": "at"}
CONSENT_CHANNELS = [
    ("consent_email", gettext_lazy("Email")),
    ("consent_sms", gettext_lazy("SMS")),
    ("consent_phone", gettext_lazy("Phone")),
    ("consent_wechat", gettext_lazy("WeChat")),
]


@dataclass(frozen=True)
class ContactLine:
    kind: str
    label: str
    value: str  # as stored (E.164 for phones)
    display: str  # as people read it
    href: str
    primary: bool

    @property
    def icon(self) -> str:
        return CONTACT_ICONS.get(self.kind, "at")


@dataclass(frozen=True)
class CustomFieldLine:
    key: str
    label: str
    display: str


@dataclass
class CustomerProfile:
    customer: Customer
    facts: dict  # key → what the app that registered the fact computed (customers.extensions)
    tags: list
    contacts: list[ContactLine]
    addresses: list
    consent: list[tuple[str, bool]]
    custom_fields: list[CustomFieldLine]
    company_visible: bool = False
    contact_persons: list[Customer] = field(default_factory=list)
    contact_persons_count: int = 0


def phone_display(value: str) -> str:
    """'+8613800138000' → '+86 138 0013 8000'; anything unparsable is shown as stored."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(number):
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _contact_line(kind: str, value: str, label: str, primary: bool) -> ContactLine:
    if kind == "phone":
        return ContactLine(kind, label, value, phone_display(value), f"tel:{value}", primary)
    if kind == "email":
        return ContactLine(kind, label, value, value, f"mailto:{value}", primary)
    return ContactLine(kind, label, value, value, "", primary)


def _custom_field_lines(customer: Customer) -> list[CustomFieldLine]:
    values = customer.custom_fields or {}
    lines = []
    for definition in CustomFieldDefinition.objects.all():
        value = values.get(definition.key)
        lines.append(CustomFieldLine(definition.key, custom_field_label(definition), _custom_display(definition, value)))
    return lines


def _custom_display(definition: CustomFieldDefinition, value) -> str:
    if value is None or value == "":
        return "—"
    kind = definition.field_type
    if kind == CustomFieldType.BOOLEAN:
        return _("Yes") if value else _("No")
    if kind == CustomFieldType.DATE:
        from django.utils.dateparse import parse_date

        parsed = parse_date(str(value))
        return formats.date_format(parsed, "DATE_FORMAT") if parsed else str(value)
    if kind == CustomFieldType.NUMBER:
        return formats.number_format(value, use_l10n=True)
    if kind == CustomFieldType.CHOICE:
        for choice in definition.choices or []:
            if isinstance(choice, dict) and str(choice.get("value")) == str(value):
                return str(choice.get("label") or value)
    return str(value)


def customer_profile(*, user, customer: Customer) -> CustomerProfile:
    """Everything for the 360 page except the timeline and history.

    The caller has already checked that `user` may see `customer`.
    """
    contacts: list[ContactLine] = []
    seen = set()
    if customer.email:
        contacts.append(_contact_line("email", customer.email, "", True))
        seen.add(("email", customer.email))
    if customer.phone:
        contacts.append(_contact_line("phone", customer.phone, "", True))
        seen.add(("phone", customer.phone))
    for point in customer.contact_points.all():
        if (point.kind, point.value) in seen:
            continue
        seen.add((point.kind, point.value))
        contacts.append(_contact_line(point.kind, point.value, point.label, point.is_primary))

    profile = CustomerProfile(
        customer=customer,
        facts={fact.key: fact.compute(customer) for fact in registry.profile_facts},
        tags=list(customer.tags.all()),
        contacts=contacts,
        addresses=list(customer.addresses.order_by("id")),
        consent=[(str(label), bool(getattr(customer, name))) for name, label in CONSENT_CHANNELS],
        custom_fields=_custom_field_lines(customer),
    )
    visible = visible_customers(user)
    if customer.kind == CustomerKind.ORGANIZATION:
        persons = visible.filter(company=customer).order_by("name")
        profile.contact_persons = list(persons[:RELATED_LIMIT])
        profile.contact_persons_count = (
            len(profile.contact_persons) if len(profile.contact_persons) < RELATED_LIMIT else persons.count()
        )
    elif customer.company_id:
        profile.company_visible = visible.filter(pk=customer.company_id).exists()
    return profile
