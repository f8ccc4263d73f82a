from django.utils import translation


class UserLanguageMiddleware:
    """A signed-in user's chosen language wins over the browser's Accept-Language.

    Runs after LocaleMiddleware (which picked the browser's language) and after
    AuthenticationMiddleware (so request.user is known).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


# What a signed-in user may open before the second step is done.
_OPEN_BEFORE_SECOND_STEP = ("/login/", "/logout/", "/i18n/", "/static/", "/favicon")
SESSION_KEY = "vc_mfa"  # "verify": has an authenticator, must enter a code; "enrol": must set one up


def mfa_state_at_login(sender, request, user, **kwargs):
    """Decide once, at sign-in, what the second step is (no query on later requests)."""
    from valuecrm.accounts.mfa import mfa_enabled, mfa_required

    session = getattr(request, "session", None)
    if session is None:
        return
    if getattr(user, "otp_device", None) is not None:
        session[SESSION_KEY] = "done"
    elif mfa_enabled(user):
        session[SESSION_KEY] = "verify"
    elif mfa_required(user):
        session[SESSION_KEY] = "enrol"
    else:
        session[SESSION_KEY] = "off"


class MfaRequiredMiddleware:
    """Sends a signed-in user who still owes the second step to it (after OTPMiddleware).

    Until then the user reaches only the code page (or, when their role requires an
    authenticator they do not have yet, the enrolment page) and sign-out; the session
    does not authenticate API calls.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_verified():
            state = request.session.get(SESSION_KEY)
            if state is None:  # a session from before this check existed
                mfa_state_at_login(None, request, user)
                state = request.session[SESSION_KEY]
            if state in ("verify", "enrol"):
                return self._second_step(request, state) or self.get_response(request)
        return self.get_response(request)

    def _second_step(self, request, state):
        from django.contrib.auth.models import AnonymousUser
        from django.shortcuts import redirect
        from django.urls import reverse

        path = request.path
        target = reverse("mfa-verify") if state == "verify" else reverse("mfa-enrol")
        if path == target or path.startswith(_OPEN_BEFORE_SECOND_STEP):
            return None
        if path.startswith("/api/"):
            # Bearer tokens still work; the half-signed-in session does not.
            request.user = AnonymousUser()
            return None
        from urllib.parse import urlencode

        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
