"""Marketplaces that post their own webhooks to a seller's channel.

Each marketplace is one module with the same four functions, so a third one is a new
module plus its tests:

- `signature_valid(headers, body, secret)`: the marketplace's own signature of the raw body.
- `is_activation_ping(headers, body)`: an unsigned hello the marketplace sends once when a
  webhook is set up, that must be answered 200 (WooCommerce); False when there is none.
- `read(headers, body, channel_id)`: the topic (from a header, never the body) and the
  payload as a `Delivery`: an order to store, an order to cancel, or something to ignore.
  A body that is not the marketplace's shape raises `NotMarketplaceShape`.

Pure: the standard library, pydantic and the domain's own models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Kind = Literal["shopify", "woocommerce"]

# An order id is `<channel_id>-<the marketplace's order id>` and must fit the 64-character
# id rule; 64-bit marketplace ids have up to 20 digits, so a channel id has 43 at most.
MAX_CHANNEL_ID = 64 - 1 - 20


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(description="The marketplace that posts to this channel.")
    secret: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[\x21-\x7e]+$")] = Field(
        description="The marketplace's webhook signing secret (Shopify: the app's client secret or the "
        "store's webhook key; WooCommerce: the webhook's Secret). Stored to verify signatures, never shown."
    )


class NotMarketplaceShape(Exception):
    """A correctly signed body that is not what the marketplace sends for its topic."""


@dataclass(frozen=True)
class Delivery:
    """What one delivery asks for, in our words."""

    topic: str
    action: Literal["create", "cancel", "ignore"]
    marketplace_order_id: str | None = None
    # for "create": the order as our webhook takes it ({order_id, lines: [{line_id, sku, qty}]})
    order: dict[str, Any] | None = None
    reason: str | None = None
    skipped_lines: list[str] = field(default_factory=list)


def hmac_base64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def base64_signature_matches(body: bytes, secret: str, signature: str | None) -> bool:
    return bool(signature) and hmac.compare_digest(hmac_base64(secret, body).encode(), str(signature).strip().encode())


def order_id(channel_id: str, marketplace_order_id: str) -> str:
    return f"{channel_id}-{marketplace_order_id}"


def exact_id(value: Any) -> str | None:
    """A marketplace id as text, exactly: JSON integers stay exact (Shopify ids exceed
    2^53), strings of digits are taken as they are; anything else is not an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return value
    return None


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise NotMarketplaceShape("the body is not JSON") from None
    if not isinstance(value, dict):
        raise NotMarketplaceShape("the body is not a JSON object")
    return value


def module(kind: str) -> ModuleType:
    from backorders.domain.marketplaces import shopify, woocommerce

    return {"shopify": shopify, "woocommerce": woocommerce}[kind]
