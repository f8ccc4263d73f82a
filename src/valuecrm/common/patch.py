"""The fields a PATCH body sets, with explicit nulls refused where they make no sense."""

from collections.abc import Iterable

from django.utils.translation import gettext as _
from ninja import Schema

from valuecrm.common.errors import ValidationFailed


def patch_data(payload: Schema, not_null: Iterable[str]) -> dict:
    """Only the fields the client sent; ``null`` for a field in ``not_null`` is a 422.

    PATCH schemas make every field optional, so ``None`` there cannot tell "not
    sent" from "clear it"; for a required or boolean column clearing is refused
    here, naming each such field, before anything is read or written.
    """
    data = payload.model_dump(exclude_unset=True)
    nulls = {key: [_("This field may not be null.")] for key in not_null
             if key in data and data[key] is None}
    if nulls:
        raise ValidationFailed(_("Validation failed"), errors=nulls)
    return data
