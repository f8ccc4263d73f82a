"""Small request helpers shared by the views of several apps."""

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request, fallback: str) -> str:
    """The form's ``next`` target when it stays on this site, else ``fallback``.

    A POST that redirects "back" must never become an open redirect: only a
    relative URL or one on this host (https when the request was) is followed.
    """
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback
