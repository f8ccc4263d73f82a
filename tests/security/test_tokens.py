"""API tokens: optional expiry; "last used" refreshed at most every few minutes."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from valuecrm.accounts.models import ApiToken
from valuecrm.accounts.services import api_token_create
from valuecrm.common.errors import ValidationFailed


def _get(raw):
    return Client().get("/api/v1/customers", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_a_token_stops_working_when_it_expires(rep_north):
    token, raw = api_token_create(user=rep_north, name="shop", expires_at=timezone.now() + timedelta(days=1))
    assert _get(raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _get(raw)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_expiry_must_be_in_the_future(rep_north):
    with pytest.raises(ValidationFailed) as exc:
        api_token_create(user=rep_north, expires_at=timezone.now() - timedelta(days=1))
    assert list(exc.value.errors) == ["expires_at"]


def test_a_token_without_expiry_lives_until_revoked(rep_north):
    token, raw = api_token_create(user=rep_north)
    assert token.expires_at is None and _get(raw).status_code == 200


def test_last_used_is_refreshed_only_when_stale(rep_north):
    token, raw = api_token_create(user=rep_north)
    _get(raw)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    _get(raw)
    token.refresh_from_db()
    assert token.last_used_at == first  # fresh: no write on this read
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=6))
    _get(raw)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_profile_page_creates_a_token_with_a_lifetime(client, rep_north):
    client.force_login(rep_north)
    response = client.post("/profile/", {"name": "erp", "expires_in_days": "30"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=rep_north, name="erp")
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    bad = client.post("/profile/", {"name": "x", "expires_in_days": "7"})
    assert bad.status_code == 422 and "Choose how long the token stays valid." in bad.content.decode()
