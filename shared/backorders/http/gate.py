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
from collections.abc import Callable
from dataclasses import dataclass
from re import Match as RegexMatch
from typing import Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from backorders import topology
from backorders.adapters.config import settings
from backorders.adapters.store import Store
from backorders.domain import marketplaces, routing, security
from backorders.domain.errors import (
    DomainError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RetryableConflict,
    Unauthorized,
)
from backorders.domain.models import Seller, Vendor

MAX_BODY_BYTES = 256 * 1024


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


class _Resolver(APIGatewayRestResolver):
    """Hands each route its path params decoded: the canonical path carries every value
    percent-encoded (a SKU may hold `/`, `#`, spaces), and the resolver's own match does
    not decode, so a handler would otherwise see `Mug%20%2F%20Blue` for `Mug / Blue`."""

    def _convert_matches_into_route_keys(self, match: RegexMatch) -> dict[str, str]:
        return {name: unquote(value, errors="strict") for name, value in match.groupdict().items()}


def make_app() -> APIGatewayRestResolver:
    """A resolver whose every refusal has the API's error shape."""
    app = _Resolver(enable_validation=True)
    app.use([same_route_only])

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

    @app.exception_handler(RetryableConflict)
    def _busy(_exc: RetryableConflict) -> Response:
        # Lost a race for the same items too many times in a row (a flash sale on one
        # bin, say): the step that lost wrote nothing; the same request again goes on.
        answer = error_response(503, "busy", "other requests changed the same records at the same moment; send the same request again")
        answer.headers["Retry-After"] = "1"
        return answer

    @app.not_found
    def _no_route(_exc: Exception) -> Response:
        return error_response(404, "not_found", "no such endpoint")

    return app


# --- credentials -------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    # "ping": a marketplace's unsigned activation ping to a channel (answered, never acted on)
    kind: Literal["anonymous", "admin", "seller", "vendor", "marketplace", "ping"]
    account_id: str | None = None
    seller: Seller | None = None
    vendor: Vendor | None = None
    channel: dict | None = None


# The deployed admin token is read from Secrets Manager and kept this long, so a token
# rotated there is taken within minutes, with no redeploy or cold start.
ADMIN_TOKEN_MAX_AGE_S = 300


def _admin_token_sha256() -> str | None:
    config = settings()
    if config.admin_token_sha256:
        return config.admin_token_sha256
    if config.admin_token_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        token = parameters.get_secret(config.admin_token_secret_arn, max_age=ADMIN_TOKEN_MAX_AGE_S)
        return security.sha256_hex(str(token))
    return None


def _is_admin(headers: dict[str, str]) -> bool:
    token = security.bearer_token(headers.get("authorization"))
    expected = _admin_token_sha256()
    return token is not None and expected is not None and security.key_matches(token, expected)


def raw_body(event: dict) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


