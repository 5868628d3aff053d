"""Purchase orders, vendor orders, handovers and goods receipts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backorders.adapters import dynamo
from backorders.adapters.dynamo import with_retries
from backorders.adapters.store import Store, now
from backorders.domain import ids, rules
from backorders.domain.errors import BusinessRuleViolation, Conflict, NotFound
from backorders.domain.models import (
    DEFAULT_BIN,
    HEALABLE,
    MAIN_LOCATION,
    ApproveIn,
    DeclineIn,
    Grn,
    GrnIn,
    GrnSummary,
    HandoverIn,
    HandoverSummary,
    ManualPoIn,
    NoPoReason,
    Order,
    OrderLine,
    PoCancelIn,
    PoLine,
    PurchaseOrder,
    Quantity,
    Seller,
    Vendor,
    VendorOrder,
    VendorOrderLine,
)
from backorders.services import ordering
from backorders.services.once import create_once
from backorders.services.ordering import body_fingerprint

NET_AT_ONCE = 5  # POs with surplus one step takes from
# Waiting orders a PO raised by hand reads, oldest first, for lines it can serve (most
# waiting lines have a PO of their own); what it finds no line for is surplus.
MANUAL_PO_READS = 100


def raise_purchase_orders(store: Store, seller_id: str, order_id: str) -> tuple[list[str], bool]:
    """For what an order's lines wait for beyond what is on order for them: first the
    surplus already on order for the SKU from the same vendor (oldest PO first), then an
    approved PO per vendor plus the vendor's B2B order for the rest; or the reason why
    not, recorded on the line. Returns the POs created now, and whether anything (an
    allocation, a PO or a reason) was recorded now.

    Each step is one transaction: the order's lines, the POs whose surplus they take and
    the new PO with its vendor order, under an id derived from seller, order and vendor:
    running this again creates nothing twice.
    """
    seller = store.seller(seller_id)
    found = store.order_version(seller_id, order_id)
    if not seller or not found:
        return [], False
    skus = {line.sku for line in found[0].lines_needing_po()}
    if not skus:
        return [], False
    records = store.mapping_records(seller_id, skus)
    mappings = {sku: m.get("vendor_id") for sku, m in records.items()}
    rounding = rules.vendor_terms(records)
    vendors = store.vendors({v for v in mappings.values() if v})
    created: list[str] = []
    reads = [found]

    def attempt() -> bool:
        current = reads.pop() if reads else store.order_version(seller_id, order_id)
        if current is None:  # orders that have lines waiting are never deleted
            return False
        order, version = current
        plan = rules.plan_purchase(order, seller, mappings, vendors)
        if not plan.reasons and not plan.by_vendor:
            return False
        lines = [line.model_copy() for line in order.lines]
        for i, reason in plan.reasons.items():
            lines[i].no_po_reason = reason
        writes: list[dynamo.Write] = []
        po_id = None
        if plan.by_vendor:
            vendor_id, indexes = next(iter(plan.by_vendor.items()))
            chunk = rules.po_chunk(order, indexes)
            taken = _take_surplus(store, order, lines, chunk, vendor_id)
            writes += [store.update_purchase_order(after, po_version) for _, po_version, after in taken]
            changed: list[tuple[PurchaseOrder | None, PurchaseOrder]] = [(before, after) for before, _, after in taken]
            still = [i for i in chunk if lines[i].needs_po]
            if still:
                with_lines = order.model_copy(update={"lines": lines})
                if seller.po_consolidation_minutes:
                    before, po, po_writes = _join_window(store, seller, with_lines, still, vendor_id, rounding)
                    writes += po_writes
                else:
                    # Too many SKUs for one PO: one PO per chunk, each id derived from its first line.
                    part = None if chunk == indexes else order.lines[chunk[0]].line_id
                    if part is None and _has_own_po(order, vendor_id):
                        part = order.lines[chunk[0]].line_id
                    new_id = ids.purchase_order_id(seller_id, order_id, vendor_id, part)
                    po = _new_purchase_order(seller_id, vendor_id, new_id, order_id, rules.po_lines(with_lines, still, rounding), now())
                    vendor_order = _vendor_order_for(po, vendors[vendor_id], seller.name)
                    before = None
                    writes += [store.put_purchase_order(po), store.put_vendor_order(vendor_order)]
                for i in still:
                    lines[i] = rules.cover(lines[i], po.po_id, lines[i].needs_po)
                changed.append((before, po))
                if before is None:
                    po_id = po.po_id
            writes += store.po_summary_writes(changed)  # one write per SKU, however many POs moved it
        updated = order.model_copy(update={"lines": lines})
        writes.append(store.update_order(updated, version))
        store.commit(writes)
        reads.append((updated, version + 1))  # what the next step starts from, unless a conflict makes it read again
        if po_id:
            created.append(po_id)
        return True

    # One vendor per step. The order, not the event, says what is still pending: a
    # cancellation or freed stock since the event must not be bought for; every step is
    # written against the order version it planned from.
    changed = False
    while with_retries(attempt):
        changed = True
    return created, changed


def _has_own_po(order: Order, vendor_id: str) -> bool:
    """Whether this vendor already has a PO named after the order (lines that got theirs
    later, once mapped): a new one is then named after its first line, as a split PO is."""
    own = ids.purchase_order_id(order.seller_id, order.order_id, vendor_id)
    return any(own in line.purchase_order_ids for line in order.lines)


def _join_window(
    store: Store, seller: Seller, order: Order, indexes: list[int], vendor_id: str, rounding: rules.Rounding
) -> tuple[PurchaseOrder | None, PurchaseOrder, list[dynamo.Write]]:
    """The lines' need added to the vendor's open PO, or to a new one whose window opens
    now (when none is open, or the open one has no room for them). Returns the PO as read
    (None when new), as changed, and its writes: a join is a versioned update of the PO,
    an opening puts it and points the vendor's window at it, so two shortfalls that open
    one at once cannot both succeed (the second reads again and joins)."""
    pointed = store.po_window(seller.seller_id, vendor_id)
    found = store.purchase_order(seller.seller_id, pointed) if pointed else None
    opened_at = datetime.now(UTC)
    if found and rules.window_has_room(found[0], order, indexes, _stamp(opened_at)):
        current, version = found
        joined = rules.join_window(current, order, indexes, rounding)
        return current, joined, [store.update_purchase_order(joined, version)]
    # Named after the order and the window it follows: a window is followed once (the
    # pointer's condition), so an order that opens a window again gets a new name.
    part = pointed or (order.lines[indexes[0]].line_id if _has_own_po(order, vendor_id) else None)
    po_id = ids.purchase_order_id(order.seller_id, order.order_id, vendor_id, part)
    closes_at = _stamp(opened_at + timedelta(minutes=seller.po_consolidation_minutes))
    empty = _new_purchase_order(seller.seller_id, vendor_id, po_id, order.order_id, [], _stamp(opened_at), closes_at=closes_at)
    po = rules.join_window(empty, order, indexes, rounding)
    return None, po, [store.put_purchase_order(po), store.open_window(po, replacing=pointed)]


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def _take_surplus(
    store: Store, order: Order, lines: list[OrderLine], indexes: list[int], vendor_id: str
) -> list[tuple[PurchaseOrder, int, PurchaseOrder]]:
    """Allocate surplus already on order from `vendor_id` to the lines (at `indexes` of
    `lines`, changed in place) that need more than is on order for them. Returns the POs
    it came from: as read, their version, as changed."""
    skus = {lines[i].sku for i in indexes}
    offers = [
        s
        for summary in store.summaries(order.seller_id, skus).values()
        for s in summary.surplus
        if s.vendor_id == vendor_id and s.qty > 0
    ]
    taken = []
    for po_id in list(dict.fromkeys(s.po_id for s in offers))[:NET_AT_ONCE]:
        found = store.purchase_order(order.seller_id, po_id)
        if not found:
            continue
        before, po_version = found
        if before.status not in ("approved", "partially_received") or not rules.may_serve(before, order.order_id):
            continue
        po = before
        for i in indexes:
            take = min(lines[i].needs_po, rules.surplus_of(po, lines[i].sku))
            if take <= 0:
                continue
            po = rules.allocate(po, lines[i].sku, order.order_id, lines[i].line_id, take)
            lines[i] = rules.cover(lines[i], po_id, take)
        if po != before:
            taken.append((before, po_version, po))
    return taken


HEAL_AT_ONCE = 50  # orders healed in the request that fixed the cause; the reconciler heals the rest


def manual_purchase_order(store: Store, seller: Seller, body: ManualPoIn) -> tuple[int, dict]:
    """A PO the seller raises by hand, approved, with its vendor order, once per `po_ref`.
    Its units go to the lines waiting for its SKUs that need more than is on order for
    them, oldest first (at most rules.MAX_PO_ORDERS orders); the rest is surplus, which later
    shortfalls of the SKU take and which is never cut for the seller."""
    seller_id = seller.seller_id
    po_id = ids.purchase_order_id_for_reference(seller_id, body.po_ref)
    fingerprint = body_fingerprint(body.model_dump())

    def stored() -> PurchaseOrder | None:
        found = store.purchase_order(seller_id, po_id)
        return found[0] if found else None

    def answer(po: PurchaseOrder) -> dict:
        vo = store.vendor_order(po.vendor_id, po.vendor_order_id)
        return po_view(po, vo[0] if vo else None)

    def create() -> tuple[int, dict]:
        vendor = store.vendors({body.vendor_id}).get(body.vendor_id)
        if vendor is None:
            raise NotFound(f"vendor {body.vendor_id} not found")
        if not rules.vendor_is_eligible(vendor):
            raise BusinessRuleViolation(
                f"vendor {body.vendor_id} cannot get purchase orders: it must be a B2B vendor "
                "(is_b2b_new true, vendor_panel_type 2, is_warehouse_location false)",
                code="vendor_not_eligible",
            )
        bought = [PoLine(sku=line.sku, qty=line.qty, surplus_qty=line.qty) for line in body.lines]
        po = _new_purchase_order(seller_id, vendor.vendor_id, po_id, None, bought, now(), po_ref=body.po_ref, body_sha256=fingerprint)
        served: dict[str, tuple[Order, int]] = {}
        reads = 0  # for all its SKUs together
        for line in body.lines:
            _, waiting, _ = store.stock_partition(seller_id, line.sku)
            [po], read = ordering.give_to_waiting(store, seller_id, line.sku, [po], waiting, served, MANUAL_PO_READS - reads)
            reads += read
        vo = _vendor_order_for(po, vendor, seller.name)
        store.commit(
            [
                store.put_purchase_order(po),  # first: refused when the reference was used meanwhile
                store.put_vendor_order(vo),
                *store.po_summary_writes([(None, po)]),
                *(store.update_order(order, version) for order, version in served.values()),
            ]
        )
        return 201, po_view(po, vo)

    return create_once(
        read=stored,
        same=lambda po: po.body_sha256 == fingerprint,
        conflict=lambda po: Conflict(f"purchase order {body.po_ref} was already raised with different content", code="po_ref_conflict"),
        create=create,
        replay=lambda po: (200, answer(po)),
    )


def heal_order(store: Store, seller_id: str, order_id: str, skus: set[str] | None = None) -> list[str]:
    """Give the order's lines left without a PO (for a cause that may be fixed now: a
    mapping, a vendor's flags, the seller's auto PO) their PO, when the cause is gone: the
    reasons of the lines that would now get one are cleared in one versioned step, then
    the POs are raised as for a new shortfall. Lines whose cause is still there are left
    as they are (nothing written). Returns the POs raised."""

    def clear() -> bool:
        seller = store.seller(seller_id)
        found = store.order_version(seller_id, order_id)
        if not seller or not found:
            return False
        order, version = found
        stuck = [
            i
            for i, line in enumerate(order.lines)
            if line.no_po_reason in HEALABLE and line.needs_po and (skus is None or line.sku in skus)
        ]
        if not stuck:
            return False
        lines = list(order.lines)
        for i in stuck:
            lines[i] = lines[i].model_copy(update={"no_po_reason": None})
        retry = order.model_copy(update={"lines": lines})
        mappings = store.mappings(seller_id, {order.lines[i].sku for i in stuck})
        plan = rules.plan_purchase(retry, seller, mappings, store.vendors({v for v in mappings.values() if v}))
        fixed = {i for indexes in plan.by_vendor.values() for i in indexes} & set(stuck)
        # a line whose cause changed (mapped now, to a vendor that cannot get POs) says the new one
        lines = [
            line.model_copy(update={"no_po_reason": None if i in fixed else plan.reasons.get(i, line.no_po_reason)}) if i in stuck else line
            for i, line in enumerate(order.lines)
        ]
        if lines == order.lines:
            return False  # every cause is still there
        store.commit([store.update_order(order.model_copy(update={"lines": lines}), version)])
        return bool(fixed)

    if not with_retries(clear):
        return []
    created, _ = raise_purchase_orders(store, seller_id, order_id)
    return created


def heal_waiting_lines(store: Store, seller_id: str, sku: str) -> list[str]:
    """After a SKU's mapping changed: the orders waiting for it get their PO now (the
    first HEAL_AT_ONCE of them, oldest first; the reconciler finds any others)."""
    _, waiting, _ = store.stock_partition(seller_id, sku)
    order_ids = list(dict.fromkeys(w.order_id for w in waiting))[:HEAL_AT_ONCE]
    return [po_id for order_id in order_ids for po_id in heal_order(store, seller_id, order_id, {sku})]


def _new_purchase_order(
    seller_id: str,
    vendor_id: str,
    po_id: str,
    source_order_id: str | None,
    lines: list[PoLine],
    at: str,
    *,
    closes_at: str | None = None,
    po_ref: str | None = None,
    body_sha256: str | None = None,
) -> PurchaseOrder:
    """A PO raised now: approved at once, or, with `closes_at`, open for a consolidation
    window (approved when it closes). Its vendor order's id is derived from it."""
    return PurchaseOrder(
        po_id=po_id,
        seller_id=seller_id,
        vendor_id=vendor_id,
        status="open" if closes_at else "approved",
        source_order_id=source_order_id,
        vendor_order_id=ids.vendor_order_id(seller_id, po_id, vendor_id),
        lines=lines,
        created_at=at,
        approved_at=None if closes_at else at,
        closes_at=closes_at,
        po_ref=po_ref,
        body_sha256=body_sha256,
    )


