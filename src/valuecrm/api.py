"""REST API v1: one NinjaAPI; each domain app contributes a router from its api.py."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
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


class OfflineSwagger(DocsBase):
    """Swagger UI from our own static files (npm swagger-ui-dist, copied by
    scripts/vendor-assets.mjs): the docs work without internet and under our CSP."""

    def render_page(self, request, api, **kwargs):
        from django.shortcuts import render

        settings = {"url": self.get_openapi_url(api, kwargs), "layout": "BaseLayout", "deepLinking": True}
        return render(request, "api/docs.html", {"api": api, "swagger_settings": settings})


api = NinjaAPI(
    title="ValueCRM API",
    version="1",
    description="Customers, orders and customer value. Authenticate with `Authorization: Bearer <token>` "
    "(create one with `valuecrm token create --user U` or on your profile page).",
    # The web UI's own fetches and the interactive docs use the login session (CSRF-checked).
    auth=[BearerToken(), SessionAuth()],
    urls_namespace="api-1",
    docs_url="/docs",
    docs=OfflineSwagger(),
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

    for app_name in ("customers", "sales", "insights", "imports", "integrations"):
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