class Gate:
    """Matches the route and checks the credential it asks for, before anything else.

    The route comes from `routing.match` on the raw path, the only matcher there is:
    a path that does not match a route exactly is refused here (404/405), and the
    resolver is handed the canonical path of the route that did, so it cannot pick
    another one.
    """

    def __init__(self, store: Store):
        self.store = store

    def check(self, event: dict) -> tuple[Principal, routing.Match]:
        method = str(event.get("httpMethod") or "").upper()
        found = routing.match(method, str(event.get("path") or ""))
        if isinstance(found, routing.NoMatch):
            if found.allow:
                raise MethodNotAllowed(f"{method} is not allowed here; allowed: {', '.join(found.allow)}", found.allow)
            raise NotFound("no such endpoint")
        route = found.route
        body = raw_body(event)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if v is not None}
        principal = self._principal(route, headers, found.params, body)
        if body and principal.kind != "ping":
            check_json(body)
        return principal, found

    def _principal(self, route: topology.Route, headers: dict[str, str], params: dict[str, str], body: bytes) -> Principal:
        if route.auth == "none":
            return Principal("anonymous")
        if route.auth == "channel":  # the marketplace's signature only, not even the admin token
            return self._channel(headers, params["seller_id"], params["channel_id"], body)
        if _is_admin(headers):
            return Principal("admin")
        if route.auth == "admin":
            raise Unauthorized("this endpoint needs the admin token (Authorization: Bearer ...)")
        if route.auth == "signed" or (route.auth == "signed_or_seller" and "x-signature" in headers):
            return self._signed(headers, params["seller_id"], body)
        kind = "seller" if route.auth == "signed_or_seller" else route.auth
        return self._api_key(headers, kind, params)

    def _signed(self, headers: dict[str, str], seller_id: str, body: bytes) -> Principal:
        signature = headers.get("x-signature")
        if not signature:
            raise Unauthorized("missing X-Signature: sha256=<HMAC-SHA256 of the body with the webhook secret>")
        seller = self.store.seller(seller_id)
        if not seller or not any(security.signature_matches(body, secret, signature) for secret in seller.webhook_secrets()):
            raise Unauthorized("the X-Signature does not match this body for this seller")
        return Principal("marketplace", seller_id, seller=seller)

    def _channel(self, headers: dict[str, str], seller_id: str, channel_id: str, body: bytes) -> Principal:
        seller = self.store.seller(seller_id)
        channel = self.store.channel(seller_id, channel_id) if seller else None
        if seller is None or channel is None:
            raise Unauthorized("no such channel, or the signature does not match")
        marketplace = marketplaces.module(channel["kind"])
        if marketplace.is_activation_ping(headers, body):
            return Principal("ping", seller_id, seller=seller, channel=channel)
        if not marketplace.signature_valid(headers, body, channel["secret"]):
            raise Unauthorized(f"no such channel, or the signature does not match ({channel['kind']} signs the raw body)")
        return Principal("marketplace", seller_id, seller=seller, channel=channel)

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
        if isinstance(account, Seller):
            return Principal("seller", key.account_id, seller=account)
        return Principal("vendor", key.account_id, vendor=account)


MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 20  # far above any quantity; stops 10^40 and 5000-digit numbers early


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("a number is too large")
    return int(text)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def check_json(body: bytes) -> None:
    """Refuse, as a 400, JSON that would break something later: not UTF-8, not JSON,
    nested deeper than MAX_JSON_DEPTH, NaN/Infinity, or integers of absurd size."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8 JSON", code="malformed_json") from None
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidRequest(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels", code="too_deep") from None
    except ValueError as exc:
        if "too large" in str(exc):
            raise InvalidRequest("a number in the body is too large", code="invalid_request") from None
        raise InvalidRequest("the request body is not valid JSON", code="malformed_json") from None
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidRequest(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels", code="too_deep")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def _refusal(exc: DomainError) -> dict:
    headers = {"Content-Type": content_types.APPLICATION_JSON}
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allow)
    return {
        "statusCode": exc.status,
        "headers": headers,
        "body": error_body(exc.code, exc.message, exc.details),
        "isBase64Encoded": False,
    }


def handle(app: APIGatewayRestResolver, gate: Gate, event: dict, context: Any) -> dict:
    """Gate, then resolve. Refusals by the gate never reach the routes."""
    try:
        principal, found = gate.check(event)
    except DomainError as exc:
        return _refusal(exc)
    head = str(event.get("httpMethod") or "").upper() == "HEAD"
    app.append_context(principal=principal, route=found.route)
    answer = app.resolve(_canonical(_as_json(event), found), context)
    if head:  # like GET, without the body
        answer = {**answer, "body": "", "isBase64Encoded": False}
    return answer


def _canonical(event: dict, found: routing.Match) -> dict:
    """The event as the resolver should see it: the matched route's own path and ids."""
    context = {**(event.get("requestContext") or {}), "httpMethod": found.route.method, "resourcePath": found.route.path}
    return {
        **event,
        "httpMethod": found.route.method,
        "path": found.canonical_path(),
        "resource": found.route.path,
        "pathParameters": dict(found.params) or None,
        "requestContext": context,
    }


def same_route_only(app: APIGatewayRestResolver, next_middleware: Callable[..., Response]) -> Response:
    """Fail closed should the resolver ever pick a route other than the gate's."""
    matched = app.context.get("_route")
    wanted = app.context.get("route")
    if matched is None or wanted is None or matched.path != wanted.path.replace("{", "<").replace("}", ">"):
        return error_response(404, "not_found", "no such endpoint")
    return next_middleware(app)


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