def _vendor_order_for(po: PurchaseOrder, vendor: Vendor, seller_name: str | None) -> VendorOrder:
    """The B2B order in the vendor's account for an approved PO: what it asks for, to
    approve first when the vendor requires it."""
    status = rules.initial_vendor_order_status(vendor)
    return VendorOrder(
        vendor_order_id=po.vendor_order_id,
        vendor_id=po.vendor_id,
        po_id=po.po_id,
        seller_id=po.seller_id,
        seller_name=seller_name,
        status=status,
        lines=[VendorOrderLine(sku=line.sku, qty=line.qty) for line in po.lines if line.qty],
        created_at=po.approved_at or po.created_at,
        approved_at=po.approved_at or po.created_at if status == "approved" else None,
        source_order_id=po.source_order_id,
    )


def close_window(store: Store, seller_id: str, po_id: str, at: datetime | None = None) -> float | None:
    """Close an open PO's consolidation window once it is due (at `at`, default now): in
    one step the PO is rounded to the vendor's terms and approved, and its vendor order
    created. A vendor that can no longer get POs gets none: the PO is cancelled and its
    lines wait with `vendor_not_eligible` (they get a PO once the vendor is fixed).
    Returns the seconds left when it is not due yet; None once it is closed (now or
    before) or gone. Closing again changes nothing."""
    at = at or datetime.now(UTC)

    def attempt() -> float | None:
        found = store.purchase_order(seller_id, po_id)
        if not found:
            return None
        po, version = found
        if po.status != "open":  # closed before, or cut to nothing during its window
            return None
        closes = datetime.fromisoformat(po.closes_at or po.created_at)
        if at < closes:
            return (closes - at).total_seconds()
        vendor = store.vendor(po.vendor_id)
        writes: list[dynamo.Write] = []
        if vendor is None or not rules.vendor_is_eligible(vendor):
            closed = rules.cut_po(po, {line.sku: 0 for line in po.lines})
            writes += _orders_after_cut(store, po, closed, "vendor_not_eligible")
        else:
            closed = rules.close_window(po, now())
            if closed.status == "approved":
                seller = store.seller(seller_id)
                writes.append(store.put_vendor_order(_vendor_order_for(closed, vendor, seller.name if seller else None)))
        # (the vendor's window still points at it: the next shortfall finds it closed and opens another)
        store.commit([store.update_purchase_order(closed, version), *store.open_po_writes(po, closed), *writes])
        return None

    return with_retries(attempt)


