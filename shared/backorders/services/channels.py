"""A seller's marketplace channels: set up by ops, posted to by the marketplace itself.

A delivery is verified (by the gate, with the channel's secret), read by the
marketplace's module, and turned into what our own webhook does: store an order, or
cancel one. Everything after that happens downstream, as for any order. A correctly
signed delivery is always answered 200 with its outcome, even when a business rule
refuses it: a marketplace retries anything else and then drops the subscription.
"""

from __future__ import annotations

import contextlib

from pydantic import ValidationError

from backorders import topology
from backorders.adapters.dynamo import WriteRefused, with_retries
from backorders.adapters.store import DELIVERY, Store, now
from backorders.domain import marketplaces
from backorders.domain.errors import DomainError, InvalidRequest, NotFound
from backorders.domain.marketplaces import MAX_CHANNEL_ID, ChannelIn, Delivery, NotMarketplaceShape
from backorders.domain.models import OrderIn, Seller
from backorders.services import ordering, pages
from backorders.services.accounts import existing_seller


def webhook_path(seller_id: str, channel_id: str) -> str:
    return f"{topology.V}/sellers/{seller_id}/channels/{channel_id}/webhooks"


def public_channel(channel: dict) -> dict:
    return {
        "channel_id": channel["channel_id"],
        "kind": channel["kind"],
        "webhook_path": webhook_path(channel["seller_id"], channel["channel_id"]),
    }


def put_channel(store: Store, seller_id: str, channel_id: str, body: ChannelIn) -> tuple[int, dict]:
    """Create or update a channel; 201 when new. The answer never carries the secret."""
    existing_seller(store, seller_id)
    if len(channel_id) > MAX_CHANNEL_ID:
        raise InvalidRequest(
            f"a channel id has at most {MAX_CHANNEL_ID} characters, so that its order ids "
            "(<channel_id>-<marketplace order id>) fit in 64",
            details=[{"field": "channel_id", "value": channel_id}],
        )

    def attempt() -> tuple[int, dict]:
        found = store.channel(seller_id, channel_id)
        stamp = now()
        data = {"kind": body.kind, "secret": body.secret, "updated_at": stamp}
        data["created_at"] = found["created_at"] if found else stamp
        store.commit([store.put_channel(seller_id, channel_id, data, create=found is None)])
        return (200 if found else 201), public_channel({"seller_id": seller_id, "channel_id": channel_id, **data})

    return with_retries(attempt)


def receive_delivery(store: Store, seller: Seller, channel: dict, headers: dict[str, str], body: bytes) -> dict:
    """One verified delivery: what it asked for, done once, and recorded in the list."""
    kind = channel["kind"]
    try:
        delivery = marketplaces.module(kind).read(headers, body, channel["channel_id"])
    except NotMarketplaceShape as e:  # a 400, which like every refusal writes nothing; the marketplace lists it
        raise InvalidRequest(f"not a {kind} webhook body: {e}", code="not_marketplace_shape") from None
    order_id = marketplaces.order_id(channel["channel_id"], delivery.marketplace_order_id) if delivery.marketplace_order_id else None
    if delivery.action == "create":
        outcome, reason = _create(store, seller, delivery)
    elif delivery.action == "cancel" and order_id:
        outcome, reason = _cancel(store, seller.seller_id, order_id)
    else:
        outcome, reason = "ignored", delivery.reason
    _record(store, channel, delivery.topic, delivery.marketplace_order_id, outcome, reason, order_id)
    return {"outcome": outcome, "order_id": order_id, "reason": reason}


def _create(store: Store, seller: Seller, delivery: Delivery) -> tuple[str, str | None]:
    assert delivery.order is not None
    order_id = delivery.order["order_id"]
    if not delivery.order["lines"]:
        return "refused", "no line item is stock to assign (only custom items, or nothing left to ship)"
    if store.order_cancelled_early(seller.seller_id, order_id):
        return "refused", "the marketplace cancelled this order before it arrived here"
    try:
        order = OrderIn.model_validate(delivery.order)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return "refused", f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    try:
        status, _ = ordering.receive_order(store, seller, order)
    except DomainError as e:
        return "refused", e.message
    # A cancellation that arrived while this one was being stored (deliveries come in
    # any order): whichever of the two writes last sees the other's write.
    if status == 201 and store.order_cancelled_early(seller.seller_id, order_id):
        ordering.cancel_order(store, seller.seller_id, order_id)
        return "cancelled", "the marketplace cancelled this order while it was being stored"
    skipped = f"; line items left out (no SKU or variant, or nothing to ship): {', '.join(delivery.skipped_lines)}"
    reason = skipped[2:] if delivery.skipped_lines else None
    return ("created" if status == 201 else "duplicate"), reason


def _cancel(store: Store, seller_id: str, order_id: str) -> tuple[str, str | None]:
    order = store.order(seller_id, order_id)
    if order is None:
        # Deliveries come in any order: remember the cancellation, so the order arriving
        # later is not stored as live (see `_create`).
        with contextlib.suppress(WriteRefused):  # remembered already
            store.write(store.put_early_cancellation(seller_id, order_id))
        order = store.order(seller_id, order_id)
        if order is None:
            return "ignored", "not received here (yet): if it arrives later, it is refused as cancelled"
    if order.status == "cancelled":
        return "duplicate", None
    try:
        ordering.cancel_order(store, seller_id, order_id)
    except DomainError as e:
        return "refused", e.message
    return "cancelled", None


def _record(
    store: Store,
    channel: dict,
    topic: str,
    marketplace_order_id: str | None,
    outcome: str,
    reason: str | None,
    order_id: str | None = None,
) -> None:
    record = {
        "received_at": now(),
        "topic": topic[:200],
        "marketplace_order_id": marketplace_order_id,
        "order_id": order_id,
        "outcome": outcome,
        "reason": reason[:500] if reason else None,
    }
    store.write(store.put_delivery(channel["seller_id"], channel["channel_id"], record))


def deliveries(store: Store, seller_id: str, channel_id: str, limit: int, cursor: str | None) -> dict:
    """A channel's deliveries, newest first, a page at a time."""
    if store.channel(seller_id, channel_id) is None:
        raise NotFound(f"channel {channel_id} not found")
    items, last = store.deliveries(seller_id, channel_id, limit, pages.after(cursor, DELIVERY))
    fields = ("received_at", "topic", "marketplace_order_id", "order_id", "outcome", "reason")
    return {"items": [{k: i.get(k) for k in fields} for i in items], "next_cursor": pages.cursor(last)}
