"""The HTTP edge shared by the API functions: credentials, errors, answers.

Credentials are checked by `Gate` before the request reaches the resolver (and so
before body validation and any business logic). It reads the route's credential
kind from the topology, by the `resource` template API Gateway sends. It runs inside
the function rather than in a Lambda authorizer because webhook signatures are an
HMAC of the raw body, which an authorizer never sees.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from backorders import security, topology
from backorders.config import settings
from backorders.errors import DomainError, Forbidden, InvalidRequest, NotFound, Unauthorized
from backorders.models import Seller, Vendor
from backorders.store import Store

MAX_BODY_BYTES = 256 * 1024
ROUTES = {(route.method, route.path): route for route, _ in topology.all_routes()}


def error_body(code: str, message: str, details: list | None = None) -> str:
    return json.dumps({"error": {"code": code, "message": message, "details": details or []}})


def error_response(status: int, code: str, message: str, details: list | None = None) -> Response:
    return Response(status, content_types.APPLICATION_JSON, error_body(code, message, details))


def json_response(status: int, body: Any) -> Response:
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(type(value).__name__)


def _validation_details(errors: list[dict]) -> list[dict]:
    details = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        details.append({"field": ".".join(loc) or "body", "problem": err.get("msg", err.get("type", "invalid"))})
    return details


def make_app() -> APIGatewayRestResolver:
    """A resolver whose every refusal has the API's error shape."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        details = _validation_details(errors)
        fields = ", ".join(d["field"] for d in details)
        return error_response(400, "invalid_request", f"invalid field(s): {fields}", details)

    @app.exception_handler(DomainError)
    def _refused(exc: DomainError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.not_found
    def _no_route(_exc: Exception) -> Response:
        return error_response(404, "not_found", "no such endpoint")

    return app


# --- credentials -------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    kind: Literal["anonymous", "admin", "seller", "vendor", "marketplace"]
    account_id: str | None = None
    seller: Seller | None = None
    vendor: Vendor | None = None


@cache
def _admin_token_sha256() -> str | None:
    config = settings()
    if config.admin_token_sha256:
        return config.admin_token_sha256
    if config.admin_token_secret_arn:
        import boto3

        secret = boto3.client("secretsmanager").get_secret_value(SecretId=config.admin_token_secret_arn)
        return security.sha256_hex(secret["SecretString"])
    return None


def _is_admin(headers: dict[str, str]) -> bool:
    token = security.bearer_token(headers.get("authorization"))
    expected = _admin_token_sha256()
    return bool(token and expected) and security.key_matches(token, expected)


def raw_body(event: dict) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


class Gate:
    """Checks the credential a route asks for, before anything else happens."""

    def __init__(self, store: Store):
        self.store = store

    def check(self, event: dict) -> Principal:
        route = ROUTES.get((event.get("httpMethod", ""), event.get("resource", "")))
        if route is None:
            return Principal("anonymous")  # the resolver answers 404
        body = raw_body(event)
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("the request body is not UTF-8 JSON", code="malformed_json") from None
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if v is not None}
        params = event.get("pathParameters") or {}
        if route.auth == "none":
            return Principal("anonymous")
        if _is_admin(headers):
            return Principal("admin")
        if route.auth == "admin":
            raise Unauthorized("this endpoint needs the admin token (Authorization: Bearer ...)")
        if route.auth == "signed":
            return self._signed(headers, params["seller_id"], body)
        return self._api_key(headers, route.auth, params)

    def _signed(self, headers: dict[str, str], seller_id: str, body: bytes) -> Principal:
        signature = headers.get("x-signature")
        if not signature:
            raise Unauthorized("missing X-Signature: sha256=<HMAC-SHA256 of the body with the webhook secret>")
        seller = self.store.seller(seller_id)
        if not seller or not security.signature_matches(body, seller.webhook_secret, signature):
            raise Unauthorized("the X-Signature does not match this body for this seller")
        return Principal("marketplace", seller_id, seller=seller)

    def _api_key(self, headers: dict[str, str], kind: str, params: dict[str, str]) -> Principal:
        raw = headers.get("x-api-key")
        if not raw:
            raise Unauthorized("missing credential: send X-Api-Key (or the admin token)")
        key = security.parse_api_key(raw)
        if key is None:
            raise Unauthorized("the X-Api-Key is not a valid key")
        account = self.store.seller(key.account_id) if key.kind == "seller" else self.store.vendor(key.account_id)
        if account is None or not security.key_matches(key.raw, account.api_key_sha256):
            raise Unauthorized("the X-Api-Key is not a valid key")
        wanted = params.get("seller_id") if kind == "seller" else params.get("vendor_id")
        if key.kind != kind or key.account_id != wanted:
            raise Forbidden(f"this key belongs to another account and cannot reach this {kind}'s data")
        if key.kind == "seller":
            return Principal("seller", key.account_id, seller=account)
        return Principal("vendor", key.account_id, vendor=account)


def handle(app: APIGatewayRestResolver, gate: Gate, event: dict, context: Any) -> dict:
    """Gate, then resolve. Refusals by the gate never reach the routes."""
    try:
        principal = gate.check(event)
    except DomainError as exc:
        return {
            "statusCode": exc.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": error_body(exc.code, exc.message, exc.details),
            "isBase64Encoded": False,
        }
    app.append_context(principal=principal)
    return app.resolve(_as_json(event), context)


def _as_json(event: dict) -> dict:
    """Bodies are JSON whatever Content-Type says (curl -d sends a form type)."""
    if not event.get("body"):
        return event
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    return {
        **event,
        "headers": {**headers, "Content-Type": content_types.APPLICATION_JSON},
        "multiValueHeaders": {**multi, "Content-Type": [content_types.APPLICATION_JSON]},
    }


def require_found(value: Any, what: str) -> Any:
    if value is None:
        raise NotFound(f"{what} not found")
    return value
