"""Two-step sign-in: required for administrators, optional for other roles; enrolment
with a server-drawn QR code; real TOTP codes (pyotp); recovery codes work once."""

import re
import time

import pyotp
import pytest
from django.test import Client

PASSWORD = "pw-123456789"


@pytest.fixture(autouse=True)
def admins_need_mfa(settings):
    settings.VALUECRM_MFA_REQUIRED_ROLES = frozenset({"admin"})


def _password_step(username) -> Client:
    client = Client(REMOTE_ADDR="10.0.0.5")
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:400]
    return client


def _secret(client) -> str:
    page = client.get("/security/mfa/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body  # the QR code, drawn on the server
    return re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', body).group(1).replace(" ", "")


def _enrol(client) -> tuple[str, list[str]]:
    secret = _secret(client)
    done = client.post("/security/mfa/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    return secret, codes


def _next_code(secret: str) -> str:
    # The code of the next 30-second step: the current one was used at enrolment and
    # django-otp refuses a code twice.
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_an_admin_must_enrol_before_anything_else(admin_user):
    client = _password_step("root")
    home = client.get("/customers/")
    assert home.status_code == 302 and home["Location"].startswith("/security/mfa/?next=")
    assert client.get("/admin/").status_code == 302
    # The half-signed-in session does not authenticate API calls either.
    assert client.get("/api/v1/customers").status_code == 401
    secret, codes = _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/customers/").status_code == 200
    assert client.get("/api/v1/customers").status_code == 200
    assert len(secret) == 32


def test_a_wrong_code_at_enrolment_is_refused_naming_the_field(admin_user):
    client = _password_step("root")
    _secret(client)
    response = client.post("/security/mfa/", {"code": "000000"})
    assert response.status_code == 422
    assert "That code is not right" in response.content.decode()
    assert client.get("/customers/").status_code == 302


def test_after_enrolment_every_sign_in_asks_for_a_code(admin_user):
    secret, _codes = _enrol(_password_step("root"))
    client = _password_step("root")
    assert client.get("/customers/")["Location"].startswith("/login/code/?next=")
    wrong = client.post("/login/code/", {"code": "123456", "next": "/customers/"})
    assert wrong.status_code == 422
    # Straight after a failure even the right code waits: the page says why.
    throttled = client.post("/login/code/", {"code": _next_code(secret), "next": "/customers/"})
    assert throttled.status_code == 422 and "Wait a few seconds" in throttled.content.decode()
    assert client.get("/customers/").status_code == 302
    time.sleep(2.1)  # django-otp throttles a device for 2^(n-1) s after n failures
    right = client.post("/login/code/", {"code": _next_code(secret), "next": "/customers/"})
    assert (right.status_code, right["Location"]) == (302, "/customers/")
    assert client.get("/customers/").status_code == 200


def test_a_recovery_code_works_once(admin_user):
    _secret_key, codes = _enrol(_password_step("root"))
    first = _password_step("root")
    assert first.post("/login/code/", {"code": codes[0]}).status_code == 302
    assert first.get("/customers/").status_code == 200
    second = _password_step("root")
    assert second.post("/login/code/", {"code": codes[0]}).status_code == 422
    time.sleep(1.1)
    assert second.post("/login/code/", {"code": codes[1].upper()}).status_code == 302
    assert second.get("/security/").content.decode().count("8 recovery codes are left") == 1


def test_a_rep_signs_in_without_a_code_and_may_opt_in_and_out(make_user):
    make_user("rep", role="sales_rep")
    client = _password_step("rep")
    assert client.get("/customers/").status_code == 200
    secret, _codes = _enrol(client)
    again = _password_step("rep")
    assert again.get("/customers/").status_code == 302
    assert again.post("/login/code/", {"code": _next_code(secret)}).status_code == 302
    assert again.post("/security/mfa/off/").status_code == 302
    assert _password_step("rep").get("/customers/").status_code == 200


def test_the_required_role_cannot_turn_it_off(admin_user):
    client = _password_step("root")
    _enrol(client)
    response = client.post("/security/mfa/off/", follow=True)
    assert "cannot be turned off" in response.content.decode()
    from django_otp import user_has_device

    assert user_has_device(admin_user)


def test_the_requirement_is_per_role(settings, make_user):
    settings.VALUECRM_MFA_REQUIRED_ROLES = frozenset({"admin", "sales_manager"})
    make_user("boss", role="sales_manager")
    make_user("rep", role="sales_rep")
    assert _password_step("boss").get("/customers/")["Location"].startswith("/security/mfa/")
    assert _password_step("rep").get("/customers/").status_code == 200


def test_a_superuser_of_any_role_counts_as_admin(make_user):
    make_user("owner", role="read_only", is_superuser=True)
    assert _password_step("owner").get("/customers/")["Location"].startswith("/security/mfa/")


def test_new_recovery_codes_replace_the_old(admin_user):
    client = _password_step("root")
    _secret_key, old = _enrol(client)
    page = client.post("/security/mfa/recovery-codes/")
    new = re.findall(r"<li><code>([a-z2-7]+)</code></li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    later = _password_step("root")
    assert later.post("/login/code/", {"code": old[0]}).status_code == 422
    time.sleep(1.1)
    assert later.post("/login/code/", {"code": new[0]}).status_code == 302
