"""Request helpers shared by the views and the API of every app: safe redirects,
body size and JSON depth limits."""

import json
import re

from django.conf import settings
from django.http import HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


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


# ---------------------------------------------------------------- request limits

# Django's own limit for a non-file body (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB);
# multipart uploads (import files) may be far larger.
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than the limit (parsing it would recurse)."""


def json_depth_exceeds(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays/objects of a JSON text nest deeper than ``limit``.

    Counts brackets outside strings without parsing, so a body nested 50,000
    deep is refused after reading ``limit`` brackets instead of overflowing the
    parser's recursion (a RecursionError, i.e. a 500, before).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    if len(brackets) <= limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in (91, 123):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def loads_bounded_json(text: str | bytes, *, limit: int = MAX_JSON_DEPTH):
    """json.loads that refuses a document nested deeper than ``limit`` (JsonTooDeep)."""
    if json_depth_exceeds(text, limit):
        raise JsonTooDeep(_("The JSON is nested more than %(limit)d levels deep.") % {"limit": limit})
    return json.loads(text)


def body_limit(content_type: str) -> int:
    """The largest request body accepted for a content type, in bytes."""
    if content_type.startswith("multipart/form-data"):
        return int(getattr(settings, "VALUECRM_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))
    return int(getattr(settings, "VALUECRM_MAX_BODY_BYTES", None) or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
               or DEFAULT_MAX_UPLOAD_BYTES)


def _refusal(request, status: int, title: str, detail: str, code: str, field: str) -> HttpResponse:
    from valuecrm.common.problems import problem_response

    if request.path.startswith("/api/"):
        return problem_response(status, title, detail=detail, code=code, errors={field: [detail]})
    return HttpResponse(f"{title}: {detail}", status=status, content_type="text/plain; charset=utf-8")


class RequestLimitsMiddleware:
    """Refuse a body over the size limit with 413 and JSON nested too deep with 400,
    before any view, form or API parser reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        content_type = request.META.get("CONTENT_TYPE", "") or ""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit(content_type)
        if length > limit:
            return _refusal(request, 413, _("Request body too large"),
                            _("The request body may be at most %(limit)s bytes; this one has %(size)s.")
                            % {"limit": limit, "size": length}, "payload_too_large", "body")
        if length and _is_json(content_type) and json_depth_exceeds(request.body):
            return _refusal(request, 400, _("JSON nested too deeply"),
                            _("The JSON is nested more than %(limit)d levels deep.") % {"limit": MAX_JSON_DEPTH},
                            "json_too_deep", "body")
        return self.get_response(request)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")
