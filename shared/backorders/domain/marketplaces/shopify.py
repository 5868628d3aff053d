"""Shopify: `orders/create`, `orders/cancelled`, `orders/updated` with `cancelled_at`.

Shopify signs the raw body (`X-Shopify-Hmac-Sha256`, base64 HMAC-SHA256 keyed by the
app's secret), names the topic in `X-Shopify-Topic`, retries anything but a 2xx within
5 s (8 times over 4 hours), then may remove the subscription.
"""

from __future__ import annotations

from typing import Any

from backorders.domain.marketplaces import Delivery, NotMarketplaceShape, base64_signature_matches, exact_id, json_object, order_id

CREATE = "orders/create"
CANCEL = {"orders/cancelled"}
UPDATED = "orders/updated"


def signature_valid(headers: dict[str, str], body: bytes, secret: str) -> bool:
    return base64_signature_matches(body, secret, headers.get("x-shopify-hmac-sha256"))


def is_activation_ping(headers: dict[str, str], body: bytes) -> bool:
    return False  # Shopify sends none


def read(headers: dict[str, str], body: bytes, channel_id: str) -> Delivery:
    topic = (headers.get("x-shopify-topic") or "").strip()
    if topic not in (CREATE, UPDATED, *CANCEL):
        return Delivery(topic, "ignore", reason=f"topic {topic or '(none)'} is not used")
    payload = json_object(body)
    marketplace_id = exact_id(payload.get("id"))
    if marketplace_id is None:
        raise NotMarketplaceShape("a Shopify order has an integer `id`")
    # The topic header is not signed: what a delivery does must also be what its signed
    # body says, so a captured order replayed under another topic cancels nothing.
    cancelled = bool(payload.get("cancelled_at"))
    if topic in CANCEL or topic == UPDATED:
        if cancelled:
            return Delivery(topic, "cancel", marketplace_id)
        return Delivery(topic, "ignore", marketplace_id, reason="the order in the body is not cancelled")
    if cancelled:
        return Delivery(topic, "ignore", marketplace_id, reason="the order in the body is already cancelled")
    items = payload.get("line_items")
    if not isinstance(items, list):
        raise NotMarketplaceShape("a Shopify order has a `line_items` list")
    lines, skipped = [], []
    for item in items:
        line = _line(item)
        if line is None:
            skipped.append(str(item.get("id")) if isinstance(item, dict) else "?")
        else:
            lines.append(line)
    order = {"order_id": order_id(channel_id, marketplace_id), "lines": lines}
    return Delivery(topic, "create", marketplace_id, order=order, skipped_lines=skipped)


def _line(item: Any) -> dict | None:
    """Our line for a line item; None for one that is no stock (no SKU, no variant:
    a custom item, a tip) or has nothing left to ship."""
    if not isinstance(item, dict):
        raise NotMarketplaceShape("each Shopify line item is an object")
    line_id = exact_id(item.get("id"))
    quantity = item.get("quantity")
    if line_id is None or not isinstance(quantity, int) or isinstance(quantity, bool):
        raise NotMarketplaceShape("each Shopify line item has an integer `id` and `quantity`")
    sku = (item.get("sku") or "").strip() if isinstance(item.get("sku"), str | None) else None
    if sku is None:
        raise NotMarketplaceShape("a Shopify line item's `sku` is a string or null")
    if not sku:
        variant = exact_id(item.get("variant_id"))
        if variant is None:
            return None
        sku = f"variant-{variant}"
    if quantity < 1:
        return None
    return {"line_id": line_id, "sku": sku, "qty": quantity}
