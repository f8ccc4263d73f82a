"""Login throttling (django-axes): an address is locked after 10 failures, a username
after 50 from anywhere; the real user is not locked out by one attacker; behind a proxy
the client address comes from the proxy's own X-Forwarded-For entry, so forging the
header does not help."""

import pytest
from django.test import Client, RequestFactory

from valuecrm.accounts.lockout import client_ip

PASSWORD = "pw-123456789"


@pytest.fixture
def alice(make_user):
    return make_user("alice", role="sales_rep")


@pytest.fixture
def bob(make_user):
    return make_user("bob", role="sales_rep")


def _login(username, password, *, ip="10.0.0.66", path="/login/", **headers):
    client = Client(REMOTE_ADDR=ip)
    return client.post(path, {"username": username, "password": password}, **headers)


def _signed_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


def test_thirty_wrong_passwords_then_the_right_one_is_refused(alice):
    statuses = [_login("alice", f"wrong-{i}").status_code for i in range(30)]
    assert statuses[:9] == [200] * 9  # the form again, with its error
    assert set(statuses[9:]) == {429}
    right = _login("alice", PASSWORD)
    assert right.status_code == 429
    body = right.content.decode()
    assert "Too many failed sign-ins" in body and "15 minutes" in body


def test_admin_login_is_locked_too(admin_user):
    for i in range(30):
        _login("root", f"wrong-{i}", path="/admin/login/")
    response = _login("root", PASSWORD, path="/admin/login/")
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()


def test_lockout_message_in_chinese(alice):
    for i in range(10):
        _login("alice", f"wrong-{i}")
    body = _login("alice", PASSWORD, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "登录失败次数过多" in body


def test_one_attacker_cannot_lock_everyone_out(alice, bob):
    for i in range(30):
        _login("alice" if i % 2 else "bob", f"wrong-{i}", ip="203.0.113.9")
    assert _login("alice", PASSWORD, ip="203.0.113.9").status_code == 429
    # The real users, from their own addresses, still get in.
    assert _signed_in(_login("alice", PASSWORD, ip="198.51.100.7"))
    assert _signed_in(_login("bob", PASSWORD, ip="198.51.100.8"))


def test_a_username_attacked_from_many_addresses_is_locked(alice):
    for i in range(50):
        _login("alice", f"wrong-{i}", ip=f"192.0.2.{i + 1}")
    assert _login("alice", PASSWORD, ip="198.51.100.7").status_code == 429
    # Only that username: others keep signing in from the same places.


def test_forty_nine_spread_out_failures_do_not_lock_the_username(alice):
    for i in range(49):
        _login("alice", f"wrong-{i}", ip=f"192.0.2.{i + 1}")
    assert _signed_in(_login("alice", PASSWORD, ip="198.51.100.7"))


def test_a_spoofed_forwarded_for_does_not_bypass_the_lock_behind_a_proxy(settings, alice):
    settings.VALUECRM_PROXY_COUNT = 1
    proxy = "10.1.1.1"
    for i in range(30):
        # The attacker (203.0.113.9) writes a different fake address each time; our proxy
        # appends the address it really saw.
        _login("alice", f"wrong-{i}", ip=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.9")
    assert _login("alice", PASSWORD, ip=proxy,
                  HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.9").status_code == 429
    # Another user behind the same proxy is a different client.
    assert _signed_in(_login("alice", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7"))


def test_without_a_proxy_the_forwarded_for_header_is_ignored(settings, alice):
    settings.VALUECRM_PROXY_COUNT = 0
    for i in range(10):
        _login("alice", f"wrong-{i}", ip="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    assert _login("alice", PASSWORD, ip="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.200").status_code == 429


@pytest.mark.parametrize(("count", "forwarded", "expected"), [
    (0, "1.1.1.1", "10.0.0.1"),
    (1, "", "10.0.0.1"),
    (1, "6.6.6.6, 2.2.2.2", "2.2.2.2"),
    (2, "6.6.6.6, 2.2.2.2, 10.9.9.9", "2.2.2.2"),
    (2, "2.2.2.2", "2.2.2.2"),
])
def test_client_ip_counts_proxies_from_the_right(settings, count, forwarded, expected):
    settings.VALUECRM_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_a_successful_sign_in_clears_earlier_failures(alice):
    for i in range(9):
        _login("alice", f"wrong-{i}")
    assert _signed_in(_login("alice", PASSWORD))
    for i in range(9):
        assert _login("alice", f"again-{i}").status_code == 200
