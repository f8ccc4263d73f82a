"""Shared fixtures: users in roles and teams, and a logged-in API client."""

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run (CI must not pass or fail by luck);
# the example database stays off so a clean clone and a developer's checkout agree.
hypothesis_settings.register_profile("valuecrm", derandomize=True, database=None)
hypothesis_settings.load_profile("valuecrm")


@pytest.fixture(autouse=True)
def english_by_default():
    """Each test starts in English: a page rendered in 中文 by an earlier test leaves
    that language active in the thread (the test client never deactivates it)."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def huey_immediate():
    """Run background jobs inline in every test: a test sees the job's effect and
    nothing reaches the real queue in VALUECRM_DATA_DIR.

    Set on the Huey instance because the settings are already loaded when this
    file is imported (pytest-django configures Django first), so an environment
    variable set here would come too late. Request it by name to get the instance.
    """
    from huey.contrib.djhuey import HUEY

    before = HUEY.immediate
    HUEY.immediate = True
    yield HUEY
    HUEY.immediate = before


@pytest.fixture(autouse=True)
def job_locks_per_test_worker(settings, tmp_path_factory):
    """Job locks (common/locks.py: file locks on SQLite) in a folder of this pytest worker:
    parallel workers share VALUECRM_DATA_DIR but not a database, and one's scoring run
    must not make another's answer "already running"."""
    settings.VALUECRM_LOCK_DIR = tmp_path_factory.getbasetemp() / "locks"


@pytest.fixture(autouse=True)
def mfa_not_required(settings):
    """Most tests sign users in with force_login and no authenticator: the second step
    is required only where a test asks for it (tests/security/ sets it back)."""
    settings.VALUECRM_MFA_REQUIRED_ROLES = frozenset()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 costs ~60 ms a hash, and every made user and every sign-in hashes: tests use
    MD5. tests/accounts/test_tokens.py checks that the real settings keep Argon2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team_north(db):
    from valuecrm.accounts.models import Team

    return Team.objects.create(name="North")


@pytest.fixture
def team_south(db):
    from valuecrm.accounts.models import Team

    return Team.objects.create(name="South")


@pytest.fixture
def make_user(db):
    from valuecrm.accounts.services import user_create

    def _make(username, role="sales_rep", team=None, password="pw-123456789", **kw):
        return user_create(username=username, password=password, role=role, team=team, **kw)

    return _make


@pytest.fixture
def admin_user(make_user):
    return make_user("root", role="admin", is_superuser=True)


@pytest.fixture
def rep_north(make_user, team_north):
    return make_user("rep_north", role="sales_rep", team=team_north)


@pytest.fixture
def rep_south(make_user, team_south):
    return make_user("rep_south", role="sales_rep", team=team_south)


@pytest.fixture
def manager_north(make_user, team_north):
    return make_user("mgr_north", role="sales_manager", team=team_north)


@pytest.fixture
def api_client_for():
    """Django test client that sends a fresh Bearer token for the given user."""
    from django.test import Client

    from valuecrm.accounts.services import api_token_create

    def _client(user):
        _, raw = api_token_create(user=user, name="test")
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return _client


@pytest.fixture
def event_recorder():
    """Subscribe a recorder to the outbox: `record = event_recorder("customer.created", …)`
    gives the list the delivered envelopes are appended to (all names when none given)."""
    from valuecrm.common import events

    keys = []

    def _record(*names, inline=True, fail=False):
        seen = []

        def handle(envelopes):
            if fail:
                raise RuntimeError("subscriber bug")
            seen.extend(envelopes)

        key = f"test-recorder-{len(keys)}"
        keys.append(key)
        events.subscribe(key, handle, interests=frozenset(names) if names else None, inline=inline)
        return seen

    yield _record
    for key in keys:
        events.unsubscribe(key)
