"""Errors as RFC 9457 problem details (application/problem+json).

Services raise these domain errors; the API turns them into 4xx problem
responses and views into form errors, so no bad input ever becomes a 500.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    CONFLICT = "conflict"
    UNAUTHENTICATED = "unauthenticated"
    MALFORMED = "malformed"
    PAYLOAD_TOO_LARGE = "payload_too_large"


class DomainError(Exception):
    status = 400
    code = ErrorCode.INVALID

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        # field name (or "row 3: email") → messages
        self.errors = errors or {}


class ValidationFailed(DomainError):
    status = 422
    code = ErrorCode.INVALID


class Malformed(DomainError):
    """The request cannot be read at all (e.g. JSON nested deeper than the limit)."""

    status = 400
    code = ErrorCode.MALFORMED


class PayloadTooLarge(DomainError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class NotFound(DomainError):
    status = 404
    code = ErrorCode.NOT_FOUND


class PermissionDenied(DomainError):
    status = 403
    code = ErrorCode.PERMISSION_DENIED


class Conflict(DomainError):
    status = 409
    code = ErrorCode.CONFLICT


def validation_failed_from_django(exc) -> ValidationFailed:
    """Wrap django.core.exceptions.ValidationError with its per-field messages."""
    if hasattr(exc, "message_dict"):
        errors = {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
    else:
        errors = {"__all__": [str(m) for m in exc.messages]}
    return ValidationFailed("Validation failed", errors=errors)