# --- vendor actions ----------------------------------------------------------------


def vendor_order(store: Store, vendor_id: str, vendor_order_id: str) -> tuple[VendorOrder, int]:
    found = store.vendor_order(vendor_id, vendor_order_id)
    if not found:
        raise NotFound(f"vendor order {vendor_order_id} not found")
    return found


def approve(store: Store, vendor_id: str, vendor_order_id: str, body: ApproveIn | None = None) -> VendorOrder:
    """Approve an unapproved vendor order, with the date the vendor expects to ship, if
    given (approving again may change that date, nothing else)."""
    ship = body.expected_ship_date.isoformat() if body and body.expected_ship_date else None

    def attempt() -> VendorOrder:
        vo, version = vendor_order(store, vendor_id, vendor_order_id)
        if vo.status in ("cancelled", "declined"):
            raise Conflict(f"vendor order {vendor_order_id} was {vo.status}: there is nothing to approve", code=f"vendor_order_{vo.status}")
        if vo.status != "unapproved" and (ship is None or ship == vo.expected_ship_date):
            return vo
        approved = vo.model_copy(
            update={
                "status": "approved" if vo.status == "unapproved" else vo.status,
                "approved_at": vo.approved_at or now(),
                "expected_ship_date": ship or vo.expected_ship_date,
            }
        )
        store.commit([store.update_vendor_order(approved, version, expect_status=vo.status)])
        return approved

    return with_retries(attempt)


