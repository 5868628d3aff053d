"""Orders: the webhook that takes them, and the assignment of stock to them."""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from backorders.adapters import dynamo
from backorders.adapters.dynamo import with_retries
from backorders.adapters.store import BinsSeen, Store, now
from backorders.domain import rules
from backorders.domain.errors import Conflict, InsufficientStock, InvalidRequest, NotFound, RetryableConflict
from backorders.domain.models import (
    AvailabilityWarning,
    Grn,
    Order,
    OrderBackordered,
    OrderIn,
    OrderLine,
    PurchaseOrder,
    Seller,
    SkuQty,
    StockBin,
    WaitingLine,
)
from backorders.domain.security import sha256_hex
from backorders.services.once import create_once


def body_fingerprint(body: dict) -> str:
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":")))


def _answer(order: Order) -> dict:
    return {"order_id": order.order_id, "status": order.status, "warnings": [w.model_dump() for w in order.warnings]}


def receive_order(store: Store, seller: Seller, body: OrderIn) -> tuple[int, dict]:
    """Store a marketplace order, once. 201 when new, 200 for the same order again.

    An order whose stock is all there gets it assigned in the same transaction that
    stores the order: it is `ready` in the answer, and nothing else runs for it. So two
    orders racing for the last units can never both be given them. Otherwise a seller
    who allows backorders gets the order stored as `received`, for on_order_created to
    assign what there is and buy the rest; one who does not gets it refused, with
    nothing written. An order whose stock is too spread out for one transaction is
    assigned in steps instead: by on_order_created, or for a seller without backorders,
    accepted in steps (`_accept_in_steps`), taken line by line and all given back if it
    falls short.
    """
    fingerprint = body_fingerprint(body.model_dump())
    request_id = uuid.uuid4().hex

    def create() -> tuple[int, Order]:
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
            warnings=[AvailabilityWarning.model_validate(w) for w in warnings],
            request_id=request_id,
        )
        _check_size(order)
        writes = [store.put_order(order)]
        if warnings and not seller.allow_backorders:
            raise _short(warnings)
        if not warnings:
            # All in stock, as read: stored with its stock taken, in one transaction (the
            # takes are conditional: stock gone meanwhile refuses it, and it runs again).
            plan = rules.plan_assignment(order.lines, bins, at=now(), spread=order.order_id)
            whole = order.model_copy(
                update={"lines": plan.lines, "status": rules.order_status(plan.lines), "lines_assigned": len(plan.lines)}
            )
            taken = [store.put_order(whole), *_take_stock(store, seller.seller_id, plan.takes)]
            if whole.status == "ready" and len(taken) <= dynamo.MAX_TRANSACTION_ITEMS:
                order, writes = whole, taken
            elif not seller.allow_backorders:
                order = order.model_copy(update={"status": "accepting"})
                writes = [store.put_order(order)]
            # else: stored as received, and on_order_created assigns it in steps
        store.commit(writes)
        return 201, order

    status, order = create_once(
        read=lambda: store.order(seller.seller_id, body.order_id),
        same=lambda stored: stored.body_sha256 == fingerprint,
        conflict=lambda stored: Conflict(
            f"order {stored.order_id} was already received with different content", code="order_id_conflict"
        ),
        create=create,
        # our own write, committed before its answer was lost, is still the first time
        replay=lambda stored: (201 if stored.request_id == request_id else 200, stored),
    )
    if order.status == "accepting":  # new and too big for one step, or a resend of one that stopped half way
        order = _accept_in_steps(store, seller.seller_id, body.order_id)
    return status, _answer(order)


# DynamoDB stores an item of at most 400 KB; an order grows as it is worked on (each line's
# allocations, its PO, the GRNs' progress), so it must start well below that.
MAX_STORED_ORDER_BYTES = 300 * 1024


