"""Django's password validators on every path (service, CLI, change, reset), the
password change page and reset by e-mail, in English and 中文."""

import re

import pytest
from django.core import mail
from django.test import Client
from typer.testing import CliRunner

from valuecrm.common.errors import ValidationFailed

PASSWORD = "pw-123456789"


@pytest.mark.parametrize("weak", ["a", "password123", "1234567890123", "alice-smith"])
def test_user_create_refuses_weak_passwords_naming_the_field(db, weak):
    from valuecrm.accounts.services import user_create

    with pytest.raises(ValidationFailed) as exc:
        user_create(username="alice-smith", password=weak, email="alice@example.com")
    assert list(exc.value.errors) == ["password"]


def test_createadmin_rejects_a_weak_password_with_a_clear_message(db):
    from valuecrm.accounts.models import User
    from valuecrm.cli import app

    result = CliRunner().invoke(app, ["createadmin", "--username", "boss", "--password", "a"])
    assert result.exit_code == 2
    assert "Password refused: This password is too short. It must contain at least 10 characters." in result.output
    assert not User.objects.filter(username="boss").exists()
    ok = CliRunner().invoke(app, ["createadmin", "--username", "boss", "--password", "Correct-Horse-42"])
    assert ok.exit_code == 0 and User.objects.get(username="boss").is_superuser


def test_password_change_page(client, rep_north):
    client.force_login(rep_north)
    assert client.get("/security/password/").status_code == 200
    weak = client.post("/security/password/", {"old_password": PASSWORD, "new_password1": "12345678901",
                                               "new_password2": "12345678901"})
    assert weak.status_code == 200 and "entirely numeric" in weak.content.decode()
    wrong_old = client.post("/security/password/", {"old_password": "nope", "new_password1": "Brand-new-pass-7",
                                                    "new_password2": "Brand-new-pass-7"})
    assert "incorrectly" in wrong_old.content.decode()
    done = client.post("/security/password/", {"old_password": PASSWORD, "new_password1": "Brand-new-pass-7",
                                               "new_password2": "Brand-new-pass-7"}, follow=True)
    assert "Your password has been changed." in done.content.decode()
    rep_north.refresh_from_db()
    assert rep_north.check_password("Brand-new-pass-7")
    # Still signed in on this device after the change.
    assert client.get("/customers/").status_code == 200


def test_password_change_page_in_chinese(client, rep_north):
    client.force_login(rep_north)
    body = client.get("/security/password/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "修改密码" in body


def test_password_reset_by_email_end_to_end(db, make_user):
    make_user("alice", email="alice@example.com")
    client = Client()
    sent = client.post("/password-reset/", {"email": "alice@example.com"}, follow=True)
    assert "Check your e-mail" in sent.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    assert "alice" in mail.outbox[0].body
    link = re.search(r"https?://testserver(/password-reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    weak = client.post(set_url, {"new_password1": "alice", "new_password2": "alice"})
    assert "too short" in weak.content.decode()
    done = client.post(set_url, {"new_password1": "Fresh-start-2026", "new_password2": "Fresh-start-2026"}, follow=True)
    assert "Password changed" in done.content.decode()
    assert Client().post("/login/", {"username": "alice", "password": "Fresh-start-2026"}).status_code == 302
    # The link works once.
    assert "This link no longer works" in Client().get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(db):
    response = Client().post("/password-reset/", {"email": "nobody@example.com"}, follow=True)
    assert "Check your e-mail" in response.content.decode() and mail.outbox == []


def test_password_reset_mail_in_chinese(db, make_user):
    make_user("li", email="li@example.com")
    Client().post("/password-reset/", {"email": "li@example.com"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "重置" in mail.outbox[0].subject
