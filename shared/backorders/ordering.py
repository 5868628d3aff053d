"""Orders: the webhook that takes them, and the assignment of stock to them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from backorders import dynamo, rules
from backorders.dynamo import WriteRefused, with_retries
from backorders.errors import Conflict, InsufficientStock, NotFound, RetryableConflict
from backorders.models import Grn, Order, OrderBackordered, OrderIn, Seller, SkuQty
from backorders.security import sha256_hex
from backorders.store import Store, now


def body_fingerprint(body: dict) -> str:
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":")))


def _answer(order: Order) -> dict:
    return {"order_id": order.order_id, "status": order.status, "warnings": [w.model_dump() for w in order.warnings]}


def _replay(existing: Order, fingerprint: str) -> tuple[int, dict]:
    if existing.body_sha256 != fingerprint:
        raise Conflict(
            f"order {existing.order_id} was already received with different content",
            code="order_id_conflict",
        )
    return 200, _answer(existing)


def receive_order(store: Store, seller: Seller, body: OrderIn) -> tuple[int, dict]:
    """Store a marketplace order, once. 201 when new, 200 for the same order again.

    A seller who does not allow backorders gets the stock assigned in the same
    transaction that stores the order, so two orders racing for the last units can
    never both be accepted; a shortfall refuses the order and writes nothing.
    """
    fingerprint = body_fingerprint(body.model_dump())
    existing = store.order(seller.seller_id, body.order_id)
    if existing:
        return _replay(existing, fingerprint)
    request_id = uuid.uuid4().hex

    def attempt() -> tuple[int, dict]:
        skus = {line.sku for line in body.lines}
        bins = store.bins_by_sku(seller.seller_id, skus)
        warnings = rules.availability_warnings(body, rules.available_by_sku(bins))
        order = Order(
            seller_id=seller.seller_id,
            order_id=body.order_id,
            status="received",
            lines=rules.new_order_lines(body),
            body_sha256=fingerprint,
            created_at=now(),
            warnings=warnings,
            request_id=request_id,
        )
        writes = [store.put_order(order)]
        if not seller.allow_backorders:
            if warnings:
                raise InsufficientStock(
                    "the seller does not allow orders without full stock, and stock is short",
                    details=warnings,
                )
            plan = rules.plan_assignment(order.lines, bins)
            order = order.model_copy(update={"lines": plan.lines, "status": rules.order_status(plan.lines)})
            writes = [store.put_order(order)] + _take_stock(store, seller.seller_id, plan.takes)
        try:
            dynamo.transact(writes)
        except WriteRefused as refused:
            if refused.failed(0):
                raced = store.order(seller.seller_id, body.order_id)
                if raced and raced.request_id == request_id:
                    return 201, _answer(raced)  # our own write, committed before its answer was lost
                if raced:
                    return _replay(raced, fingerprint)
            raise RetryableConflict() from None
        return 201, _answer(order)

    return with_retries(attempt)


def _take_stock(store: Store, seller_id: str, takes: dict[tuple[str, str, str], int]) -> list[dynamo.Write]:
    return [
        store.change_bin(seller_id, sku, loc, bin_, available=-qty, assigned=qty, need_available=qty)
        for (sku, loc, bin_), qty in takes.items()
    ]


def assign_new_order(
    store: Store,
    seller_id: str,
    order_id: str,
    announce: Callable[[OrderBackordered], None],
    first_read: tuple[Order, int] | None = None,
) -> Order | None:
    """Assign available stock to a new order; announce what is still pending.

    Safe to run again: an order already assigned is left as it is, and its
    shortfall is announced again (the next step is idempotent), so a crash between
    the write and the announcement loses nothing.
    """
    reads = [first_read] if first_read else []

    def attempt() -> Order | None:
        found = reads.pop() if reads else store.order_version(seller_id, order_id)
        if not found:
            return None
        order, version = found
        if order.status != "received":
            return order
        plan = rules.plan_assignment(order.lines, store.bins_by_sku(seller_id, {l.sku for l in order.lines}))
        before, order = order, order.model_copy(update={"lines": plan.lines, "status": rules.order_status(plan.lines)})
        try:
            dynamo.transact(
                [store.update_order(order, version, expect_status="received")]
                + _take_stock(store, seller_id, plan.takes)
                + store.waiting_writes(before, order)
            )
        except WriteRefused:
            raise RetryableConflict() from None
        return order

    order = with_retries(attempt)
    if order is not None and order.status == "backordered":
        # Stock that arrived after the bins were read was offered to the waiting lines
        # before this order joined them: look again now that it has.
        for sku in sorted({line.sku for line in order.lines if line.pending_qty}):
            if any(b.available for b in store.bins(seller_id, sku)):
                assign_free_stock(store, seller_id, sku)
        order = store.order(seller_id, order_id) or order
    if order is not None:
        pending = order.lines_needing_po()
        if pending:
            totals: dict[str, int] = {}
            for line in pending:
                totals[line.sku] = totals.get(line.sku, 0) + line.pending_qty
            announce(
                OrderBackordered(
                    correlation_id=order_id,
                    seller_id=seller_id,
                    order_id=order_id,
                    pending=[SkuQty(sku=s, qty=q) for s, q in totals.items()],
                )
            )
    return order


def assign_goods_received(store: Store, grn: Grn) -> Order | None:
    """Give a GRN's goods to the pending quantity of the order they were bought for.

    The goods sit `reserved` in their bin from the GRN on; this step moves them to
    `assigned` (what the order still needs) and `available` (any surplus, which the
    bin's stream then offers to the orders waiting longest), once per GRN.
    """

    def attempt() -> Order | None:
        found = store.order_version(grn.seller_id, grn.source_order_id)
        if not found:  # orders are never deleted; nothing to give the goods to
            return None
        order, version = found
        if grn.grn_id in order.applied_grns:
            return order
        receipt = rules.assign_receipt(order, grn.po_id, grn.grn_id, grn.location, grn.bin, grn.lines)
        before = order
        if order.status != "cancelled":
            order = order.model_copy(update={"lines": receipt.lines, "status": rules.order_status(receipt.lines)})
        writes = [store.update_order(order, version, applied_grn=grn.grn_id), *store.waiting_writes(before, order)]
        used = receipt.used
        for line in grn.lines:
            took = used.get(line.sku, 0)
            writes.append(
                store.change_bin(
                    grn.seller_id,
                    line.sku,
                    grn.location,
                    grn.bin,
                    reserved=-line.qty,
                    assigned=took,
                    available=line.qty - took,
                    need_reserved=line.qty,
                )
            )
        try:
            dynamo.transact(writes)
        except WriteRefused:
            raise RetryableConflict() from None
        return order

    return with_retries(attempt)


def cancel_order(store: Store, seller_id: str, order_id: str) -> Order:
    """Cancel an order: its assigned stock is released (the bins' stream offers it to
    waiting orders), it leaves the queue of waiting lines, and each of its POs shrinks,
    with its vendor order, to what the vendor has already handed over. Goods handed over
    later, or received after this, become free stock. Cancelling again changes nothing.
    """

    def attempt() -> Order:
        found = store.order_version(seller_id, order_id)
        if not found:
            raise NotFound(f"order {order_id} not found")
        order, version = found
        if order.status == "cancelled":
            return order
        cancelled = order.model_copy(
            update={"status": "cancelled", "lines": [rules.cancel_line(line) for line in order.lines]}
        )
        writes = [store.update_order(cancelled, version), *store.waiting_writes(order, cancelled)]
        for (sku, location, bin_), qty in rules.released_stock(order).items():
            writes.append(store.change_bin(seller_id, sku, location, bin_, assigned=-qty, available=qty))
        for po_id in sorted({line.purchase_order_id for line in order.lines if line.purchase_order_id}):
            writes += _shrink_purchase_order(store, seller_id, po_id)
        try:
            dynamo.transact(writes)
        except WriteRefused:
            raise RetryableConflict() from None
        return cancelled

    return with_retries(attempt)


def _shrink_purchase_order(store: Store, seller_id: str, po_id: str) -> list[dynamo.Write]:
    found = store.purchase_order(seller_id, po_id)
    if not found:
        return []
    po, po_version = found
    vo_found = store.vendor_order(po.vendor_id, po.vendor_order_id)
    if not vo_found:
        return []
    vo, vo_version = vo_found
    new_po, new_vo = rules.shrink_to_handed_over(po, vo)
    if new_po == po and new_vo == vo:
        return []
    return [
        store.update_purchase_order(new_po, po_version),
        store.update_vendor_order(new_vo, vo_version),
        *store.open_po_writes(po, new_po),
    ]


def assign_free_stock(store: Store, seller_id: str, sku: str, max_steps: int = 1000) -> int:
    """Offer a SKU's available stock to the lines waiting for it, oldest order first.

    Each step assigns to one line in one transaction; a step that finds nothing to do
    ends it. Returns the quantity assigned.
    """

    def step() -> int | None:
        bins, waiting, _ = store.stock_partition(seller_id, sku)
        free = sum(b.available for b in bins)
        if free <= 0 or not waiting:
            return None
        first = waiting[0]
        found = store.order_version(seller_id, first.order_id)
        order, version = found if found else (None, 0)
        line = order.lines[first.line_index] if order and first.line_index < len(order.lines) else None
        if order is None or line is None or order.waiting().get(first.line_index) != first.pending_qty:
            raise RetryableConflict()  # the order moved on since the queue was read
        plan = rules.plan_assignment([line], {sku: bins}, reason="freed_stock_oldest_first")
        lines = list(order.lines)
        lines[first.line_index] = plan.lines[0].model_copy(update={"no_po_reason": line.no_po_reason})
        before, order = order, order.model_copy(update={"lines": lines, "status": rules.order_status(lines)})
        try:
            dynamo.transact(
                [store.update_order(order, version), *_take_stock(store, seller_id, plan.takes)]
                + store.waiting_writes(before, order)
            )
        except WriteRefused:
            raise RetryableConflict() from None
        return sum(plan.takes.values())

    total = 0
    for _ in range(max_steps):
        moved = with_retries(step)
        if moved is None:
            break
        total += moved
    return total