def _check_size(order: Order) -> None:
    """Refuse, before anything is written, an order too big to be stored and worked on
    (500 lines of long multi-byte SKUs can be): the JSON of the item over-estimates
    DynamoDB's own count of it."""
    size = len(order.model_dump_json().encode())
    if size > MAX_STORED_ORDER_BYTES:
        raise InvalidRequest(
            f"the order is too large to store ({size // 1024} KiB as stored, at most {MAX_STORED_ORDER_BYTES // 1024} KiB): "
            "send it as several orders, or with shorter SKUs",
            code="order_too_large",
        )


def _short(warnings: list[dict]) -> InsufficientStock:
    return InsufficientStock("the seller does not allow orders without full stock, and stock is short", details=warnings)


# Items one step may write besides the order itself.
STEP_WRITES = dynamo.MAX_TRANSACTION_ITEMS - 1


def _accept_in_steps(store: Store, seller_id: str, order_id: str) -> Order:
    """Take an all-or-nothing order's stock in steps, each one transaction that moves the
    order's `lines_assigned` on with the stock it takes; the last makes it `ready`. A line
    that stock cannot fill (it was taken meanwhile) gives everything back, removes the
    order and refuses it. Run again after a crash, it goes on from where it stopped."""

    def step() -> Order | None:
        found = store.order_version(seller_id, order_id)
        if not found or found[0].status != "accepting":
            return found[0] if found else None
        order, version = found
        start = order.lines_assigned
        upcoming = order.lines[start : start + STEP_WRITES]
        plan = rules.plan_assignment(upcoming, store.bins_when_asked(seller_id), budget=STEP_WRITES, at=now(), spread=order_id)
        short = [line for line in plan.lines[: plan.done] if line.pending_qty]
        if short:
            raise _Short([{"line_id": l.line_id, "sku": l.sku, "requested": l.qty, "available": l.assigned_qty} for l in short])
        lines = [*order.lines[:start], *plan.lines, *order.lines[start + len(upcoming) :]]
        assigned = start + plan.done
        status = "ready" if assigned == len(lines) else "accepting"
        after = order.model_copy(update={"lines": lines, "lines_assigned": assigned, "status": status})
        store.commit([store.update_order(after, version, expect_status="accepting"), *_take_stock(store, seller_id, plan.takes)])
        return after

    try:
        while True:
            order = with_retries(step)
            if order is None:
                raise _short([])
            if order.status != "accepting":
                return order
    except _Short as short:
        _give_back_in_steps(store, seller_id, order_id)
        raise _short(short.warnings) from None


def finish_acceptance(store: Store, seller_id: str, order_id: str) -> bool:
    """Finish an acceptance in steps that stopped half way (the request that began it
    failed, and the marketplace did not send it again): accepted, or refused and gone."""
    with contextlib.suppress(InsufficientStock):
        _accept_in_steps(store, seller_id, order_id)
    return True


class _Short(Exception):
    def __init__(self, warnings: list[dict]):
        super().__init__("short")
        self.warnings = warnings


def _give_back_in_steps(store: Store, seller_id: str, order_id: str) -> None:
    """Undo a refused acceptance: the stock its lines took goes back, then the order goes."""

    def step() -> bool:
        found = store.order_version(seller_id, order_id)
        if not found or found[0].status != "accepting":
            return False
        order, version = found
        lines, back = list(order.lines), Counter[tuple[str, str, str]]()
        for i, line in enumerate(order.lines):
            kept = []
            for a in line.allocations:
                key = (line.sku, a.location, a.bin)
                if key not in back and len(back) >= STEP_WRITES:
                    kept.append(a)  # for the next step
                else:
                    back[key] += a.qty
            if len(kept) != len(line.allocations):
                released = line.assigned_qty - sum(a.qty for a in kept)
                lines[i] = line.model_copy(
                    update={"assigned_qty": line.assigned_qty - released, "pending_qty": line.pending_qty + released, "allocations": kept}
                )
        if not back:
            store.commit([store.delete_order(order, version)])
            return False
        writes = [store.change_bin(seller_id, sku, loc, bin_, assigned=-qty, available=qty) for (sku, loc, bin_), qty in back.items()]
        after = order.model_copy(update={"lines": lines, "lines_assigned": 0})
        store.commit([store.update_order(after, version, expect_status="accepting"), *writes])
        return True

    while with_retries(step):
        pass