def decline(store: Store, vendor_id: str, vendor_order_id: str, body: DeclineIn) -> VendorOrder:
    """A vendor declines an order it has handed nothing of: the vendor order is `declined`,
    its PO cancelled in one step, and the order's lines wait with `vendor_declined` (for
    freed stock, or a PO the seller raises). Declining again changes nothing."""

    def attempt() -> VendorOrder:
        vo, vo_version = vendor_order(store, vendor_id, vendor_order_id)
        if vo.status == "declined":
            return vo
        if vo.status == "cancelled":
            raise Conflict(f"vendor order {vendor_order_id} was cancelled: there is nothing to decline", code="vendor_order_cancelled")
        if any(line.handed_over_qty for line in vo.lines):
            raise BusinessRuleViolation(
                f"vendor order {vendor_order_id} has goods handed over: it can no longer be declined", code="already_handed_over"
            )
        found = store.purchase_order(vo.seller_id, vo.po_id)
        if not found:
            raise NotFound(f"purchase order {vo.po_id} of vendor order {vendor_order_id} not found")
        po, po_version = found
        new_po, shrunk = rules.shrink_po(po, vo, {line.sku: 0 for line in po.lines})
        declined = shrunk.model_copy(update={"status": "declined", "declined_reason": body.reason})
        store.commit(
            [
                store.update_vendor_order(declined, vo_version, expect_status=vo.status),
                store.update_purchase_order(new_po, po_version),
                *store.open_po_writes(po, new_po),
                *_orders_after_cut(store, po, new_po, "vendor_declined"),
            ]
        )
        return declined

    return with_retries(attempt)


