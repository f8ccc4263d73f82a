"""Validating Customer.custom_fields against the admin's CustomFieldDefinition rows.

Values are stored JSON-native so that filters can compare them in the database:
text → str, number → int or float, date → "YYYY-MM-DD", boolean → bool,
choice → one of the definition's choice values.
"""

import datetime
import math
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from valuecrm.common.errors import ValidationFailed
from valuecrm.customers.models import CustomFieldDefinition, CustomFieldType

TEXT_MAX_LENGTH = 1000
_TRUE = {"true", "1", "yes", "y", "on", "是"}
_FALSE = {"false", "0", "no", "n", "off", "否"}


def choice_values(definition: CustomFieldDefinition) -> list[str]:
    """Choices may be stored as plain strings or as {"value": ..., "label": ...} objects."""
    values = []
    for choice in definition.choices or []:
        if isinstance(choice, dict):
            values.append(str(choice.get("value", "")))
        else:
            values.append(str(choice))
    return values


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_value(definition: CustomFieldDefinition, value):
    """One value → its stored form; raises ValueError with a user-facing message."""
    kind = definition.field_type
    if kind == CustomFieldType.TEXT:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(_("Enter text."))
        text = str(value).strip()
        if len(text) > TEXT_MAX_LENGTH:
            raise ValueError(_("Enter at most %(n)d characters.") % {"n": TEXT_MAX_LENGTH})
        if "\x00" in text:
            raise ValueError(_("Null characters are not allowed."))
        return text
    if kind == CustomFieldType.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValueError(_("Enter a number."))
        if number == number.to_integral_value():
            return int(number)
        as_float = float(number)
        if not math.isfinite(as_float):
            raise ValueError(_("Enter a number."))
        return as_float
    if kind == CustomFieldType.DATE:
        if isinstance(value, datetime.datetime):
            return value.date().isoformat()
        if isinstance(value, datetime.date):
            return value.isoformat()
        try:
            parsed = parse_date(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(_("Enter a date as YYYY-MM-DD."))
        return parsed.isoformat()
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(_("Enter yes or no."))
    if kind == CustomFieldType.CHOICE:
        allowed = choice_values(definition)
        text = str(value).strip()
        if isinstance(value, bool | dict | list) or text not in allowed:
            raise ValueError(
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(allowed)}
            )
        return text
    raise ValueError(_("Unsupported field type."))


def clean_custom_fields(values: dict | None, *, existing: dict | None = None) -> dict:
    """Validate `values` (merged over `existing`, for partial updates) and return the
    complete cleaned dict to store.

    Unknown keys, wrong types, bad choices and missing required fields raise
    ValidationFailed with errors keyed "custom_fields.<key>". A null or blank value
    removes the key.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationFailed(
            _("Validation failed"), errors={"custom_fields": [_("Expected an object.")]}
        )
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    merged = dict(existing or {})
    merged.update(values)
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for key, value in merged.items():
        definition = definitions.get(key)
        if definition is None:
            # Keys left over from a since-deleted definition are kept untouched on
            # update; only newly sent unknown keys are an error.
            if key in values:
                errors[f"custom_fields.{key}"] = [_("Unknown custom field.")]
            else:
                cleaned[key] = value
            continue
        if _is_empty(value):
            continue
        try:
            cleaned[key] = clean_value(definition, value)
        except ValueError as exc:
            errors[f"custom_fields.{key}"] = [str(exc)]
    for key, definition in definitions.items():
        if definition.required and key not in cleaned and f"custom_fields.{key}" not in errors:
            errors[f"custom_fields.{key}"] = [_("This field is required.")]
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)
    return cleaned