def _take_stock(store: Store, seller_id: str, takes: dict[tuple[str, str, str], int]) -> list[dynamo.Write]:
    return [
        store.change_bin(seller_id, sku, loc, bin_, available=-qty, assigned=qty, need_available=qty, guard=True)
        for (sku, loc, bin_), qty in takes.items()
    ]


def assign_new_order(
    store: Store,
    seller_id: str,
    order_id: str,
    announce: Callable[[OrderBackordered], None],
    first_read: tuple[Order, int] | None = None,
    bins: BinsSeen | None = None,
) -> tuple[Order | None, bool]:
    """Assign available stock to a new order; announce what is still pending.
    Returns the order, and whether this call assigned it.

    Safe to run again: an order already assigned is left as it is, and its
    shortfall is announced again (the next step is idempotent), so a crash between
    the write and the announcement loses nothing. `bins`: the bins the other records
    of the same batch read (see BinsSeen).
    """
    reads = [first_read] if first_read else []
    assigned = False
    seen = bins or BinsSeen(store)
    attempts = 0

    def attempt() -> Order | None:
        """One step: the next lines, as many as one transaction can carry (each line may
        join the queue of waiting lines, each bin it takes from is written)."""
        nonlocal assigned, attempts
        attempts += 1
        if attempts > 1:  # refused, perhaps for stock that was gone: read it afresh
            seen.forget(seller_id)
        found = reads.pop() if reads else store.order_version(seller_id, order_id)
        if not found:
            return None
        order, version = found
        if order.status != "received":
            return order
        start = order.lines_assigned
        upcoming = order.lines[start : start + STEP_WRITES]
        plan = rules.plan_assignment(upcoming, seen.of(seller_id), budget=STEP_WRITES, per_line=1, at=now(), spread=order_id)
        lines = [*order.lines[:start], *plan.lines, *order.lines[start + len(upcoming) :]]
        before = order
        order = order.model_copy(update={"lines": lines, "lines_assigned": start + plan.done})
        order.status = order.status_with(lines)
        store.commit(
            [store.update_order(order, version, expect_status="received"), *_take_stock(store, seller_id, plan.takes), *store.waiting_writes(before, order)]
        )
        seen.forget(seller_id, {sku for sku, _, _ in plan.takes})
        assigned = True
        return order

    while True:
        order = with_retries(attempt)
        if order is None or order.status != "received":
            break
    # (Stock that arrived after the bins were read was offered before these lines joined
    # the queue of waiting lines: see offer_to_lines_that_joined.)
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
    return order, assigned


def offer_to_lines_that_joined(store: Store, waiting_for: set[tuple[str, str]]) -> int:
    """Lines that joined the queue of waiting lines were not in it when stock that came
    meanwhile (between the read that planned them and the write that queued them) was
    offered. A fresh read of each (seller, SKU)'s bins: a bin with stock available then is
    written again, so that the inventory stream offers it (stock that comes later is
    offered by its own write). Returns the bins written: none, unless stock came in that
    instant."""
    written = 0
    for seller_id, sku in sorted(waiting_for):
        free = [b for b in store.bins(seller_id, sku) if b.available > 0]
        if free:
            store.write(store.offer_again(seller_id, sku, free[0].location, free[0].bin))
            written += 1
    return written