def _orders_after_cut(store: Store, before: PurchaseOrder, after: PurchaseOrder, reason: NoPoReason) -> list[dynamo.Write]:
    """The writes of the orders whose lines a PO cut took allocations from (at most
    rules.MAX_PO_ORDERS): less on order for them, and `reason` where they now need more."""
    writes = []
    for order_id in rules.orders_served(before):
        found = store.order_version(before.seller_id, order_id)
        if found is None:
            continue
        order, version = found
        lines = rules.lines_after_po_cut(order, before, after, reason)
        if lines != order.lines:
            writes.append(store.update_order(order.model_copy(update={"lines": lines}), version))
    return writes


def _handover_answer(vo: VendorOrder, handover: HandoverSummary) -> dict:
    return {
        "handover_id": handover.handover_id,
        "vendor_order_id": vo.vendor_order_id,
        "po_id": vo.po_id,
        "lines": [line.model_dump() for line in handover.lines],
        "grn_id": handover.grn_id,
        "vendor_order_status": vo.status,
    }


def hand_over(store: Store, vendor_id: str, vendor_order_id: str, body: HandoverIn) -> tuple[int, dict, VendorOrder]:
    """Record a vendor's handover on its vendor order. With the seller's auto GRN on, the
    same transaction writes the GRN, the PO's received quantity and the stock inward (in
    the Default Bin of the main location), given to the orders it was bought for when
    that fits (see `goods_receipt`).

    The handover is kept on the vendor order (its `handovers`), which the transaction
    writes anyway under its version: the same `handover_id` again finds it there and
    changes nothing, and two at once cannot both be recorded. A handover id names one
    handover of a vendor order (a vendor may use its shipment number on several).
    """
    fingerprint = body_fingerprint({"vendor_order_id": vendor_order_id, **body.model_dump()})

    def attempt() -> tuple[int, dict, VendorOrder]:
        vo, vo_version = vendor_order(store, vendor_id, vendor_order_id)
        recorded = next((h for h in vo.handovers if h.handover_id == body.handover_id), None)
        if recorded is not None:
            if recorded.body_sha256 != fingerprint:
                raise Conflict(f"handover {body.handover_id} was already recorded with different content", code="handover_id_conflict")
            return 202, _handover_answer(vo, recorded), vo
        vo_lines, vo_status = rules.apply_handover(vo, body.lines)
        seller = store.seller(vo.seller_id)
        handover = HandoverSummary(
            handover_id=body.handover_id,
            lines=[Quantity(sku=line.sku, qty=line.qty) for line in body.lines],
            created_at=now(),
            body_sha256=fingerprint,
        )
        receipt: list[dynamo.Write] = []
        if seller and seller.auto_grn_through_backorder:
            handover.grn_id = ids.grn_id_for_handover(vendor_id, vendor_order_id, body.handover_id)
            grn, receipt = goods_receipt(store, vo.seller_id, vo.po_id, handover.grn_id, handover.lines, handover.created_at)
            grn.handover_id = handover.handover_id
            if not grn.given_on_receipt:  # else its PO keeps it (`grns`): nothing waits on it
                receipt.insert(0, store.put_grn(grn))
        updated = vo.model_copy(update={"lines": vo_lines, "status": vo_status, "handovers": [*vo.handovers, handover]})
        _check_room("vendor order", vendor_order_id, updated)
        store.commit([store.update_vendor_order(updated, vo_version), *receipt])
        return 202, _handover_answer(updated, handover), updated

    return with_retries(attempt)


