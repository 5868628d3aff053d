"""Stock figures per SKU, and customer returns."""

from __future__ import annotations

from backorders.adapters import dynamo
from backorders.adapters.store import Store
from backorders.domain.errors import Conflict, NotFound
from backorders.domain.models import DEFAULT_BIN, MAIN_LOCATION, Return, ReturnIn
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
    if not bins and not waiting and not summary.open_po_qty and not summary.expected_returns and not store.mapping_records(seller_id, {sku}):
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
        "open_po_qty": summary.open_po_qty,
        "expected_returns": summary.expected_returns,
        "quantity_to_purchase": max(0, need - summary.open_po_qty),
        "surplus_on_order": max(0, summary.open_po_qty - need),
        "bins": [b.model_dump() for b in sorted(bins, key=lambda b: (not b.is_default, b.location, b.bin))],
    }


def record_return(store: Store, seller_id: str, body: ReturnIn) -> tuple[int, dict]:
    """A customer return: `expected` counts against the quantity to purchase; `received`
    adds the goods to the Default Bin of the main location (where the bins' stream
    offers them to waiting orders). An expected return may later be received; the same
    return again changes nothing."""
    fingerprint = body_fingerprint({"sku": body.sku, "qty": body.qty})
    record = Return(return_id=body.return_id, seller_id=seller_id, sku=body.sku, qty=body.qty, status=body.status)

    def stock_in() -> dynamo.Write:
        return store.change_bin(seller_id, body.sku, MAIN_LOCATION, DEFAULT_BIN, available=body.qty)

    def create() -> tuple[int, dict]:
        writes = [store.put_return(record, fingerprint)]
        if body.status == "expected":
            writes.append(store.change_summary(seller_id, body.sku, expected_returns=body.qty))
        else:
            writes.append(stock_in())
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
                stock_in(),
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
