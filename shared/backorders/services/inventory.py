"""Stock figures per SKU, and customer returns."""

from __future__ import annotations

from backorders.adapters import dynamo
from backorders.adapters.store import Store
from backorders.domain import rules
from backorders.domain.errors import Conflict, NotFound
from backorders.domain.models import DEFAULT_BIN, MAIN_LOCATION, Return, ReturnIn, StockBin, shard_bin
from backorders.services.once import create_once
from backorders.services.ordering import body_fingerprint


def stock_view(store: Store, seller_id: str, sku: str) -> dict:
    """What a seller sees for one SKU; one Query of the SKU's partition, no scans.

    - on_hand: in the seller's bins (available + assigned, including goods received
      for an order and not yet assigned to it)
    - pending_backorders: what waiting orders still need
    - open_po_qty: ordered and not yet received, on open purchase orders
    - expected_returns: customer returns announced and not yet received
    - quantity_to_purchase: what waiting orders need beyond what is available, on order
      or expected back; surplus_on_order: the reverse, what is on order beyond that need
      (pack and minimum rounding, or orders cancelled after their goods were handed over)
    """
    bins, waiting, summary = store.stock_partition(seller_id, sku)
    open_po_qty = summary.ordered_on_pos - sum(b.received_on_pos for b in bins)
    if not bins and not waiting and not summary.ordered_on_pos and not summary.expected_returns and not store.mapping_records(seller_id, {sku}):
        # nothing was ever recorded for it: most likely a mistyped SKU, not one with no stock
        raise NotFound(f"SKU {sku!r} is unknown for seller {seller_id}: no mapping, stock or orders", code="sku_unknown")
    available = sum(b.available for b in bins)
    assigned = sum(b.assigned + b.reserved for b in bins)
    pending = sum(w.pending_qty for w in waiting)
    need = max(0, pending - available - summary.expected_returns)
    return {
        "sku": sku,
        "on_hand": available + assigned,
        "assigned": assigned,
        "available": available,
        "pending_backorders": pending,
        "open_po_qty": open_po_qty,
        "expected_returns": summary.expected_returns,
        "quantity_to_purchase": max(0, need - open_po_qty),
        "surplus_on_order": max(0, open_po_qty - need),
        "bins": _bins_shown(bins),
    }


def _bins_shown(bins: list[StockBin]) -> list[dict]:
    """Bins as the seller knows them, the Default Bin first: a sharded bin is one bin,
    its figures the sums of its shards', with how many shards it has."""
    shown: dict[tuple[str, str], dict] = {}
    for b in sorted(bins, key=lambda b: b.pick_key):
        row = shown.setdefault((b.location, b.base), {"location": b.location, "bin": b.base, "available": 0, "assigned": 0, "reserved": 0})
        for figure in ("available", "assigned", "reserved"):
            row[figure] += getattr(b, figure)
        if b.shard:
            row["shards"] = row.get("shards", 1) + 1
    return list(shown.values())


def default_bin_in(store: Store, seller_id: str, sku: str, qty: int) -> list[dynamo.Write]:
    """Available stock into the Default Bin of the main location, spread evenly over the
    SKU's shards (one write when it has none)."""
    parts = rules.spread_evenly(qty, store.stock_shards(seller_id, sku))
    return [
        store.change_bin(seller_id, sku, MAIN_LOCATION, shard_bin(DEFAULT_BIN, k), available=part)
        for k, part in enumerate(parts)
        if part
    ]


def _default_bin_moves(store: Store, seller_id: str, sku: str, changes: dict[str, int]) -> list[dynamo.Write]:
    """Changes of available stock in the Default Bin's shards (bin id -> change), planned
    from a read: each guarded, so a shard whose stock moved since refuses (read again)."""
    return [
        store.change_bin(seller_id, sku, MAIN_LOCATION, bin_, available=change, need_available=max(0, -change), guard=True)
        for bin_, change in changes.items()
    ]


def default_bin_out(store: Store, seller_id: str, sku: str, qty: int) -> list[dynamo.Write] | None:
    """Writes that remove `qty` available from the Default Bin's shards, as read now;
    None when they do not hold that much."""
    takes = rules.take_from_shards([b for b in store.bins(seller_id, sku) if b.is_default], qty)
    if takes is None:
        return None
    return _default_bin_moves(store, seller_id, sku, {bin_: -take for bin_, take in takes.items()})


def reshard(store: Store, seller_id: str, sku: str, shards: int, mapping: dynamo.Write) -> None:
    """The mapping with its new shard count, and the Default Bin's available stock spread
    evenly over that many shards, in one step (a refused move is a RetryableConflict)."""
    moves = rules.rebalance_shards([b for b in store.bins(seller_id, sku) if b.is_default], shards, DEFAULT_BIN)
    store.commit([mapping, *_default_bin_moves(store, seller_id, sku, moves)])


def record_return(store: Store, seller_id: str, body: ReturnIn) -> tuple[int, dict]:
    """A customer return: `expected` counts against the quantity to purchase; `received`
    adds the goods to the Default Bin of the main location (where the bins' stream
    offers them to waiting orders). An expected return may later be received; the same
    return again changes nothing."""
    fingerprint = body_fingerprint({"sku": body.sku, "qty": body.qty})
    record = Return(return_id=body.return_id, seller_id=seller_id, sku=body.sku, qty=body.qty, status=body.status)

    def stock_in() -> list[dynamo.Write]:
        return default_bin_in(store, seller_id, body.sku, body.qty)

    def create() -> tuple[int, dict]:
        writes = [store.put_return(record, fingerprint)]
        if body.status == "expected":
            writes.append(store.change_summary(seller_id, body.sku, expected_returns=body.qty))
        else:
            writes += stock_in()
        store.commit(writes)
        return 201, record.model_dump()

    def replay(existing: Return) -> tuple[int, dict]:
        if existing.status == body.status:
            return 200, record.model_dump()
        if existing.status == "received":
            raise Conflict(f"return {body.return_id} was already received", code="return_already_received")
        # announced as expected, now received: one step, guarded by the status it read
        store.commit(
            [
                store.mark_return_received(record),
                store.change_summary(seller_id, body.sku, expected_returns=-body.qty),
                *stock_in(),
            ]
        )
        return 201, record.model_dump()

    return create_once(
        read=lambda: store.stored_return(seller_id, body.return_id),
        same=lambda stored: (stored.sku, stored.qty) == (body.sku, body.qty),
        conflict=lambda stored: Conflict(f"return {body.return_id} was already recorded with other goods", code="return_id_conflict"),
        create=create,
        replay=replay,
    )