# DynamoDB stores an item of at most 400 KB. A vendor order keeps its handovers and a PO its
# GRNs, so each receipt makes them bigger: one that would take either past this is refused
# before anything is written (the JSON of the item over-estimates DynamoDB's count).
MAX_STORED_BYTES = 300 * 1024


def _check_room(kind: str, name: str, item: VendorOrder | PurchaseOrder) -> None:
    size = len(item.model_dump_json().encode())
    if size > MAX_STORED_BYTES:
        raise BusinessRuleViolation(
            f"{kind} {name} has no room for another receipt ({size // 1024} KiB as stored, at most "
            f"{MAX_STORED_BYTES // 1024} KiB): hand over what is left in fewer, larger handovers",
            code="too_many_receipts",
        )


# Orders a GRN's goods are given to in the GRN's own transaction, at most (each order item
# may be up to 400 KB; a transaction carries at most 4 MB). A GRN with goods for more waits
# for the purchasing stream (on_goods_received), as does one whose writes would not fit.
GIVE_AT_ONCE = 5


def goods_receipt(
    store: Store,
    seller_id: str,
    po_id: str,
    grn_id: str,
    lines: list[Quantity],
    at: str,
    found: tuple[PurchaseOrder, int] | None = None,
) -> tuple[Grn, list[dynamo.Write]]:
    """The GRN and the writes that inward it: the PO's received quantity, and the goods
    into the Default Bin of the main location. `found` is the PO (and version) when the
    caller has read it already.

    The goods are given to the orders they were bought for in the same writes when they
    fit (`GIVE_AT_ONCE`, one transaction): they go straight to `assigned`, and what no
    order needs any more to `available`, and the GRN says so (`given_on_receipt`). Else
    they are `reserved` for their orders, and the GRN's stream record gives them out.
    """
    found = found or store.purchase_order(seller_id, po_id)
    if not found:
        raise NotFound(f"purchase order {po_id} not found")
    po, po_version = found
    if po.status == "open":
        raise Conflict(
            f"purchase order {po_id} is open (its closes_at says until when): the vendor gets it when its consolidation window closes",
            code="po_open",
        )
    receipt = rules.receive_goods(po, lines)
    grn = Grn(
        grn_id=grn_id,
        seller_id=seller_id,
        po_id=po.po_id,
        vendor_id=po.vendor_id,
        source_order_id=po.source_order_id,
        lines=lines,
        location=MAIN_LOCATION,
        bin=DEFAULT_BIN,
        created_at=at,
        shares=receipt.shares,
    )
    summary = GrnSummary(grn_id=grn.grn_id, lines=grn.lines, location=grn.location, bin=grn.bin, created_at=at, shares=receipt.shares)
    received = po.model_copy(update={"lines": receipt.lines, "status": receipt.status, "grns": [*po.grns, summary]})
    _check_room("purchase order", po.po_id, received)
    writes = [store.update_purchase_order(received, po_version), *store.open_po_writes(po, received)]
    reserved: dict[str, int] = {}  # held for their orders, for the stream to give out
    took: dict[str, int] = {}
    spare = dict(receipt.surplus)
    # the GRN and a vendor order are written beside these, and a bin per SKU
    given = _give_on_receipt(store, grn, room=dynamo.MAX_TRANSACTION_ITEMS - 2 - len(writes) - len(grn.lines))
    if given is None:
        for share in receipt.shares:
            reserved[share.sku] = reserved.get(share.sku, 0) + share.qty
    else:
        grn.given_on_receipt = True
        for order in given:
            writes += order.writes
            for sku, qty in order.took.items():
                took[sku] = took.get(sku, 0) + qty
            for sku, qty in order.spare.items():
                spare[sku] = spare.get(sku, 0) + qty
    for line in grn.lines:
        writes.append(
            store.change_bin(
                seller_id,
                line.sku,
                grn.location,
                grn.bin,
                reserved=reserved.get(line.sku, 0),
                assigned=took.get(line.sku, 0),
                available=spare.get(line.sku, 0),
                received_on_pos=line.qty,
            )
        )
    return grn, writes