def assign_goods_received(store: Store, grn: Grn, read: dict[tuple[str, str], tuple[Order, int]] | None = None) -> tuple[list[Order], bool]:
    """Give a GRN's goods to the order lines they were bought for (its shares, oldest
    allocation first). Returns those orders, and whether this call gave any goods.

    For a GRN whose goods were not given as it was received (see
    `purchasing.goods_receipt`), the goods sit `reserved` in their bin; this step moves them to
    `assigned` (what each line still needs) and `available` (what a line no longer needs,
    which the bin's stream then offers to the orders waiting longest), once per GRN and
    order. Goods for more lines than one transaction can carry are given in steps, each
    recording on the order what it gave (`grn_progress`, per line); the last marks the
    GRN applied. `read`: orders the caller read in one batch for several GRNs; each is
    used once, for the first step on it.
    """
    applied = False
    orders: list[Order] = []
    read = {} if read is None else read

    def attempt(order_id: str) -> tuple[Order | None, bool]:
        """One step for one order; (the order, whether its share of the GRN is all given)."""
        nonlocal applied
        found = read.pop((grn.seller_id, order_id), None) or store.order_version(grn.seller_id, order_id)
        if not found:  # orders that have a PO are never deleted; nothing to give the goods to
            return None, True
        if grn.grn_id in found[0].applied_grns:
            return found[0], True
        given = receipt_for_order(store, grn, *found, budget=STEP_WRITES)
        writes = list(given.writes)
        for sku in sorted(given.took.keys() | given.spare.keys()):
            took, spare = given.took.get(sku, 0), given.spare.get(sku, 0)
            writes.append(
                store.change_bin(
                    grn.seller_id,
                    sku,
                    grn.location,
                    grn.bin,
                    reserved=-(took + spare),
                    assigned=took,
                    available=spare,
                    need_reserved=took + spare,
                )
            )
        store.commit(writes)
        applied = True
        return given.order, given.complete

    for order_id in grn.share_orders():
        while True:
            order, done = with_retries(functools.partial(attempt, order_id))
            if done:
                break
        if order is not None:
            orders.append(order)
    return orders, applied


@dataclass
class OrderReceipt:
    """A GRN's goods given to one order (`receipt_for_order`): the order as changed, its
    writes (the order and its waiting lines; the bin's are the caller's), and per SKU what
    its lines took (`took`, to `assigned`) and no longer needed (`spare`, to `available`)."""

    order: Order
    writes: list[dynamo.Write]
    took: dict[str, int]
    spare: dict[str, int]
    complete: bool


def receipt_for_order(store: Store, grn: Grn, order: Order, version: int, *, budget: int | None = None) -> OrderReceipt:
    """Plan giving a GRN's goods to one order, from the order as read (and its version):
    as much as `budget` writes allow, resuming from what earlier steps gave (its
    `grn_progress`); the order records the GRN as applied with the last step."""
    given = order.grn_progress.get(grn.grn_id, {})
    shares = [share for share in grn.shares if share.order_id == order.order_id]
    receipt = rules.assign_receipt(order, grn.grn_id, grn.location, grn.bin, shares, given=given, budget=budget, at=now())
    before = order
    progress = dict(order.grn_progress)
    if receipt.complete:
        progress.pop(grn.grn_id, None)
    else:
        settled = receipt.settled
        progress[grn.grn_id] = {line_id: given.get(line_id, 0) + settled.get(line_id, 0) for line_id in set(given) | set(settled)}
    order = order.model_copy(update={"lines": receipt.lines, "grn_progress": progress})
    order.status = order.status_with(receipt.lines)
    pending = False
    if order.status == "cancelled":  # it stays open work while other receipts are due to it
        pending = any(g != grn.grn_id or not receipt.complete for g in receipts_pending(store, order))
    writes = [
        store.update_order(order, version, applied_grn=grn.grn_id if receipt.complete else None, receipts_pending=pending),
        *store.waiting_writes(before, order),
    ]
    return OrderReceipt(order, writes, dict(receipt.used), dict(receipt.surplus), receipt.complete)


