"""The business rules, as plain functions over the models. No AWS in here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from backorders.domain.errors import BusinessRuleViolation, InvalidRequest
from backorders.domain.models import (
    Allocation,
    AllocationReason,
    NoPoReason,
    Order,
    OrderIn,
    OrderLine,
    OrderStatus,
    PoLine,
    PoStatus,
    PurchaseOrder,
    Quantity,
    Seller,
    SkuQty,
    StockBin,
    Vendor,
    VendorOrder,
    VendorOrderLine,
    VendorOrderStatus,
)

ADVANCED_VENDOR_PANEL = 2


# --- stock assignment -----------------------------------------------------------


def pick_order(bins: list[StockBin]) -> list[StockBin]:
    """Bins in the order stock is taken from: the Default Bin of the main location first."""
    return sorted(bins, key=lambda b: (not b.is_default, b.location, b.bin))


def available_by_sku(bins_by_sku: dict[str, list[StockBin]]) -> dict[str, int]:
    return {sku: sum(b.available for b in bins) for sku, bins in bins_by_sku.items()}


def availability_warnings(order: OrderIn, available: dict[str, int]) -> list[dict]:
    """Lines that stock cannot fill now, as the webhook's answer shows them.

    Lines sharing a SKU draw on the same stock, in line order.
    """
    left = dict(available)
    warnings = []
    for line in order.lines:
        have = left.get(line.sku, 0)
        if have < line.qty:
            warnings.append({"line_id": line.line_id, "sku": line.sku, "requested": line.qty, "available": have})
        left[line.sku] = max(0, have - line.qty)
    return warnings


@dataclass
class AssignmentPlan:
    """New lines for an order, and how much each bin gives (sku, location, bin) -> qty.

    `done`: how many lines, from the first, are planned to the end; with a budget, the
    lines after them are left as they were (and the one at `done` may be planned in part)
    for another step.
    """

    lines: list[OrderLine]
    takes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    done: int = 0

    @property
    def pending(self) -> list[SkuQty]:
        totals: dict[str, int] = defaultdict(int)
        for line in self.lines:
            if line.pending_qty:
                totals[line.sku] += line.pending_qty
        return [SkuQty(sku=sku, qty=qty) for sku, qty in totals.items()]

    @property
    def writes(self) -> int:
        return len(self.takes)


def plan_assignment(
    lines: list[OrderLine],
    bins_by_sku: Mapping[str, list[StockBin]],
    reason: AllocationReason = "in_stock",
    *,
    budget: int | None = None,
    per_line: int = 0,
    at: str | None = None,
) -> AssignmentPlan:
    """Assign available stock to each line, in line order; the rest stays pending.

    A line with nothing pending gets `no_po_reason = stock_available`. With a `budget` of
    writes (each bin taken from costs one, each line planned `per_line` more), planning
    stops before the first line that would go over it, so one step fits in one
    transaction; a line that alone would go over it is planned in part.
    """
    left: dict[tuple[str, str, str], int] = {}
    seen: set[str] = set()
    plan = AssignmentPlan(lines=list(lines))
    spent = 0
    for index, line in enumerate(lines):
        if line.sku not in seen:  # bins are looked at only for lines planned
            seen.add(line.sku)
            left.update({(line.sku, b.location, b.bin): b.available for b in bins_by_sku.get(line.sku, []) if b.available > 0})
        need = line.pending_qty
        allocations = list(line.allocations)
        takes: dict[tuple[str, str, str], int] = {}
        partial = False
        for b in pick_order(bins_by_sku.get(line.sku, [])):
            key = (line.sku, b.location, b.bin)
            take = min(need, left.get(key, 0))
            if take <= 0:
                continue
            cost = spent + per_line + len(set(plan.takes) | set(takes) | {key})
            if budget is not None and cost > budget:
                partial = True
                break
            takes[key] = take
            need -= take
        if partial and index > 0:
            return plan  # this line starts the next step
        for key, take in takes.items():
            left[key] -= take
            plan.takes[key] = plan.takes.get(key, 0) + take
            allocations.append(Allocation(location=key[1], bin=key[2], qty=take, reason=reason, assigned_at=at))
        plan.lines[index] = line.model_copy(
            update={
                "assigned_qty": line.assigned_qty + line.pending_qty - need,
                "pending_qty": need,
                "allocations": allocations,
                "no_po_reason": "stock_available" if need == 0 else line.no_po_reason,
            }
        )
        spent += per_line
        if partial:
            return plan  # the rest of this line in the next step
        plan.done = index + 1
        if budget is not None and spent + len(plan.takes) >= budget:
            return plan
    return plan


def order_status(lines: list[OrderLine]) -> OrderStatus:
    return "ready" if all(line.pending_qty == 0 for line in lines) else "backordered"


def new_order_lines(order: OrderIn) -> list[OrderLine]:
    return [OrderLine(line_id=l.line_id, sku=l.sku, qty=l.qty, pending_qty=l.qty) for l in order.lines]


# --- purchase orders -------------------------------------------------------------


def vendor_is_eligible(vendor: Vendor | None) -> bool:
    """A separate vendor account on the new B2B flow and the advanced vendor panel."""
    return (
        vendor is not None
        and vendor.is_b2b_new
        and vendor.vendor_panel_type == ADVANCED_VENDOR_PANEL
        and not vendor.is_warehouse_location
    )


@dataclass
class PurchasePlan:
    """What to do with an order's pending lines: reasons, and a PO per vendor."""

    reasons: dict[int, NoPoReason] = field(default_factory=dict)  # line index -> reason
    by_vendor: dict[str, list[int]] = field(default_factory=dict)  # vendor id -> line indexes


