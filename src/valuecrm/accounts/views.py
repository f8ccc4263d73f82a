"""Thin views for signing in (second step) and the signed-in user's own settings, security and API tokens."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from valuecrm.accounts import mfa
from valuecrm.accounts.middleware import SESSION_KEY as MFA_SESSION_KEY
from valuecrm.accounts.models import ApiToken
from valuecrm.accounts.services import api_token_create, api_token_revoke, user_preferences_update
from valuecrm.common.errors import ValidationFailed
from valuecrm.common.http import safe_next_url

THEMES = ("light", "dark")
# Offered token lifetimes in days ("0": until revoked); the service accepts any future date.
TOKEN_LIFETIMES = ("0", "30", "90", "365")


@login_required
@require_POST
def preferences_update(request):
    """Language and theme switch; both are remembered on the user."""
    language = request.POST.get("language")
    theme = request.POST.get("theme")
    if language is not None and language not in {code for code, _ in settings.LANGUAGES} | {""}:
        language = None
    if theme is not None and theme not in THEMES:
        theme = None
    user_preferences_update(user=request.user, language=language, theme=theme)
    response = redirect(safe_next_url(request, "/"))
    if language is not None:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language or "", samesite="Lax")
    return response


@login_required
def profile(request):
    new_token = None
    error = None
    if request.method == "POST":
        raw_days = request.POST.get("expires_in_days", "") or "0"
        if raw_days not in TOKEN_LIFETIMES:
            error = _("Choose how long the token stays valid.")
        else:
            days = int(raw_days)
            expires_at = timezone.now() + timedelta(days=days) if days else None
            _token, new_token = api_token_create(user=request.user, name=request.POST.get("name", "")[:100],
                                                 expires_at=expires_at)
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "accounts/profile.html", {
        "tokens": tokens, "new_token": new_token, "lifetime_error": error,
        "lifetimes": TOKEN_LIFETIMES, "now": timezone.now(),
    }, status=422 if error else 200)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
    if token is None:
        raise Http404
    api_token_revoke(token=token)
    return redirect("profile")


# --- Second sign-in step, authenticator enrolment, password change -------------------------

def _next_target(request, fallback: str = "/") -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def _second_step_done(request, device) -> None:
    otp_login(request, device)
    request.session[MFA_SESSION_KEY] = "done"
    # A new session id once the user is fully signed in (no fixation across the steps).
    request.session.cycle_key()


@login_required
def mfa_verify(request):
    """After the password: the code from the authenticator app, or a recovery code."""
    next_url = _next_target(request)
    if request.user.is_verified():
        return redirect(next_url)
    error = None
    if request.method == "POST":
        device = mfa.verify_code(user=request.user, code=request.POST.get("code", ""))
        if device is not None:
            _second_step_done(request, device)
            if isinstance(device, StaticDevice):
                left = mfa.recovery_codes_left(request.user)
                messages.warning(request, ngettext(
                    "You signed in with a recovery code; %(n)d is left. Make new ones on the security page.",
                    "You signed in with a recovery code; %(n)d are left. Make new ones on the security page.",
                    left) % {"n": left})
            return redirect(next_url)
        if mfa.code_entry_throttled(request.user):
            error = _("Too many wrong codes in a row. Wait a few seconds, then enter the code the app shows now.")
        else:
            error = _("That code is not right, or it was used already. Enter the 6 digits the app shows now, "
                      "or one of your recovery codes.")
    return render(request, "accounts/mfa_verify.html", {"error": error, "next": next_url},
                  status=422 if error else 200)


@login_required
def security(request):
    """Password and two-step sign-in for the signed-in user."""
    return render(request, "accounts/security.html", {
        "mfa_enabled": mfa.mfa_enabled(request.user),
        "mfa_required": mfa.mfa_required(request.user),
        "recovery_left": mfa.recovery_codes_left(request.user),
    })


@login_required
def mfa_enrol(request):
    """Set up an authenticator app: scan the QR code, type one code to confirm."""
    error = None
    if request.method == "POST":
        try:
            codes = mfa.totp_enrolment_confirm(user=request.user, code=request.POST.get("code", ""))
        except ValidationFailed as exc:
            error = exc.detail
        else:
            device = TOTPDevice.objects.get(user=request.user, confirmed=True)
            _second_step_done(request, device)
            return render(request, "accounts/recovery_codes.html",
                          {"codes": codes, "next": _next_target(request, reverse("security")), "first": True})
    elif mfa.mfa_enabled(request.user):
        return redirect("security")
    enrolment = mfa.totp_enrolment_start(user=request.user)
    return render(request, "accounts/mfa_enrol.html", {
        "enrolment": enrolment, "error": error, "required": mfa.mfa_required(request.user),
        "next": _next_target(request, ""),
    }, status=422 if error else 200)


@login_required
@require_POST
def recovery_codes_regenerate(request):
    try:
        codes = mfa.recovery_codes_regenerate(user=request.user)
    except ValidationFailed as exc:
        messages.error(request, exc.detail)
        return redirect("security")
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": reverse("security")})


@login_required
@require_POST
def mfa_disable(request):
    try:
        mfa.mfa_disable(user=request.user)
    except ValidationFailed as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Two-step sign-in is off."))
    return redirect("security")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("security")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        return response
