"""Sign-in and security pages in a real browser: nothing is fetched from outside this
machine (Swagger UI included), no Content-Security-Policy violation on the main pages,
Alpine/htmx behaviours still work without eval, and screenshots of login, lockout, MFA
enrol/verify, password change/reset and 404 at 1440×900 and 390×844, en + 中文, light + dark."""

import re
import time
from urllib.parse import urlparse

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD

SIZES = {"desktop": {"width": 1440, "height": 900}, "mobile": {"width": 390, "height": 844}}
VARIANTS = [(size, lang, theme) for size in SIZES for lang in ("en", "zh-hans") for theme in ("light", "dark")]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Recorded inside the page (an init script is not subject to the page's CSP).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});
"""


@pytest.fixture
def open_context(browser, js_errors, live_server):
    """A browser context that refuses (and records) any request leaving this machine."""
    contexts, outside = [], []

    def _open(size="desktop", lang="en", theme="light"):
        context = browser.new_context(viewport=SIZES[size], locale="en-US", reduced_motion="reduce")
        context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url},
                             {"name": "theme", "value": theme, "url": live_server.url}])
        context.add_init_script(CSP_LISTENER)

        def guard(route):
            host = urlparse(route.request.url).hostname
            if host in LOCAL_HOSTS or route.request.url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        contexts.append(context)
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        pg.on("console", lambda m: js_errors.append(f"{pg.url}: {m.text}") if m.type == "error" else None)
        pg.on("pageerror", lambda exc: js_errors.append(f"{pg.url}: {exc}"))
        return pg

    yield _open
    for context in contexts:
        context.close()
    assert outside == [], f"requests left the machine: {outside}"


def _csp_violations(pg) -> list[str]:
    return pg.evaluate("window.__cspViolations || []")


def _sign_in(pg, base, username, password=PASSWORD):
    pg.goto(f"{base}/login/")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", password)
    pg.click("form[action='/login/'] button[type=submit]")
    pg.wait_for_load_state("networkidle")


def _take_404_console_lines(js_errors):
    for line in [e for e in js_errors if "404" in e]:
        js_errors.remove(line)


def test_main_pages_stay_on_this_machine_and_keep_the_csp(open_context, live_server, admin_user, js_errors):
    from valuecrm.customers.services import customer_create

    customer = customer_create(actor=admin_user, data={"name": "Alice Zhang", "kind": "person"})
    base = live_server.url
    pg = open_context()
    _sign_in(pg, base, "root")
    for path in ("/customers/", f"/customers/{customer.pk}/", "/customers/new/", "/value/", "/profile/",
                 "/security/", "/imports/", "/api/docs"):
        pg.goto(base + path)
        pg.wait_for_load_state("networkidle")
        assert _csp_violations(pg) == [], path
    # Swagger UI drew the API from the vendored files.
    expect(pg.locator(".swagger-ui .info .title")).to_contain_text("ValueCRM API")
    expect(pg.locator(".swagger-ui .opblock").first).to_be_visible()

    # Alpine (CSP build) and the htmx behaviours that replaced inline handlers still work.
    pg.goto(f"{base}/customers/{customer.pk}/")
    pg.click("button[aria-controls=quick-note]")
    expect(pg.locator("#quick-note")).to_be_visible()
    pg.fill("#quick-note textarea[name=body]", "Prefers WeChat.")
    with pg.expect_response(lambda r: r.request.method == "POST"):
        pg.click("#quick-note button[type=submit]")
    expect(pg.locator("#timeline")).to_contain_text("Prefers WeChat.")
    expect(pg.locator("#quick-note textarea[name=body]")).to_have_value("")
    pg.goto(f"{base}/customers/new/")
    pg.select_option("select[name=kind]", "organization")
    expect(pg.locator("input[name=job_title]")).to_be_hidden()
    assert _csp_violations(pg) == []


def test_login_and_404_pages_look_right(open_context, live_server, shoot, make_user, js_errors):
    from valuecrm.accounts.services import user_preferences_update

    user = make_user("lin", role="sales_rep")
    base = live_server.url
    for size, lang, theme in VARIANTS:
        pg = open_context(size, lang, theme)
        pg.goto(f"{base}/login/")
        expect(pg.locator("a[href='/password-reset/']")).to_be_visible()
        shoot(pg, f"security-login-{size}-{lang}-{theme}")
        pg.goto(f"{base}/password-reset/")
        shoot(pg, f"security-reset-{size}-{lang}-{theme}")
        user_preferences_update(user=user, language=lang, theme=theme)
        _sign_in(pg, base, "lin")
        response = pg.goto(f"{base}/no/such/page/")
        assert response.status == 404
        expect(pg.locator(".vc-error-page")).to_contain_text("页面不存在" if lang == "zh-hans" else "Page not found")
        shoot(pg, f"security-404-{size}-{lang}-{theme}")
        pg.goto(f"{base}/security/password/")
        shoot(pg, f"security-password-change-{size}-{lang}-{theme}")
        assert _csp_violations(pg) == []
        _take_404_console_lines(js_errors)


def test_mfa_pages_look_right_and_work(open_context, live_server, shoot, make_user, settings, js_errors):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from valuecrm.accounts.services import user_preferences_update

    settings.VALUECRM_MFA_REQUIRED_ROLES = frozenset({"admin"})
    newcomer = make_user("newadmin", role="admin")
    enrolled = make_user("oldadmin", role="admin")
    device = TOTPDevice.objects.create(user=enrolled, name="authenticator", confirmed=True)
    secret = pyotp.TOTP(__import__("base64").b32encode(device.bin_key).decode())
    base = live_server.url
    for size, lang, theme in VARIANTS:
        for user in (newcomer, enrolled):
            user_preferences_update(user=user, language=lang, theme=theme)
        pg = open_context(size, lang, theme)
        _sign_in(pg, base, "newadmin")
        assert "/security/mfa/" in pg.url
        expect(pg.locator("[data-testid=mfa-qr] svg")).to_be_visible()
        shoot(pg, f"security-mfa-enrol-{size}-{lang}-{theme}")
        pg = open_context(size, lang, theme)
        _sign_in(pg, base, "oldadmin")
        assert "/login/code/" in pg.url
        shoot(pg, f"security-mfa-verify-{size}-{lang}-{theme}")
        assert _csp_violations(pg) == []

    # The whole way through once: scan (read the key), confirm, recovery codes, signed in.
    for user in (newcomer, enrolled):
        user_preferences_update(user=user, language="en", theme="light")
    pg = open_context()
    _sign_in(pg, base, "newadmin")
    pg.click("[data-testid=mfa-qr] + details summary")
    key = pg.locator("[data-testid=mfa-secret]").inner_text().replace(" ", "")
    pg.fill("input[name=code]", pyotp.TOTP(key).now())
    pg.click("form[action='/security/mfa/'] button[type=submit]")
    expect(pg.locator("[data-testid=recovery-codes] li")).to_have_count(10)
    shoot(pg, "security-mfa-recovery-codes")
    pg.click("text=I have saved them")  # back to where the sign-in was going
    pg.wait_for_load_state("networkidle")
    assert pg.url.endswith("/customers/"), pg.url
    pg.goto(f"{base}/security/")
    expect(pg.locator("[data-testid=mfa-status]")).to_have_text("On")

    pg = open_context()
    _sign_in(pg, base, "oldadmin")
    pg.fill("input[name=code]", secret.at(time.time()))
    pg.click("form[action='/login/code/'] button[type=submit]")
    pg.wait_for_load_state("networkidle")
    assert re.search(r"/customers/$", pg.url), pg.url


def test_lockout_page_looks_right(open_context, live_server, shoot, make_user, js_errors):
    make_user("lin", role="sales_rep")
    base = live_server.url
    from axes.models import AccessAttempt

    for number, (size, lang, theme) in enumerate(VARIANTS):
        pg = open_context(size, lang, theme)
        # Ten failures lock the account out; the other variants then see the lockout page
        # on their first attempt (the lock holds until it is cleared below).
        for attempt in range(10 if number == 0 else 1):
            _sign_in(pg, base, "lin", password=f"wrong-{attempt}")
        expect(pg.locator("[data-testid=lockout-message]")).to_be_visible()
        assert pg.locator("[data-testid=lockout-message]").inner_text().startswith(
            "登录失败次数过多" if lang == "zh-hans" else "Too many failed sign-ins")
        shoot(pg, f"security-lockout-{size}-{lang}-{theme}")
        for line in [e for e in js_errors if "429" in e]:
            js_errors.remove(line)
    AccessAttempt.objects.all().delete()