def plan_purchase(
    order: Order,
    seller: Seller,
    mappings: dict[str, str | None],
    vendors: dict[str, Vendor],
) -> PurchasePlan:
    """Decide, for each line still pending and without a PO, why not or from whom."""
    plan = PurchasePlan()
    for i, line in enumerate(order.lines):
        if line.pending_qty == 0 or line.purchase_order_id or line.no_po_reason:
            continue
        vendor_id = mappings.get(line.sku)
        if not seller.auto_po_vendor_level:
            plan.reasons[i] = "auto_po_disabled"
        elif vendor_id is None:
            plan.reasons[i] = "sku_not_mapped"
        elif not vendor_is_eligible(vendors.get(vendor_id)):
            plan.reasons[i] = "vendor_not_eligible"
        else:
            plan.by_vendor.setdefault(vendor_id, []).append(i)
    return plan


# A PO (and its vendor order) holds at most this many SKUs, so that its biggest step fits
# in one transaction of at most 100 items: a handover with auto GRN writes the handover,
# the vendor order, the GRN and the PO, plus each SKU's open-PO figure and bin (4 + 2 x 48).
MAX_PO_SKUS = 48


def po_chunk(order: Order, line_indexes: list[int]) -> list[int]:
    """The lines of the next PO for one vendor: those of its first MAX_PO_SKUS SKUs."""
    skus: list[str] = []
    for i in line_indexes:
        if order.lines[i].sku not in skus:
            skus.append(order.lines[i].sku)
    first = set(skus[:MAX_PO_SKUS])
    return [i for i in line_indexes if order.lines[i].sku in first]


