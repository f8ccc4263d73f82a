"""REST API v1: one NinjaAPI; each domain app contributes a router from its api.py."""

from datetime import UTC, datetime

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from ninja.security import HttpBearer, SessionAuth

from valuecrm.accounts.selectors import user_by_api_token
from valuecrm.common.busy import busy_problem, is_busy
from valuecrm.common.errors import DomainError, validation_failed_from_django
from valuecrm.common.events.context import ActorKind, set_origin
from valuecrm.common.problems import PROBLEM_CONTENT_TYPE, domain_error_response, problem_response

PROBLEM = PROBLEM_CONTENT_TYPE


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = user_by_api_token(token)
        if user is not None:
            request.user = user
            # Events this request emits name the token (reset by EventOriginMiddleware).
            set_origin(ActorKind.API_TOKEN, "api", getattr(user, "api_token_id", None))
        return user


class ObjectBodyParser(Parser):
    """Every request body of this API is a JSON object: a bare string, number or list
    is a 422 naming `body` (ninja would otherwise try to read a schema from it)."""

    def parse_body(self, request: HttpRequest):
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise NinjaValidationError([{"loc": ("body", "body"), "msg": _("Send a JSON object.")}])
        return data


class WholeMinuteOffsetEncoder(NinjaJSONEncoder):
    """Date-times whose UTC offset has seconds (local mean time before a zone's
    first standard offset, e.g. Shanghai +08:05:43 in 1900) go out in UTC: RFC 3339,
    which the spec promises with format date-time, has offsets in whole minutes."""

    def default(self, o):
        if isinstance(o, datetime) and o.utcoffset() is not None and o.utcoffset().seconds % 60:
            o = o.astimezone(UTC)
        return super().default(o)


class ApiRenderer(JSONRenderer):
    encoder_class = WholeMinuteOffsetEncoder


class OfflineSwagger(DocsBase):
    """Swagger UI from our own static files (npm swagger-ui-dist, copied by
    scripts/vendor-assets.mjs): the docs work without internet and under our CSP."""

    def render_page(self, request, api, **kwargs):
        from django.shortcuts import render

        settings = {"url": self.get_openapi_url(api, kwargs), "layout": "BaseLayout", "deepLinking": True}
        return render(request, "api/docs.html", {"api": api, "swagger_settings": settings})


# Statuses any operation can answer, whatever its handler declares: 401 (no or a
# bad token), 503 (the SQLite database is busy with a long write, common/busy.py).
# With a body or parameters also 422 (schema validation); with a body also 400
# (JSON not parseable or nested too deep) and 413 (body over the limit).
_ALWAYS = {401: "Authentication required", 503: "Database busy; retry after the Retry-After header"}
_WITH_INPUT = {422: "Validation failed (problem+json naming each field)"}
_WITH_BODY = {400: "Malformed or too deeply nested JSON", 413: "Request body too large"}


class ValueCrmApi(NinjaAPI):
    """The spec tells the truth about errors: every status >= 400 is documented as
    application/problem+json with the ProblemOut body (what common/problems.py sends),
    and the statuses the middleware and exception handlers add are declared on every
    operation, so schemathesis' status/content-type conformance checks can hold."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        problem_ref = {"$ref": "#/components/schemas/ProblemOut"}
        problem_content = {PROBLEM: {"schema": problem_ref}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                extra = dict(_ALWAYS)
                if operation.get("parameters") or operation.get("requestBody"):
                    extra.update(_WITH_INPUT)
                if operation.get("requestBody"):
                    extra.update(_WITH_BODY)
                for status, description in extra.items():
                    responses.setdefault(status, {"description": description})
                for status, response in responses.items():
                    if int(status) >= 400:
                        response["content"] = problem_content
        return schema


api = ValueCrmApi(
    title="ValueCRM API",
    version="1",
    description="Customers, orders and customer value. Authenticate with `Authorization: Bearer <token>` "
    "(create one with `valuecrm token create --user U` or on your profile page).",
    # The web UI's own fetches and the interactive docs use the login session (CSRF-checked).
    auth=[BearerToken(), SessionAuth()],
    urls_namespace="api-1",
    docs_url="/docs",
    docs=OfflineSwagger(),
    parser=ObjectBodyParser(),
    renderer=ApiRenderer(),
)


def problem(request, status: int, title: str, detail: str = "", errors=None, code: str = ""):
    return problem_response(status, title, detail=detail, errors=errors, code=code)


@api.exception_handler(RequestDataTooBig)
def on_body_too_big(request, exc):
    # Normally refused by RequestLimitsMiddleware from Content-Length; this catches
    # a body whose length was not announced.
    return problem(request, 413, _("Request body too large"), code="payload_too_large")


@api.exception_handler(OperationalError)
def on_database_error(request, exc: OperationalError):
    if is_busy(exc):
        return busy_problem(request)
    raise exc


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return domain_error_response(exc)


@api.exception_handler(DjangoValidationError)
def on_django_validation(request, exc):
    err = validation_failed_from_django(exc)
    return problem(request, 422, err.detail, errors=err.errors, code=str(err.code))


@api.exception_handler(NinjaValidationError)
def on_schema_error(request, exc: NinjaValidationError):
    errors: dict[str, list[str]] = {}
    for item in exc.errors:
        # loc is (source, field...) or, for a JSON body, ("body", <param name>, field...);
        # drop only that prefix, so a field itself named "body" keeps its name.
        loc = [str(p) for p in item.get("loc", [])]
        if loc[:1] == ["body"] and len(loc) > 2:
            loc = loc[2:]
        elif loc[:1] and loc[0] in ("body", "query", "path", "header", "cookie", "form", "file"):
            loc = loc[1:]
        errors.setdefault(".".join(loc) or "__all__", []).append(item.get("msg", "invalid"))
    return problem(request, 422, "Validation failed", errors=errors, code="invalid")


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return problem(request, 401, "Authentication required",
                   detail="Send Authorization: Bearer <token>.", code="unauthenticated")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return problem(request, exc.status_code, str(exc), code=str(exc.status_code))


def _register_routers():
    import importlib

    for app_name in ("customers", "orders", "insights", "imports", "duplicates", "webhooks", "privacy", "service",
                     "loyalty", "deals", "marketing"):
        try:
            module = importlib.import_module(f"valuecrm.{app_name}.api")
        except ModuleNotFoundError as exc:
            if exc.name != f"valuecrm.{app_name}.api":
                raise
            continue
        api.add_router("/", module.router)


_register_routers()

# Automation rules and their run log (valuecrm.automation.api).
from valuecrm.automation.api import router as automation_router  # noqa: E402

api.add_router("/", automation_router)
