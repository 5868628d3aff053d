"""The kinds of credential a hostile-input test sends, and which each route admits."""

from __future__ import annotations

import base64
import hashlib
import hmac

from backorders.domain import security

KINDS = (
    "none", "admin", "seller", "other_seller", "vendor", "other_vendor", "garbage", "signed", "signed_other",
    "channel", "channel_other",
)
CHANNEL = "c1"  # each seller's Shopify channel
# The credential kinds each route's `auth` lets through.
ADMITS = {
    "none": set(KINDS),
    "admin": {"admin"},
    "seller": {"admin", "seller"},
    "vendor": {"admin", "vendor"},
    "signed": {"admin", "signed"},
    "signed_or_seller": {"admin", "signed", "seller"},
    "channel": {"channel"},
}


def channel_secret(seller: dict) -> str:
    return f"shpss_{seller['seller_id']}_secret"


def headers(kind: str, raw: bytes, *, admin_token: str, seller: dict, other_seller: dict, vendor: dict,
            other_vendor: dict) -> dict[str, str]:
    """The headers of one credential kind; accounts are the API's answers when they were
    created (with `api_key` and, for sellers, `webhook_secret`)."""
    return {
        "none": {},
        "admin": {"Authorization": f"Bearer {admin_token}"},
        "seller": {"X-Api-Key": seller["api_key"]},
        "other_seller": {"X-Api-Key": other_seller["api_key"]},
        "vendor": {"X-Api-Key": vendor["api_key"]},
        "other_vendor": {"X-Api-Key": other_vendor["api_key"]},
        "garbage": {"X-Api-Key": f"sk.{seller['seller_id']}.guess", "Authorization": "Bearer guess", "X-Signature": "sha256=00"},
        "signed": {"X-Signature": security.sign(raw, seller["webhook_secret"])},
        "signed_other": {"X-Signature": security.sign(raw, other_seller["webhook_secret"])},
        "channel": {"X-Shopify-Hmac-Sha256": _shopify(raw, channel_secret(seller))},
        "channel_other": {"X-Shopify-Hmac-Sha256": _shopify(raw, channel_secret(other_seller))},
    }[kind]


def _shopify(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
