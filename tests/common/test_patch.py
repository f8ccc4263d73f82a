import pytest
from ninja import Schema

from valuecrm.common.errors import ValidationFailed
from valuecrm.common.patch import patch_data


class ThingPatch(Schema):
    name: str | None = None
    active: bool | None = None
    note: str | None = None


def test_only_sent_fields_and_allowed_nulls_come_back():
    assert patch_data(ThingPatch(), ("name", "active")) == {}
    assert patch_data(ThingPatch(note=None, active=False), ("name", "active")) == {"note": None, "active": False}


def test_every_refused_null_is_named():
    with pytest.raises(ValidationFailed) as caught:
        patch_data(ThingPatch(name=None, active=None, note=None), ("name", "active"))
    assert caught.value.errors == {"name": ["This field may not be null."],
                                   "active": ["This field may not be null."]}