def _give_on_receipt(store: Store, grn: Grn, room: int) -> list[ordering.OrderReceipt] | None:
    """A GRN's goods given to the orders they were bought for, planned from one read of
    those orders; None when they are too many or their writes need more than `room`, or
    one of them is not one a receipt can simply complete (gone, cancelled, or being given
    goods in steps): the purchasing stream then gives them out."""
    wanted = grn.share_orders()
    if len(wanted) > GIVE_AT_ONCE:
        return None
    read = store.order_versions((grn.seller_id, order_id) for order_id in wanted)
    given = []
    for order_id in wanted:
        found = read.get((grn.seller_id, order_id))
        if found is None or found[0].status == "cancelled" or found[0].grn_progress:
            return None
        given.append(ordering.receipt_for_order(store, grn, *found))
        room -= len(given[-1].writes)
        if room < 0:
            return None
    return given


def manual_grn(store: Store, seller: Seller, po_id: str, body: GrnIn) -> tuple[int, dict]:
    """A GRN the seller records by hand: once per `grn_ref`, never more than was
    ordered, and assigned to the order like an automatic one.

    With auto GRN on, only goods handed over while it was off (handovers recorded with
    no GRN) can be inwarded by hand, so turning auto GRN on strands nothing and counts
    nothing twice (`rules.check_manual_receipt_with_auto_grn`).
    """
    grn_id = ids.grn_id_for_reference(seller.seller_id, po_id, body.grn_ref)
    fingerprint = body_fingerprint({"po_id": po_id, **body.model_dump()})

    def answer(grn: Grn) -> dict:
        return {"grn_id": grn.grn_id, "grn_ref": body.grn_ref, **grn.model_dump(include={"po_id", "lines", "location", "bin"})}

    def create() -> tuple[int, dict]:
        lines = [Quantity(sku=l.sku, qty=l.qty) for l in body.lines]
        found = store.purchase_order(seller.seller_id, po_id)
        grn, writes = goods_receipt(store, seller.seller_id, po_id, grn_id, lines, now(), found)
        if found and seller.auto_grn_through_backorder:
            po = found[0]
            vo_found = store.vendor_order(po.vendor_id, po.vendor_order_id)
            if not vo_found:
                raise NotFound(f"vendor order {po.vendor_order_id} of purchase order {po_id} not found")
            # judged on the PO version the GRN is written against: a concurrent receipt makes it read again
            rules.check_manual_receipt_with_auto_grn(po, vo_found[0], lines)
        grn.grn_ref, grn.body_sha256 = body.grn_ref, fingerprint
        store.commit([store.put_grn(grn), *writes])
        return 201, answer(grn)

    return create_once(
        read=lambda: store.grn(seller.seller_id, grn_id),
        same=lambda stored: stored.body_sha256 == fingerprint,
        conflict=lambda stored: Conflict(f"GRN {body.grn_ref} was already recorded with different content", code="grn_ref_conflict"),
        create=create,
        replay=lambda stored: (200, answer(stored)),
    )


