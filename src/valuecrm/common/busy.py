"""“The database is busy” as a 503 with Retry-After instead of a server error.

SQLite has one writer at a time. A long write — a million-row import, a scoring
run's write-back — holds the lock, and another request that needs to write waits up
to the connection's timeout (20 s, config/settings.py) and then fails with
OperationalError("database is locked"). That is not a bug in the request: it gets a
503 saying what happened and when to try again, as problem+json on the API and as a
page (or an htmx-friendly fragment) elsewhere.
"""

from django.db import OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

RETRY_AFTER_SECONDS = 10


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def busy_message() -> str:
    return _("The database is busy with another write, such as a large import. Nothing was "
             "saved; please try again in a few seconds.")


def busy_problem(request) -> JsonResponse:
    from valuecrm.common.problems import problem_response

    response = problem_response(503, _("Database busy"), detail=busy_message(), code="busy")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware:
    """Turns "database is locked" into a 503 (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not is_busy(exc):
            return None
        if request.path.startswith("/api/"):
            return busy_problem(request)
        if getattr(request, "htmx", False):
            # htmx does not swap a 503; static/js/app.js shows this text in an alert instead.
            response = HttpResponse(busy_message(), status=503,
                                    content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        response = HttpResponse(render_to_string("503.html", {"message": busy_message()}, request),
                                status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
