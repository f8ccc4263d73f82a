from django.utils import timezone

from valuecrm.accounts.bookkeeping import is_stale, write_unless_busy
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
    # Touch at most every few minutes, and never wait for it: a read must not queue behind
    # an import's write lock to note the time (accounts/bookkeeping.py).
    if is_stale(token.last_used_at, now):
        write_unless_busy(lambda: ApiToken.objects.filter(pk=token.pk).update(last_used_at=now))
    token.user.api_token_id = token.pk  # for the envelope of events the request emits
    return token.user
