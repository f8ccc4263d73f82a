"""Safe defaults for `valuecrm serve`: DEBUG off, a secret key of its own, the TLS
profile, `check --deploy` clean, and friendly error pages in both languages."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from valuecrm.config import secret_key

SRC = Path(__file__).resolve().parents[2] / "src"


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VALUECRM_", "DJANGO_"))}
    env.update(PYTHONPATH=str(SRC), DJANGO_SETTINGS_MODULE="valuecrm.config.settings",
               VALUECRM_DATA_DIR=str(tmp_path / "data"))
    env.update(extra)
    return env


def _settings_of(tmp_path, *names, **env):
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: repr(getattr(settings, n, None)) for n in {list(names)!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path, **env),
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    first = secret_key.load_or_create(tmp_path)
    again = secret_key.load_or_create(tmp_path)
    (tmp_path / "other").mkdir()
    other = secret_key.load_or_create(tmp_path / "other")
    path = tmp_path / "secret_key"
    assert first == again and first != other
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_key_file_with_a_wide_mode_is_narrowed(tmp_path):
    (tmp_path / "secret_key").write_text("k" * 60 + "\n")
    os.chmod(tmp_path / "secret_key", 0o644)
    assert secret_key.load_or_create(tmp_path) == "k" * 60
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_no_fixed_secret_key_in_the_code():
    code = "\n".join(p.read_text() for p in (SRC / "valuecrm/config").glob("*.py"))
    assert "insecure" not in code and "change-me" not in code


def test_debug_is_off_unless_asked_for_and_the_key_lands_in_the_data_dir(tmp_path):
    default = _settings_of(tmp_path, "DEBUG", "SECRET_KEY", "SESSION_COOKIE_AGE")
    assert default["DEBUG"] == "False"
    assert default["SESSION_COOKIE_AGE"] == str(12 * 3600)
    stored = (tmp_path / "data" / "secret_key").read_text().strip()
    assert default["SECRET_KEY"] == repr(stored)
    assert _settings_of(tmp_path, "DEBUG", VALUECRM_DEBUG="1")["DEBUG"] == "True"
    assert _settings_of(tmp_path, "SESSION_COOKIE_AGE", VALUECRM_SESSION_HOURS="2")["SESSION_COOKIE_AGE"] == "7200"
    # An explicit key wins and nothing else is read.
    assert _settings_of(tmp_path, "SECRET_KEY", VALUECRM_SECRET_KEY="x" * 60)["SECRET_KEY"] == repr("x" * 60)


def test_one_setting_turns_on_the_tls_profile(tmp_path):
    names = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
             "SECURE_PROXY_SSL_HEADER")
    off = _settings_of(tmp_path, *names)
    on = _settings_of(tmp_path, *names, VALUECRM_TLS="1")
    assert off == {"SESSION_COOKIE_SECURE": "False", "CSRF_COOKIE_SECURE": "False", "SECURE_SSL_REDIRECT": "False",
                   "SECURE_HSTS_SECONDS": "0", "SECURE_PROXY_SSL_HEADER": "None"}
    assert on == {"SESSION_COOKIE_SECURE": "True", "CSRF_COOKIE_SECURE": "True", "SECURE_SSL_REDIRECT": "True",
                  "SECURE_HSTS_SECONDS": str(365 * 24 * 3600),
                  "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')"}


def _check_deploy(tmp_path, **env):
    return subprocess.run([sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
                          env=_env(tmp_path, VALUECRM_ALLOWED_HOSTS="crm.example.com", **env),
                          capture_output=True, text=True, timeout=180)


def test_check_deploy_is_clean_in_the_production_profile(tmp_path):
    result = _check_deploy(tmp_path, VALUECRM_TLS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_tls(tmp_path):
    # The test above can fail: without the profile Django names what is missing.
    result = _check_deploy(tmp_path)
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr


def test_tls_profile_behaviour_behind_a_proxy(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    plain = Client().get("/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/login/"
    secure = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert secure.cookies["csrftoken"]["secure"] is True


@pytest.mark.parametrize(("language", "title", "text"), [
    ("en", "Page not found", "does not exist"),
    ("zh-hans", "页面不存在", "不存在"),
])
def test_unknown_url_gets_the_friendly_404(db, client, language, title, text):
    response = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE=language)
    body = response.content.decode()
    assert response.status_code == 404
    assert title in body and text in body
    assert "URLconf" not in body and "urlpatterns" not in body.lower() and "api/v1/" not in body


def test_404_for_a_signed_in_user_keeps_the_app_layout(client, admin_user):
    client.force_login(admin_user)
    body = client.get("/customers/999999999/").content.decode()
    assert 'class="vc-shell"' in body and "Page not found" in body


@pytest.mark.parametrize(("language", "text"), [("en", "Something went wrong"), ("zh-hans", "服务器出了点问题")])
def test_500_page_in_both_languages(rf, language, text):
    from django.utils import translation
    from django.views.defaults import server_error

    with translation.override(language):
        response = server_error(rf.get("/"))
    assert response.status_code == 500 and text in response.content.decode()
