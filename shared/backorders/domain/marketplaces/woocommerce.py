"""WooCommerce: `order.created`, and `order.updated` with status `cancelled`.

WooCommerce signs the raw body (`X-WC-Webhook-Signature`, base64 HMAC-SHA256 keyed by
the webhook's secret), names the topic in `X-WC-Webhook-Topic`, never retries, and
disables a webhook after 5 failed deliveries in a row. When a webhook is saved it first
posts an unsigned form body `webhook_id=<n>`, which must be answered 200.
"""

from __future__ import annotations

import re
from typing import Any

from backorders.domain.marketplaces import Delivery, NotMarketplaceShape, base64_signature_matches, exact_id, json_object, order_id

CREATE = "order.created"
UPDATED = "order.updated"
_PING = re.compile(rb"webhook_id=\d{1,20}")


def signature_valid(headers: dict[str, str], body: bytes, secret: str) -> bool:
    return base64_signature_matches(body, secret, headers.get("x-wc-webhook-signature"))


def is_activation_ping(headers: dict[str, str], body: bytes) -> bool:
    return "x-wc-webhook-signature" not in headers and _PING.fullmatch(body.strip()) is not None


def read(headers: dict[str, str], body: bytes, channel_id: str) -> Delivery:
    topic = (headers.get("x-wc-webhook-topic") or "").strip()
    if _PING.fullmatch(body.strip()):
        return Delivery(topic or "ping", "ignore", reason="the webhook's activation ping")
    if topic not in (CREATE, UPDATED):
        return Delivery(topic, "ignore", reason=f"topic {topic or '(none)'} is not used")
    payload = json_object(body)
    marketplace_id = exact_id(payload.get("id"))
    if marketplace_id is None:
        raise NotMarketplaceShape("a WooCommerce order has an integer `id`")
    cancelled = payload.get("status") == "cancelled"  # the signed body decides, not the topic header
    if topic == UPDATED:
        if cancelled:
            return Delivery(topic, "cancel", marketplace_id)
        return Delivery(topic, "ignore", marketplace_id, reason=f"an update to status {payload.get('status')!r}")
    if cancelled:
        return Delivery(topic, "ignore", marketplace_id, reason="the order in the body is already cancelled")
    items = payload.get("line_items")
    if not isinstance(items, list):
        raise NotMarketplaceShape("a WooCommerce order has a `line_items` list")
    lines, skipped = [], []
    for item in items:
        line = _line(item)
        if line is None:
            skipped.append(str(item.get("id")))
        else:
            lines.append(line)
    order = {"order_id": order_id(channel_id, marketplace_id), "lines": lines}
    return Delivery(topic, "create", marketplace_id, order=order, skipped_lines=skipped)


def _line(item: Any) -> dict | None:
    if not isinstance(item, dict):
        raise NotMarketplaceShape("each WooCommerce line item is an object")
    line_id = exact_id(item.get("id"))
    quantity = item.get("quantity")
    if line_id is None or not isinstance(quantity, int) or isinstance(quantity, bool):
        raise NotMarketplaceShape("each WooCommerce line item has an integer `id` and `quantity`")
    raw_sku = item.get("sku")
    if raw_sku is not None and not isinstance(raw_sku, str):
        raise NotMarketplaceShape("a WooCommerce line item's `sku` is a string")
    sku = (raw_sku or "").strip()
    if not sku:
        product = exact_id(item.get("variation_id")) if item.get("variation_id") else exact_id(item.get("product_id"))
        if product is None or product == "0":
            return None
        sku = f"product-{product}"
    if quantity < 1:
        return None
    return {"line_id": line_id, "sku": sku, "qty": quantity}