def receipts_pending(store: Store, order: Order) -> list[str]:
    """The GRNs with goods for the order not yet given to it (in whole), from the
    receipts of the POs its lines were bought on. (A cancelled order's allocations become
    surplus when it is cancelled, so only goods received before then can be due to it.)"""
    pending = []
    for po_id in sorted({po_id for line in order.lines for po_id in line.purchase_order_ids}):
        found = store.purchase_order(order.seller_id, po_id)
        for summary in found[0].grns if found else []:
            if summary.grn_id not in order.applied_grns and any(share.order_id == order.order_id for share in summary.shares):
                pending.append(summary.grn_id)
    return pending


def cancel_order(store: Store, seller_id: str, order_id: str) -> Order:
    """Cancel an order: its assigned stock is released (the bins' stream offers it to
    waiting orders), it leaves the queue of waiting lines, and each of its POs shrinks,
    with its vendor order, to what the vendor has already handed over. Goods handed over
    later, or received after this, become free stock. Cancelling again changes nothing.
    """

    def lines_step() -> tuple[Order, bool]:
        """Give back stock and leave the queue, for as many lines as one step carries."""
        found = store.order_version(seller_id, order_id)
        if not found:
            raise NotFound(f"order {order_id} not found")
        order, version = found
        if order.status == "cancelled":
            return order, True
        step = rules.cancel_step(order, STEP_WRITES)
        if step.lines == order.lines:
            return order, step.complete
        after = order.model_copy(update={"lines": step.lines})
        writes = [store.update_order(after, version), *store.waiting_writes(order, after)]
        for (sku, location, bin_), qty in sorted(step.released.items()):
            writes.append(store.change_bin(seller_id, sku, location, bin_, assigned=-qty, available=qty))
        store.commit(writes)
        return after, step.complete

    def shrink_step(po_id: str) -> None:
        """Its allocations on the PO become surplus, which the PO then sheds (down to
        what was handed over, or to other lines' need rounded to the vendor's terms)."""
        found = store.order_version(seller_id, order_id)
        if not found:
            return
        order, version = found
        po_found = store.purchase_order(seller_id, po_id)
        if not po_found:
            return
        po, po_version = po_found
        mine = rules.allocated_to(po, order_id)
        if not mine:
            return
        released = po
        for line in order.lines:
            if mine.get(line.line_id):
                released = rules.release(released, line.sku, order_id, line.line_id, mine[line.line_id])
        lines = [
            line.model_copy(update={"on_order_qty": max(0, line.on_order_qty - mine[line.line_id])}) if mine.get(line.line_id) else line
            for line in order.lines
        ]
        cut, change = _po_to_need(store, po_version, released)
        store.commit([store.update_order(order.model_copy(update={"lines": lines}), version), *cut, *store.po_summary_writes([(po, change)])])

    def final_step() -> Order:
        order, version = store.order_version(seller_id, order_id) or (None, 0)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        if order.status == "cancelled":
            return order
        if any(l.assigned_qty or l.pending_qty for l in order.lines):
            raise RetryableConflict(f"order {order_id} took stock while it was being cancelled")
        after = order.model_copy(update={"status": "cancelled"})
        # Goods received for it and not yet given to it still are (to free stock, then):
        # it stays open work until they are.
        pending = bool(receipts_pending(store, after))
        store.commit([store.update_order(after, version, receipts_pending=pending), *store.waiting_writes(order, after)])
        return after

    # Lines first, then each PO, then the order's status: a crash half way leaves an
    # order not yet `cancelled`, so cancelling it again finishes the work.
    for _ in range(10_000):
        order, complete = with_retries(lines_step)
        if order.status == "cancelled":
            return order
        if complete:
            break
    for po_id in sorted({po_id for line in order.lines for po_id in line.purchase_order_ids}):
        with_retries(functools.partial(shrink_step, po_id))
    return with_retries(final_step)