def purchase_order_view(store: Store, seller_id: str, po_id: str) -> dict:
    """A PO as the seller sees it, with where its vendor order stands (waiting for the
    vendor's approval, approved, handed over, cancelled)."""
    found = store.purchase_order(seller_id, po_id)
    if not found:
        raise NotFound(f"purchase order {po_id} not found")
    po = found[0]
    vo = store.vendor_order(po.vendor_id, po.vendor_order_id)
    return po_view(po, vo[0] if vo else None)


def po_view(po: PurchaseOrder, vo: VendorOrder | None) -> dict:
    """A PO as the seller sees it: with its vendor order's status, and per line what the
    vendor handed over (beside what was received: with auto GRN off, the difference is
    what a manual GRN may inward)."""
    handed = {line.sku: line.handed_over_qty for line in vo.lines} if vo else {}
    view = {**po.public(), "vendor_order_status": vo.status if vo else None}
    for line in view["lines"]:
        line["handed_over_qty"] = handed.get(line["sku"], 0)
    return view


def cancel_purchase_order(store: Store, seller_id: str, po_id: str, body: PoCancelIn) -> dict:
    """Cancel a PO, whole or per SKU, never below what was handed over or received; its
    vendor order shrinks with it, and the order's lines it no longer covers wait with
    `no_po_reason: po_cancelled` (for freed stock, or a PO the seller raises)."""

    def attempt() -> dict:
        found = store.purchase_order(seller_id, po_id)
        if not found:
            raise NotFound(f"purchase order {po_id} not found")
        po, po_version = found
        on_po = {line.sku: line for line in po.lines}
        unknown = [line.sku for line in body.lines if line.sku not in on_po]
        if unknown:
            raise BusinessRuleViolation(
                f"purchase order {po_id} has no line for {', '.join(unknown)}", code="po_line_unknown", details=[{"field": "lines", "value": unknown}]
            )
        if body.lines:
            # the cancelled quantity in all: a resend asks for what is already done
            wanted = {line.sku: on_po[line.sku].qty + on_po[line.sku].cancelled_qty - line.qty for line in body.lines}
        else:
            wanted = dict.fromkeys(on_po, 0)
        writes: list[dynamo.Write] = []
        # an open PO (in its consolidation window) has no vendor order yet, nor one cut to nothing then
        vo_found = None if po.status == "open" else store.vendor_order(po.vendor_id, po.vendor_order_id)
        if vo_found is None:
            if po.status not in ("open", "cancelled"):
                raise NotFound(f"vendor order {po.vendor_order_id} of purchase order {po_id} not found")
            new_po, new_vo = rules.cut_po(po, wanted), None
        else:
            vo, vo_version = vo_found
            new_po, new_vo = rules.shrink_po(po, vo, wanted)
            if new_vo != vo:
                writes.append(store.update_vendor_order(new_vo, vo_version))
        if new_po == po:
            return po_view(new_po, new_vo)
        store.commit(
            [
                store.update_purchase_order(new_po, po_version),
                *writes,
                *store.open_po_writes(po, new_po),
                *_orders_after_cut(store, po, new_po, "po_cancelled"),
            ]
        )
        return po_view(new_po, new_vo)

    return with_retries(attempt)
