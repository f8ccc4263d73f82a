import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def run_after_commit(django_capture_on_commit_callbacks):
    """Run `fn()` and deliver the events it emits (and what the rules then emit) as after a commit."""

    def _run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return _run


@pytest.fixture
def make_rule(admin_user):
    from valuecrm.automation.services import rule_create

    def _make(**data):
        data.setdefault("name", "rule")
        data.setdefault("enabled", True)
        return rule_create(actor=admin_user, data=data)

    return _make