def _po_to_need(store: Store, po_version: int, po: PurchaseOrder) -> tuple[list[dynamo.Write], PurchaseOrder]:
    """A PO (as changed since it was read at `po_version`), with its vendor order, cut
    down to what was received and is allocated to waiting lines, rounded to the vendor's
    terms, never below what was handed over. Returns the writes of both (not the SKU
    summaries: the caller writes those once for every PO it changed) and the PO."""
    if po.status == "open":  # in its consolidation window: no vendor order yet, nothing rounded
        cut = rules.cut_po(po, rules.po_needed(po))
        return [store.update_purchase_order(cut, po_version)], cut
    vo_found = store.vendor_order(po.vendor_id, po.vendor_order_id)
    if not vo_found or po.manual:  # what the seller bought by hand stays bought
        return [store.update_purchase_order(po, po_version)], po
    vo, vo_version = vo_found
    new_po, new_vo = rules.shrink_po(po, vo, rules.po_needed(po))
    writes = [store.update_purchase_order(new_po, po_version)]
    if new_vo != vo:
        writes.append(store.update_vendor_order(new_vo, vo_version))
    return writes, new_po


STOCK_HEAD = 25  # items of a SKU's partition a freed-stock step reads first: bins, summary, oldest waiting lines
REPEG_READS = 3  # waiting orders a step looks at for a line to hand an allocation on to


def _hand_on(store: Store, order: Order, line: OrderLine, waiting: list[WaitingLine]) -> tuple[OrderLine, list[dynamo.Write]]:
    """A line that now waits for less than is on order for it gives up the difference of
    its PO allocations (newest PO first). Each unit goes to the line of that SKU waiting
    longest (in another order) that needs more than is on order for it, else becomes
    surplus, which the PO sheds down to its vendor's terms. Returns the line and the
    writes (the POs, their vendor orders and SKU summary, the orders handed to)."""
    excess = line.on_order_qty - line.pending_qty
    if excess <= 0 or not line.purchase_order_ids:
        return line, []
    changed: list[tuple[PurchaseOrder, int, PurchaseOrder]] = []  # (as read, its version, as changed)
    released = 0
    for po_id in reversed(line.purchase_order_ids):
        found = store.purchase_order(order.seller_id, po_id)
        mine = rules.allocated_to(found[0], order.order_id).get(line.line_id, 0) if found else 0
        take = min(mine, excess - released)
        if found and take > 0:
            changed.append((found[0], found[1], rules.release(found[0], line.sku, order.order_id, line.line_id, take)))
            released += take
    line = line.model_copy(update={"on_order_qty": line.on_order_qty - released})
    if not changed:  # what is on order for it beyond its need is goods already received
        return line, []
    targets: dict[str, tuple[Order, int]] = {}
    others = [w for w in waiting if w.order_id != order.order_id]
    given, _ = give_to_waiting(store, order.seller_id, line.sku, [po for _, _, po in changed], others, targets, REPEG_READS)
    changed = [(read, version, po) for (read, version, _), po in zip(changed, given, strict=True)]
    writes = [store.update_order(target, version) for target, version in targets.values()]
    summaries: list[tuple[PurchaseOrder | None, PurchaseOrder]] = []
    for read, version, po in changed:
        cut, after = _po_to_need(store, version, po)
        writes += cut
        summaries.append((read, after))
    return line, [*writes, *store.po_summary_writes(summaries)]


