from django.conf import settings


def ui(request):
    user = getattr(request, "user", None)
    theme = getattr(user, "theme", "") if user is not None and user.is_authenticated else ""
    return {
        "ui_theme": theme or request.COOKIES.get("theme", "light"),
        "default_currency": settings.VALUECRM_CURRENCY,
    }
