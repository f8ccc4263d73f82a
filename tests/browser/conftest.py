"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

No browser is ever downloaded: Playwright launches the system Chromium. Every
page a test visits can be saved with `shoot(page, name)` under var/screenshots/.
Every page a test opens is watched for JavaScript errors (console errors and
uncaught exceptions); a test that leaves any behind fails at teardown.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make for set-up are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("VALUECRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
SCREENSHOTS = Path(os.environ.get("VALUECRM_SCREENSHOTS", "var/screenshots"))
PASSWORD = "pw-123456789"  # what tests/conftest.py's make_user gives every user


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (run `make system-deps`)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def js_errors():
    """Console errors and uncaught exceptions of every page the test opened.

    A test that expects one (a 404 page logs the failed load) removes it from the
    list itself; whatever is left fails the test at teardown.
    """
    errors: list[str] = []
    yield errors
    assert errors == [], f"JavaScript errors in the browser: {errors}"


@pytest.fixture
def new_page(browser, js_errors):
    """Open a page in a fresh browser context (own cookies): new_page(cookies={...})."""
    contexts = []

    def _new(cookies: dict | None = None, base_url: str | None = None):
        # Reduced motion: charts are drawn without animation, so a screenshot never
        # catches a line half-way through its entrance.
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US",
                                      reduced_motion="reduce")
        contexts.append(context)
        if cookies:
            context.add_cookies([{"name": k, "value": v, "url": base_url} for k, v in cookies.items()])
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        pg.on("console", lambda msg: js_errors.append(f"{pg.url}: {msg.text}") if msg.type == "error" else None)
        pg.on("pageerror", lambda exc: js_errors.append(f"{pg.url}: {exc}"))
        return pg

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def shoot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shoot(pg, name: str, full_page: bool = True):
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return _shoot


@pytest.fixture
def login(live_server):
    def _login(pg, username: str, password: str = PASSWORD):
        pg.goto(f"{live_server.url}/login/")
        pg.fill("input[name=username]", username)
        pg.fill("input[name=password]", password)
        # The language buttons above the card are submit buttons too.
        pg.click("form[action='/login/'] button[type=submit]")
        pg.wait_for_load_state("networkidle")
        assert "/login/" not in pg.url, f"login as {username} failed"

    return _login


# Data that migrations seed (default tiers, lost reasons, greeting templates). A live-server
# test runs on a transactional database that is flushed after each test, which deletes those
# rows too: put them back so every browser test starts from what a fresh install has.
SEEDING_MIGRATIONS = [
    ("valuecrm.loyalty.migrations.0002_default_tiers", "create"),
    ("valuecrm.deals.migrations.0002_default_lost_reasons", "add"),
    ("valuecrm.marketing.migrations.0002_greeting_templates", "seed"),
]


@pytest.fixture(autouse=True)
def _migration_seed_data(request):
    if "live_server" in request.fixturenames:
        import importlib

        from django.apps import apps

        request.getfixturevalue("transactional_db")
        for module, function in SEEDING_MIGRATIONS:
            getattr(importlib.import_module(module), function)(apps, None)
    yield
