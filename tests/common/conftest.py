import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English; an earlier test elsewhere may leave Chinese active."""
    with translation.override("en"):
        yield
