from valuecrm.accounts.models import ApiToken
from valuecrm.accounts.selectors import user_by_api_token
from valuecrm.accounts.services import api_token_create, api_token_revoke


def test_token_is_stored_hashed_and_resolves_to_its_user(rep_north):
    token, raw = api_token_create(user=rep_north, name="laptop")

    assert raw.startswith("vcrm_")
    assert raw not in token.digest
    assert ApiToken.objects.get(pk=token.pk).digest == ApiToken.digest_of(raw)
    assert user_by_api_token(raw) == rep_north


def test_revoked_or_unknown_token_resolves_to_nobody(rep_north):
    token, raw = api_token_create(user=rep_north)
    api_token_revoke(token=token)

    assert user_by_api_token(raw) is None
    assert user_by_api_token("vcrm_not-a-token") is None
    assert user_by_api_token("") is None


def test_passwords_use_argon2(settings, make_user):
    from valuecrm.config import settings as site_settings

    settings.PASSWORD_HASHERS = site_settings.PASSWORD_HASHERS  # the tests' MD5, undone
    assert make_user("argon").password.startswith("argon2")