def rounded_purchase(need: int, min_order_qty: int = 1, pack_size: int = 1) -> int:
    """What a PO line asks the vendor for, to cover `need`: whole packs, at least the minimum."""
    if need <= 0:
        return 0
    return max(min_order_qty, -(-need // pack_size) * pack_size)


Rounding = Mapping[str, tuple[int, int]]  # sku -> (min_order_qty, pack_size)


def vendor_terms(mappings: Mapping[str, Mapping]) -> Rounding:
    """Each SKU's rounding, from its mapping record (1 and 1 where it sets none)."""
    return {sku: (int(m.get("min_order_qty", 1)), int(m.get("pack_size", 1))) for sku, m in mappings.items()}


def po_lines(order: Order, line_indexes: list[int], rounding: Rounding | None = None) -> list[PoLine]:
    """One PO line per SKU, for the pending quantity, rounded to the vendor's terms; what
    rounding adds is the line's surplus."""
    by_sku: dict[str, PoLine] = {}
    for i in line_indexes:
        line = order.lines[i]
        po_line = by_sku.setdefault(line.sku, PoLine(sku=line.sku, qty=0))
        po_line.qty += line.pending_qty
        po_line.line_ids.append(line.line_id)
    for po_line in by_sku.values():
        need = po_line.qty
        po_line.qty = rounded_purchase(need, *(rounding or {}).get(po_line.sku, (1, 1)))
        po_line.surplus_qty = po_line.qty - need
    return list(by_sku.values())


def outstanding(order: Order, po: PurchaseOrder) -> dict[str, int]:
    """sku -> what the lines a PO serves still wait for, beyond what it has received and
    not yet given them (a GRN's goods reach its order's lines one step after the GRN)."""
    served = {line_id for po_line in po.lines for line_id in po_line.line_ids}
    left: dict[str, int] = defaultdict(int)
    for line in order.lines:
        if line.line_id in served and line.purchase_order_id == po.po_id:
            left[line.sku] += line.pending_qty
    for grn in po.grns:
        if grn.grn_id not in order.applied_grns:
            given = order.grn_progress.get(grn.grn_id, {})
            for received in grn.lines:
                left[received.sku] -= max(0, received.qty - given.get(received.sku, 0))
    return {sku: qty for sku, qty in left.items() if qty > 0}


def po_needed(po: PurchaseOrder, order: Order | None, rounding: Rounding | None = None) -> dict[str, int]:
    """sku -> what a PO line should still have on order: what was received, plus what its
    lines still wait for rounded to the vendor's terms (nothing when its order is gone)."""
    left = outstanding(order, po) if order is not None and order.status != "cancelled" else {}
    return {
        line.sku: line.received_qty + rounded_purchase(left.get(line.sku, 0), *(rounding or {}).get(line.sku, (1, 1)))
        for line in po.lines
    }


def shrink_po(
    po: PurchaseOrder, vo: VendorOrder, wanted: Mapping[str, int], order: Order | None = None
) -> tuple[PurchaseOrder, VendorOrder]:
    """A PO (and its vendor order) cut down to `wanted` per SKU: never grown, never below
    what was received or handed over. What is cut is the line's `cancelled_qty`."""
    handed = {line.sku: line.handed_over_qty for line in vo.lines}
    left = outstanding(order, po) if order is not None and order.status != "cancelled" else {}
    po_lines = []
    for line in po.lines:
        floor = max(line.received_qty, handed.get(line.sku, 0))
        qty = min(line.qty, max(floor, wanted.get(line.sku, line.qty)))
        surplus = max(0, qty - line.received_qty - left.get(line.sku, 0))  # no order: nothing waits any more
        po_lines.append(line.model_copy(update={"qty": qty, "cancelled_qty": line.cancelled_qty + line.qty - qty, "surplus_qty": surplus}))
    qty_by_sku = {line.sku: line.qty for line in po_lines}
    # the vendor order keeps what was first ordered beside what was cancelled of it
    vo_lines = [line.model_copy(update={"cancelled_qty": line.qty - qty_by_sku.get(line.sku, line.on_order)}) for line in vo.lines]
    if all(line.qty == 0 for line in po_lines):
        po_status: PoStatus = "cancelled"
        vo_status: VendorOrderStatus = "cancelled"
    else:
        po_status = (
            "received"
            if all(l.received_qty >= l.qty for l in po_lines)
            else "partially_received" if any(l.received_qty for l in po_lines) else "approved"
        )
        if all(l.handed_over_qty >= l.on_order for l in vo_lines):
            vo_status = "handed_over"
        elif any(l.handed_over_qty for l in vo_lines):
            vo_status = "partially_handed_over"
        else:
            vo_status = vo.status
    return (
        po.model_copy(update={"lines": po_lines, "status": po_status}),
        vo.model_copy(update={"lines": vo_lines, "status": vo_status}),
    )


def initial_vendor_order_status(vendor: Vendor) -> VendorOrderStatus:
    return "unapproved" if vendor.approval_required else "approved"


# --- handover and goods receipt ---------------------------------------------------


def _quantities(lines: list[SkuQty] | list[Quantity]) -> dict[str, int]:
    return {line.sku: line.qty for line in lines}


def apply_handover(vendor_order: VendorOrder, lines: list[SkuQty] | list[Quantity]) -> tuple[list[VendorOrderLine], VendorOrderStatus]:
    """The vendor order after a handover; refuses what is not open to hand over."""
    if vendor_order.status == "cancelled":
        raise BusinessRuleViolation(
            f"vendor order {vendor_order.vendor_order_id} was cancelled by the seller",
            code="vendor_order_cancelled",
        )
    if vendor_order.status == "declined":
        raise BusinessRuleViolation(f"vendor order {vendor_order.vendor_order_id} was declined", code="vendor_order_declined")
    if vendor_order.status == "unapproved":
        raise BusinessRuleViolation(
            f"vendor order {vendor_order.vendor_order_id} is not approved yet; approve it before handing over",
            code="vendor_order_not_approved",
        )
    handed = _quantities(lines)
    known = {line.sku for line in vendor_order.lines}
    unknown = sorted(set(handed) - known)
    if unknown:
        raise BusinessRuleViolation(
            f"sku {unknown[0]} is not on vendor order {vendor_order.vendor_order_id}",
            code="sku_not_on_order",
            details=[{"field": "lines", "sku": sku} for sku in unknown],
        )
    new_lines = []
    over = []
    for line in vendor_order.lines:
        qty = handed.get(line.sku, 0)
        still_open = line.on_order - line.handed_over_qty
        if qty > still_open:
            over.append({"field": "lines", "sku": line.sku, "requested": qty, "open": still_open})
        new_lines.append(line.model_copy(update={"handed_over_qty": line.handed_over_qty + qty}))
    if over:
        first = over[0]
        raise BusinessRuleViolation(
            f"handover of {first['requested']} x {first['sku']} is more than the {first['open']} still open",
            code="handover_exceeds_open_quantity",
            details=over,
        )
    done = all(line.handed_over_qty >= line.on_order for line in new_lines)
    return new_lines, "handed_over" if done else "partially_handed_over"


def receive_goods(po: PurchaseOrder, lines: list[Quantity]) -> tuple[list[PoLine], PoStatus]:
    """The PO after goods are received against it; never more than was ordered."""
    received = _quantities(lines)
    unknown = sorted(set(received) - {line.sku for line in po.lines})
    if unknown:
        raise InvalidRequest(f"sku {unknown[0]} is not on purchase order {po.po_id}", code="sku_not_on_order")
    new_lines = []
    for line in po.lines:
        qty = received.get(line.sku, 0)
        if line.received_qty + qty > line.qty:
            raise BusinessRuleViolation(
                f"receiving {qty} x {line.sku} would exceed the {line.qty - line.received_qty} still open "
                f"on purchase order {po.po_id}",
                code="receipt_exceeds_ordered_quantity",
            )
        new_lines.append(line.model_copy(update={"received_qty": line.received_qty + qty}))
    done = all(line.received_qty >= line.qty for line in new_lines)
    return new_lines, "received" if done else "partially_received"


def check_manual_receipt_with_auto_grn(po: PurchaseOrder, vo: VendorOrder, lines: list[Quantity]) -> None:
    """With auto GRN on, a handover is inwarded in the same transaction that records it,
    so its goods are already received. Only goods handed over while auto GRN was off
    have no GRN: per SKU, handed over minus received. A manual GRN may inward those and
    no more, so nothing is counted twice (an automatic GRN moves both figures together)."""
    handed = {line.sku: line.handed_over_qty for line in vo.lines}
    received = {line.sku: line.received_qty for line in po.lines}
    over = []
    for sku, qty in _quantities(lines).items():
        open_ = max(0, handed.get(sku, 0) - received.get(sku, 0))
        if qty > open_:
            over.append({"field": "lines", "sku": sku, "requested": qty, "handed_over_without_grn": open_})
    if over:
        first = over[0]
        raise BusinessRuleViolation(
            f"this seller inwards goods automatically on handover; by hand, only goods handed over without "
            f"a GRN can be inwarded: {first['handed_over_without_grn']} x {first['sku']} on purchase order {po.po_id}",
            code="auto_grn_enabled",
            details=over,
        )


@dataclass
class ReceiptAssignment:
    lines: list[OrderLine]
    used: dict[str, int]  # sku -> qty assigned to the order in this step
    surplus: dict[str, int]  # sku -> qty the order no longer needs, freed in this step
    complete: bool = True  # nothing of the GRN is left for another step

    @property
    def settled(self) -> dict[str, int]:
        """sku -> qty this step settled (to a line or to free stock)."""
        return {sku: self.used.get(sku, 0) + self.surplus.get(sku, 0) for sku in set(self.used) | set(self.surplus)}

    @property
    def skus(self) -> set[str]:
        """The SKUs whose bin this step moves."""
        return {sku for sku, qty in self.used.items() if qty} | {sku for sku, qty in self.surplus.items() if qty}


def assign_receipt(
    order: Order,
    po_id: str,
    grn_id: str,
    location: str,
    bin_: str,
    lines: list[Quantity],
    *,
    given: dict[str, int] | None = None,
    budget: int | None = None,
    at: str | None = None,
) -> ReceiptAssignment:
    """Give received goods to the pending quantity of the order lines they were bought for.

    `given`: what earlier steps already settled of this GRN (to lines or to free stock).
    With a `budget` of writes (each line given goods costs one, each SKU whose bin moves
    one more), the step stops where it would go over it and is not `complete`; what no line
    needs is freed once every line had its share, as many SKUs a step as the budget allows.
    """
    left = {sku: qty - (given or {}).get(sku, 0) for sku, qty in _quantities(lines).items()}
    used: dict[str, int] = defaultdict(int)
    new_lines = list(order.lines)
    spent = 0
    for i, line in enumerate(order.lines):
        take = min(line.pending_qty, left.get(line.sku, 0)) if line.purchase_order_id == po_id else 0
        if not take:
            continue
        cost = 1 + (0 if used.get(line.sku) else 1)
        if budget is not None and spent + cost > budget:
            return ReceiptAssignment(lines=new_lines, used=dict(used), surplus={}, complete=False)
        spent += cost
        left[line.sku] -= take
        used[line.sku] += take
        new_lines[i] = line.model_copy(
            update={
                "assigned_qty": line.assigned_qty + take,
                "pending_qty": line.pending_qty - take,
                "allocations": [
                    *line.allocations,
                    Allocation(location=location, bin=bin_, qty=take, grn_id=grn_id, reason="received_for_order", assigned_at=at),
                ],
            }
        )
    surplus: dict[str, int] = {}
    for sku in sorted(sku for sku, qty in left.items() if qty):
        cost = 0 if used.get(sku) else 1
        if budget is not None and spent + cost > budget:
            return ReceiptAssignment(lines=new_lines, used=dict(used), surplus=surplus, complete=False)
        spent += cost
        surplus[sku] = left[sku]
    return ReceiptAssignment(lines=new_lines, used=dict(used), surplus=surplus)


# --- cancellation ---------------------------------------------------------------------


def cancel_line(line: OrderLine) -> OrderLine:
    """Nothing assigned or pending any more: ordered = cancelled."""
    return line.model_copy(
        update={
            "cancelled_qty": line.cancelled_qty + line.assigned_qty + line.pending_qty,
            "assigned_qty": 0,
            "pending_qty": 0,
            "allocations": [],
        }
    )


@dataclass
class CancelStep:
    lines: list[OrderLine]
    released: dict[tuple[str, str, str], int]  # (sku, location, bin) -> qty back to available
    complete: bool  # every line is cancelled


def cancel_step(order: Order, budget: int) -> CancelStep:
    """Cancel as much of an order as one step can write: each bin given stock back costs
    one write, each line leaving the queue of waiting lines one more. A line's assigned
    stock goes back first, then its pending quantity is cancelled."""
    waiting = order.waiting()
    lines = list(order.lines)
    released: dict[tuple[str, str, str], int] = defaultdict(int)
    spent = 0
    for i, line in enumerate(order.lines):
        kept = []
        for a in line.allocations:
            key = (line.sku, a.location, a.bin)
            if key not in released and spent >= budget:
                kept.append(a)
                continue
            spent += 0 if key in released else 1
            released[key] += a.qty
        back = line.assigned_qty - sum(a.qty for a in kept)
        line = line.model_copy(
            update={"assigned_qty": line.assigned_qty - back, "cancelled_qty": line.cancelled_qty + back, "allocations": kept}
        )
        if not kept and line.pending_qty:
            cost = 1 if i in waiting else 0
            if spent + cost <= budget:
                spent += cost
                line = line.model_copy(update={"cancelled_qty": line.cancelled_qty + line.pending_qty, "pending_qty": 0})
        lines[i] = line
    complete = all(l.assigned_qty == 0 and l.pending_qty == 0 for l in lines)
    return CancelStep(lines=lines, released=dict(released), complete=complete)


def released_stock(order: Order) -> dict[tuple[str, str, str], int]:
    """(sku, location, bin) -> quantity an order's allocations hold."""
    held: dict[tuple[str, str, str], int] = defaultdict(int)
    for line in order.lines:
        for a in line.allocations:
            held[(line.sku, a.location, a.bin)] += a.qty
    return dict(held)


def lines_after_po_cut(order: Order, po: PurchaseOrder, reason: NoPoReason = "po_cancelled") -> list[OrderLine]:
    """The order's lines once its PO was cut: lines it no longer fully covers (oldest line
    first keeps what is left) wait with `reason` (`po_cancelled`, `vendor_declined`)."""
    left = {line.sku: max(0, line.qty - line.received_qty) for line in po.lines}
    lines = []
    for line in order.lines:
        if line.purchase_order_id != po.po_id or line.pending_qty == 0:
            lines.append(line)
            continue
        covered = min(line.pending_qty, left.get(line.sku, 0))
        left[line.sku] = left.get(line.sku, 0) - covered
        lines.append(line if covered == line.pending_qty else line.model_copy(update={"no_po_reason": reason}))
    return lines


def shrink_to_handed_over(po: PurchaseOrder, vo: VendorOrder) -> tuple[PurchaseOrder, VendorOrder]:
    """A PO whose order is cancelled keeps only what the vendor has already handed over."""
    return shrink_po(po, vo, {line.sku: 0 for line in po.lines})
