"""Typed domain errors. The HTTP layer maps them to status codes in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal the domain makes on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []


class InvalidRequest(DomainError):
    status = 400
    code = "invalid_request"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class MethodNotAllowed(DomainError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allow: tuple[str, ...]):
        super().__init__(message)
        self.allow = allow


class PayloadTooLarge(DomainError):
    status = 413
    code = "body_too_large"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class BusinessRuleViolation(DomainError):
    """Valid input refused by a business rule (HTTP 422)."""

    status = 422
    code = "business_rule_violation"


class InsufficientStock(BusinessRuleViolation):
    code = "insufficient_stock"


class RetryableConflict(Exception):
    """A concurrent writer changed what we read; read again and retry."""