def give_to_waiting(
    store: Store,
    seller_id: str,
    sku: str,
    pos: list[PurchaseOrder],
    waiting: list[WaitingLine],
    served: dict[str, tuple[Order, int]],
    max_reads: int,
) -> tuple[list[PurchaseOrder], int]:
    """The POs' surplus of `sku` goes to the lines waiting for it that need more than is
    on order for them, in the queue's order (oldest first), reading at most `max_reads`
    orders. `served` gathers the orders given to, as changed, with the version read (and
    is read first). Returns the POs with their new allocations, and the orders read."""
    pos = list(pos)
    reads = 0
    for w in waiting:
        if reads >= max_reads or not any(rules.surplus_of(po, sku) for po in pos):
            break
        if not any(rules.may_serve(po, w.order_id) for po in pos):
            continue
        found = served.get(w.order_id)
        if found is None:
            reads += 1
            found = store.order_version(seller_id, w.order_id)
        if found is None or w.line_index >= len(found[0].lines) or found[0].lines[w.line_index].sku != sku:
            continue
        order, version = found
        line = order.lines[w.line_index]
        for k, po in enumerate(pos):
            give = min(line.needs_po, rules.surplus_of(po, sku)) if rules.may_serve(po, order.order_id) else 0
            if give > 0:
                pos[k] = rules.allocate(po, sku, order.order_id, line.line_id, give)
                line = rules.cover(line, po.po_id, give)
        if line is not order.lines[w.line_index]:
            lines = list(order.lines)
            lines[w.line_index] = line
            served[order.order_id] = (order.model_copy(update={"lines": lines}), version)
    return pos, reads


def assign_free_stock(store: Store, seller_id: str, sku: str, max_steps: int = 1000) -> int:
    """Offer a SKU's available stock to the lines waiting for it, oldest order first.

    Each step assigns to one line in one transaction; a step that finds nothing to do
    ends it. Returns the quantity assigned.
    """

    def nothing_to_offer(bins: list[StockBin], waiting: list[WaitingLine]) -> bool:
        # Goods received and not yet given to their order wait first: that order may be
        # the one waiting. Their bin is marked, so that the write giving out the last of
        # them offers the rest again (the stream passes it; see topology); the mark goes
        # once nothing is held back.
        holding = [b for b in bins if b.reserved]
        if not holding:
            for b in bins:
                if b.offer_when_received:
                    with contextlib.suppress(dynamo.WriteRefused):  # goods received again since: it stays
                        store.write(store.unmark_offer_when_received(seller_id, sku, b.location, b.bin))
        if sum(b.available for b in bins) <= 0 or not waiting:
            return True
        for b in holding:
            if not b.offer_when_received:
                store.write(store.mark_offer_when_received(seller_id, sku, b.location, b.bin))
        return bool(holding)

    def step() -> int | None:
        # The head of the partition first: a SKU many orders wait for, with nothing free
        # (each new waiting line asks), is not read whole each time.
        bins, waiting, whole = store.stock_head(seller_id, sku, STOCK_HEAD)
        if waiting and nothing_to_offer(bins, waiting):
            return None
        if not whole:  # the rest of the queue, for the step's hand-on
            bins, waiting, _ = store.stock_partition(seller_id, sku)
        if nothing_to_offer(bins, waiting):
            return None
        first = waiting[0]
        found = store.order_version(seller_id, first.order_id)
        order, version = found if found else (None, 0)
        line = order.lines[first.line_index] if order and first.line_index < len(order.lines) else None
        if order is None or line is None or order.waiting().get(first.line_index) != first.pending_qty:
            # the order moved on since the queue was read
            raise RetryableConflict(f"waiting line {first.order_id}/{first.line_id} of {sku} no longer matches its order")
        plan = rules.plan_assignment(
            [line], {sku: bins}, reason="freed_stock_oldest_first", budget=STEP_WRITES, per_line=1, at=now(), spread=order.order_id
        )
        lines = list(order.lines)
        lines[first.line_index] = plan.lines[0].model_copy(update={"no_po_reason": line.no_po_reason})
        # the line needs less from its POs now: what they have on order for it beyond that
        # goes to the line waiting longest without it, else is not bought
        lines[first.line_index], handed_on = _hand_on(store, order, lines[first.line_index], waiting[1:])
        before, order = order, order.model_copy(update={"lines": lines})
        order.status = order.status_with(lines)
        store.commit(
            [
                store.update_order(order, version),
                *_take_stock(store, seller_id, plan.takes),
                *store.waiting_writes(before, order),
                *handed_on,
            ]
        )
        return sum(plan.takes.values())

    total = 0
    for _ in range(max_steps):
        moved = with_retries(step)
        if moved is None:
            break
        total += moved
    return total
