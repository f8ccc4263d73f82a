"""While another connection holds SQLite's write lock (a long import), an API read by a
token idle for an hour and a web sign-in still succeed at once: their bookkeeping
writes (last used, last login, axes' log) give up instead of waiting, and sessions are
not in the database. A real database file and a second connection, in a subprocess."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = textwrap.dedent("""
    import json, sqlite3, time
    from datetime import timedelta
    import django
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone
    call_command("migrate", verbosity=0)
    from valuecrm.accounts.models import ApiToken, User
    from valuecrm.accounts.services import api_token_create, user_create
    user = user_create(username="reader", password="pw-123456789", role="analyst")
    token, raw = api_token_create(user=user)
    hour_ago = timezone.now() - timedelta(hours=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=hour_ago)
    User.objects.filter(pk=user.pk).update(last_login=hour_ago)
    from django.conf import settings
    from django.db import connection
    Client().get("/login/")  # warm up: URLconf and API imports load before the clock starts
    connection.close()

    holder = sqlite3.connect(settings.DATABASES["default"]["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the long write: holds the write lock
    holder.execute("UPDATE accounts_team SET name = name")
    out = {}
    started = time.monotonic()
    api = Client().get("/api/v1/customers", HTTP_AUTHORIZATION="Bearer " + raw)
    out["api"] = [api.status_code, round(time.monotonic() - started, 2)]
    started = time.monotonic()
    web = Client(REMOTE_ADDR="10.0.0.5")
    login = web.post("/login/", {"username": "reader", "password": "pw-123456789"})
    page = web.get("/customers/")
    out["login"] = [login.status_code, page.status_code, round(time.monotonic() - started, 2)]
    out["last_used_during"] = ApiToken.objects.get(pk=token.pk).last_used_at == hour_ago
    holder.execute("ROLLBACK")
    Client().get("/api/v1/customers", HTTP_AUTHORIZATION="Bearer " + raw)
    out["last_used_after"] = ApiToken.objects.get(pk=token.pk).last_used_at > hour_ago
    print("RESULT " + json.dumps(out))
""")


def test_reads_and_sign_ins_do_not_wait_for_a_held_write_lock(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VALUECRM_", "DJANGO_", "DATABASE_URL"))}
    env.update(PYTHONPATH=str(SRC), DJANGO_SETTINGS_MODULE="valuecrm.config.settings",
               VALUECRM_DATA_DIR=str(tmp_path), VALUECRM_MFA_REQUIRED_ROLES="")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(line[0][7:])
    api_status, api_seconds = result["api"]
    login_status, page_status, login_seconds = result["login"]
    assert (api_status, login_status, page_status) == (200, 302, 200), result
    # The connection's busy timeout is 20 s; giving up takes milliseconds (the
    # margin is for a loaded machine, still far below one wait of the timeout).
    assert api_seconds < 10 and login_seconds < 10, result
    assert result["last_used_during"] is True  # skipped while locked…
    assert result["last_used_after"] is True  # …and written by the next read
