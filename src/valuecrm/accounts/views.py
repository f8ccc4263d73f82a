"""Thin views for the signed-in user's own settings and API tokens."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from valuecrm.accounts.models import ApiToken
from valuecrm.accounts.services import api_token_create, api_token_revoke, user_preferences_update
from valuecrm.common.http import safe_next_url

THEMES = ("light", "dark")


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
    if request.method == "POST":
        _, new_token = api_token_create(user=request.user, name=request.POST.get("name", "")[:100])
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "accounts/profile.html", {"tokens": tokens, "new_token": new_token})


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
    if token is None:
        raise Http404
    api_token_revoke(token=token)
    return redirect("profile")
