"""RFC 9457 problem details: the one shape of every API error (application/problem+json).

The API's exception handlers, the request-limit middleware and the busy-database
middleware all answer through ``problem_response``; the OpenAPI spec documents
the same body as ``ProblemOut`` (common/schemas.py).
"""

from django.http import JsonResponse

from valuecrm.common.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(status: int, title: str, *, detail: str = "", errors=None, code: str = "") -> dict:
    body = {"type": f"about:blank#{code or status}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if code:
        body["code"] = code
    return body


def problem_response(status: int, title: str, *, detail: str = "", errors=None, code: str = "") -> JsonResponse:
    return JsonResponse(problem_body(status, title, detail=detail, errors=errors, code=code), status=status,
                        content_type=PROBLEM_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False})


def domain_error_response(exc: DomainError) -> JsonResponse:
    return problem_response(exc.status, exc.detail, errors=exc.errors, code=str(exc.code))
