from django.utils import timezone

from valuecrm.accounts.models import ApiToken, User


def user_by_api_token(raw: str) -> User | None:
    if not raw or not raw.startswith(ApiToken.PREFIX):
        return None
    token = (
        ApiToken.objects.active().select_related("user")
        .filter(digest=ApiToken.digest_of(raw)).first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Touch at most once a minute: a write per API call would serialise SQLite.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.user.api_token_id = token.pk  # for the envelope of events the request emits
    return token.user
