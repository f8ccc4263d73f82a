"""Login throttling (django-axes): who the client is, how many failures lock what, and
the page a locked-out client sees.

Two counters run side by side: failures from one client address, and failures for one
username from anywhere. The address limit is low (an attacker is stopped after a few
guesses); the username limit is much higher, so one attacker cannot lock a real user
out, while a spread-out attack on one account is still stopped.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render

from valuecrm.accounts.bookkeeping import write_unless_busy


def client_ip(request) -> str:
    """The client's address, as seen by the outermost of our own proxies.

    With VALUECRM_PROXY_COUNT = n, each of our n proxies appends the address it received
    the request from to X-Forwarded-For, so the n-th entry from the right was written by
    our outermost proxy; anything further left came from the client and may be forged.
    With no proxies the header is ignored altogether.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.VALUECRM_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if len(forwarded) < hops:
        # Fewer entries than proxies: the request skipped a proxy; the nearest known hop
        # is what we can trust.
        return forwarded[0] if forwarded else remote
    return forwarded[-hops]


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a separate (higher) limit for the username counter."""

    def get_failures(self, request, credentials=None) -> int:
        # Axes compares this number with AXES_FAILURE_LIMIT; each counter is scaled onto
        # that limit so that it reaches it exactly when it reaches its own.
        limit = settings.AXES_FAILURE_LIMIT
        worst = 0
        groups = get_lockout_parameters(request, credentials)
        for group, attempts in zip(groups, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            own_limit = settings.VALUECRM_LOGIN_USER_FAILURE_LIMIT if group == "username" else limit
            worst = max(worst, failures * limit // max(own_limit, 1))
        return worst

    # A successful sign-in or sign-out only keeps books (access log, clearing old
    # failures): it must not wait for a long write elsewhere to finish.
    def user_logged_in(self, sender, request, user, **kwargs):
        write_unless_busy(lambda: super(LockoutHandler, self).user_logged_in(sender, request, user, **kwargs))

    def user_logged_out(self, sender, request, user, **kwargs):
        write_unless_busy(lambda: super(LockoutHandler, self).user_logged_out(sender, request, user, **kwargs))


def lockout_response(request, response=None, credentials=None, *args, **kwargs):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"minutes": minutes}
    if request.path.startswith("/admin/"):
        context["admin"] = True
    return render(request, "accounts/locked_out.html", context, status=429)

