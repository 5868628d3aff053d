"""Credentials: API keys, webhook signatures, the admin token. No AWS in here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

Kind = Literal["seller", "vendor"]
_PREFIX: dict[str, Kind] = {"sk": "seller", "vk": "vendor"}


def sha256_hex(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def new_api_key(kind: Kind, account_id: str) -> str:
    """`sk.<seller_id>.<secret>` or `vk.<vendor_id>.<secret>`: the account is readable, so a
    key can be checked against its own account (and a key of another account told apart)."""
    prefix = "sk" if kind == "seller" else "vk"
    return f"{prefix}.{account_id}.{secrets.token_urlsafe(32)}"


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    kind: Kind
    account_id: str
    raw: str


def parse_api_key(raw: str | None) -> ApiKey | None:
    if not raw:
        return None
    parts = raw.split(".", 2)
    if len(parts) != 3 or parts[0] not in _PREFIX or not parts[1] or not parts[2]:
        return None
    return ApiKey(kind=_PREFIX[parts[0]], account_id=parts[1], raw=raw)


def key_matches(raw: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(sha256_hex(raw), stored_sha256)


def sign(body: bytes, secret: str) -> str:
    """The X-Signature header value for a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(body, secret), header.strip())


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
