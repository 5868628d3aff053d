"""The business rules, as plain functions over the models. No AWS in here."""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from backorders.domain.errors import BusinessRuleViolation, InvalidRequest
from backorders.domain.models import (
    MAX_PO_SKUS,
    Allocation,
    AllocationReason,
    GrnShare,
    NoPoReason,
    Order,
    OrderIn,
    OrderLine,
    OrderStatus,
    PoAllocation,
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
    WindowDue,
    shard_bin,
)

ADVANCED_VENDOR_PANEL = 2


# --- stock assignment -----------------------------------------------------------


def pick_order(bins: list[StockBin], spread: str = "") -> list[StockBin]:
    """Bins in the order stock is taken from: the Default Bin of the main location first.
    A bin split into shards is taken from starting at the shard `spread` (an order's id)
    picks, then the next ones, so that orders taking stock at once write different items."""
    ordered = sorted(bins, key=lambda b: b.pick_key)
    if not spread:
        return ordered
    start = zlib.crc32(spread.encode())
    picked: list[StockBin] = []
    for _, group in groupby(ordered, key=lambda b: (b.location, b.base)):
        shards = list(group)
        first = start % len(shards)
        picked += shards[first:] + shards[:first]
    return picked


def spread_evenly(qty: int, shards: int) -> list[int]:
    """`qty` over `shards` as evenly as whole units go, the first shards taking the rest."""
    each, rest = divmod(qty, shards)
    return [each + (1 if k < rest else 0) for k in range(shards)]


def take_from_shards(shards: list[StockBin], qty: int) -> dict[str, int] | None:
    """Bin id -> available to remove, `qty` in all, fullest shard first; None when the
    shards do not have that much available."""
    if sum(b.available for b in shards) < qty:
        return None
    takes: dict[str, int] = {}
    for b in sorted(shards, key=lambda b: (-b.available, b.shard)):
        take = min(qty, b.available)
        if take <= 0:
            break
        takes[b.bin] = take
        qty -= take
    return takes


def rebalance_shards(shards: list[StockBin], count: int, bin_: str) -> dict[str, int]:
    """Bin id -> change of available that spreads the shards' available stock evenly over
    `count` shards of `bin_` (shards beyond them are emptied of it)."""
    now = {b.bin: b.available for b in shards}
    target = dict(zip((shard_bin(bin_, k) for k in range(count)), spread_evenly(sum(now.values()), count), strict=True))
    return {b: target.get(b, 0) - now.get(b, 0) for b in sorted(set(now) | set(target)) if target.get(b, 0) != now.get(b, 0)}


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
    spread: str = "",
) -> AssignmentPlan:
    """Assign available stock to each line, in line order; the rest stays pending.
    `spread`: the order's id, which picks the shard a sharded bin is taken from first.

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
        for b in pick_order(bins_by_sku.get(line.sku, []), spread):
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
    """Decide, for each line waiting for more than is on order for it, why not or from whom."""
    plan = PurchasePlan()
    for i, line in enumerate(order.lines):
        if line.needs_po == 0 or line.no_po_reason:
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
    """One PO line per SKU, for what the lines need beyond what is on order for them,
    rounded to the vendor's terms; what rounding adds is the line's surplus."""
    by_sku: dict[str, PoLine] = {}
    for i in line_indexes:
        line = order.lines[i]
        minimum, pack = (rounding or {}).get(line.sku, (1, 1))
        po_line = by_sku.setdefault(line.sku, PoLine(sku=line.sku, qty=0, min_order_qty=minimum, pack_size=pack))
        po_line.allocations.append(PoAllocation(order_id=order.order_id, line_id=line.line_id, qty=line.needs_po))
    for po_line in by_sku.values():
        po_line.qty = rounded_purchase(po_line.allocated, po_line.min_order_qty, po_line.pack_size)
        po_line.surplus_qty = po_line.qty - po_line.allocated
    return list(by_sku.values())


def po_needed(po: PurchaseOrder) -> dict[str, int]:
    """sku -> what a PO line should have on order: what was received plus what is
    allocated to waiting lines, rounded to the vendor's terms the line was raised under
    (an open PO is rounded only when its window closes)."""
    if po.status == "open":
        return {line.sku: line.received_qty + line.allocated for line in po.lines}
    return {line.sku: rounded_purchase(line.received_qty + line.allocated, line.min_order_qty, line.pack_size) for line in po.lines}


def _cut_allocations(allocations: list[PoAllocation], cut: int) -> list[PoAllocation]:
    """The allocations less `cut` units, taken from the newest first."""
    kept = list(allocations)
    while cut > 0 and kept:
        last = kept.pop()
        if last.qty > cut:
            kept.append(last.model_copy(update={"qty": last.qty - cut}))
            cut = 0
        else:
            cut -= last.qty
    return kept


def cut_po(po: PurchaseOrder, wanted: Mapping[str, int], handed: Mapping[str, int] | None = None) -> PurchaseOrder:
    """A PO cut down to `wanted` per SKU: never grown, never below what was received or
    (`handed`) handed over. What is cut is the line's `cancelled_qty`; it comes out of
    the surplus first, then out of the newest allocations. Cut to nothing, it is
    cancelled; an open PO otherwise stays open."""
    handed = handed or {}
    po_lines = []
    for line in po.lines:
        floor = max(line.received_qty, handed.get(line.sku, 0))
        qty = min(line.qty, max(floor, wanted.get(line.sku, line.qty)))
        cut = line.qty - qty
        surplus = max(0, line.surplus_qty - cut)
        allocations = _cut_allocations(line.allocations, cut - (line.surplus_qty - surplus))
        po_lines.append(
            line.model_copy(update={"qty": qty, "cancelled_qty": line.cancelled_qty + cut, "surplus_qty": surplus, "allocations": allocations})
        )
    if all(line.qty == 0 for line in po_lines):
        status: PoStatus = "cancelled"
    elif po.status == "open":
        status = "open"
    elif all(l.received_qty >= l.qty for l in po_lines):
        status = "received"
    else:
        status = "partially_received" if any(l.received_qty for l in po_lines) else "approved"
    return po.model_copy(update={"lines": po_lines, "status": status})


def shrink_po(po: PurchaseOrder, vo: VendorOrder, wanted: Mapping[str, int]) -> tuple[PurchaseOrder, VendorOrder]:
    """A PO and its vendor order cut down to `wanted` per SKU (see cut_po), never below
    what the vendor handed over."""
    new_po = cut_po(po, wanted, {line.sku: line.handed_over_qty for line in vo.lines})
    qty_by_sku = {line.sku: line.qty for line in new_po.lines}
    # the vendor order keeps what was first ordered beside what was cancelled of it
    vo_lines = [line.model_copy(update={"cancelled_qty": line.qty - qty_by_sku.get(line.sku, line.on_order)}) for line in vo.lines]
    if new_po.status == "cancelled":
        vo_status: VendorOrderStatus = "cancelled"
    elif all(l.handed_over_qty >= l.on_order for l in vo_lines):
        vo_status = "handed_over"
    elif any(l.handed_over_qty for l in vo_lines):
        vo_status = "partially_handed_over"
    else:
        vo_status = vo.status
    return new_po, vo.model_copy(update={"lines": vo_lines, "status": vo_status})


# --- consolidation windows: an open PO per seller and vendor ---------------------------


def join_window(po: PurchaseOrder, order: Order, line_indexes: list[int], rounding: Rounding | None = None) -> PurchaseOrder:
    """An open PO with what the order's lines (at `line_indexes`) need beyond what is on
    order for them added, allocated to them; a SKU new to it gets a line with the vendor's
    terms of now, which it keeps. Nothing is rounded before the window closes."""
    by_sku = {line.sku: line for line in po.lines}
    for i in line_indexes:
        line = order.lines[i]
        if line.needs_po <= 0:
            continue
        minimum, pack = (rounding or {}).get(line.sku, (1, 1))
        po_line = by_sku.get(line.sku) or PoLine(sku=line.sku, qty=0, min_order_qty=minimum, pack_size=pack)
        by_sku[line.sku] = po_line.model_copy(update={"qty": po_line.qty + line.needs_po, "surplus_qty": po_line.surplus_qty + line.needs_po})
    joined = po.model_copy(update={"lines": list(by_sku.values())})
    for i in line_indexes:
        line = order.lines[i]
        if line.needs_po > 0:
            joined = allocate(joined, line.sku, order.order_id, line.line_id, line.needs_po)
    return joined


def window_has_room(po: PurchaseOrder, order: Order, line_indexes: list[int], at: str) -> bool:
    """Whether an open PO may take these lines at `at`: its window has not closed yet (on
    time, whenever its closing runs), and it stays within MAX_PO_SKUS SKUs and
    MAX_PO_ORDERS orders (so every later step on it fits one transaction)."""
    if po.status != "open" or po.closes_at is None or datetime.fromisoformat(po.closes_at) <= datetime.fromisoformat(at):
        return False
    skus = {line.sku for line in po.lines} | {order.lines[i].sku for i in line_indexes}
    return len(skus) <= MAX_PO_SKUS and may_serve(po, order.order_id)


def window_delay_s(left_s: float) -> int:
    """The delay of a window's message: until it closes (a queue delays at most 15
    minutes: the message then comes back and is sent again), never 0 while not due."""
    return max(1, math.ceil(left_s))


def window_due(po: PurchaseOrder, at: datetime) -> tuple[WindowDue, int] | None:
    """The message that closes a PO opened for a consolidation window, and its delay from `at`."""
    if po.status != "open" or po.closes_at is None:
        return None
    left = (datetime.fromisoformat(po.closes_at) - at).total_seconds()
    return WindowDue(seller_id=po.seller_id, po_id=po.po_id), window_delay_s(left) if left > 0 else 0


def close_window(po: PurchaseOrder, at: str) -> PurchaseOrder:
    """An open PO whose window closed: approved, each line rounded to the vendor's terms
    it keeps (what rounding adds is surplus, which later shortfalls take first); with
    nothing left on it, cancelled."""
    lines = []
    for line in po.lines:
        qty = rounded_purchase(line.received_qty + line.allocated, line.min_order_qty, line.pack_size)
        lines.append(line.model_copy(update={"qty": qty, "surplus_qty": qty - line.received_qty - line.allocated}))
    if all(line.qty == 0 for line in lines):
        return po.model_copy(update={"lines": lines, "status": "cancelled"})
    return po.model_copy(update={"lines": lines, "status": "approved", "approved_at": at})


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


@dataclass
class Receipt:
    lines: list[PoLine]
    status: PoStatus
    shares: list[GrnShare]  # who the goods are for, oldest allocation first
    surplus: dict[str, int]  # sku -> received for no line (free stock at once)


def receive_goods(po: PurchaseOrder, lines: list[Quantity]) -> Receipt:
    """The PO after goods are received against it; never more than was ordered. The goods
    go to the line's allocations oldest first, the rest out of its surplus."""
    received = _quantities(lines)
    unknown = sorted(set(received) - {line.sku for line in po.lines})
    if unknown:
        raise InvalidRequest(f"sku {unknown[0]} is not on purchase order {po.po_id}", code="sku_not_on_order")
    new_lines, shares, surplus = [], [], {}
    for line in po.lines:
        qty = received.get(line.sku, 0)
        if line.received_qty + qty > line.qty:
            raise BusinessRuleViolation(
                f"receiving {qty} x {line.sku} would exceed the {line.qty - line.received_qty} still open "
                f"on purchase order {po.po_id}",
                code="receipt_exceeds_ordered_quantity",
            )
        left, allocations = qty, []
        for a in line.allocations:
            take = min(a.qty, left)
            left -= take
            if take:
                shares.append(GrnShare(order_id=a.order_id, line_id=a.line_id, sku=line.sku, qty=take))
            if a.qty > take:
                allocations.append(a.model_copy(update={"qty": a.qty - take}))
        if left:
            surplus[line.sku] = left
        new_lines.append(
            line.model_copy(
                update={"received_qty": line.received_qty + qty, "allocations": allocations, "surplus_qty": line.surplus_qty - left}
            )
        )
    done = all(line.received_qty >= line.qty for line in new_lines)
    return Receipt(lines=new_lines, status="received" if done else "partially_received", shares=shares, surplus=surplus)


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
    settled: dict[str, int]  # line id -> qty of its share this step settled (to the line or to free stock)
    complete: bool = True  # nothing of the GRN is left for another step

    @property
    def skus(self) -> set[str]:
        """The SKUs whose bin this step moves."""
        return {sku for sku, qty in self.used.items() if qty} | {sku for sku, qty in self.surplus.items() if qty}


def assign_receipt(
    order: Order,
    grn_id: str,
    location: str,
    bin_: str,
    shares: list[GrnShare],
    *,
    given: Mapping[str, int] | None = None,
    budget: int | None = None,
    at: str | None = None,
) -> ReceiptAssignment:
    """Give received goods to the order lines they were bought for (the GRN's shares for
    this order): each line takes what it still waits for, the rest is freed (a line filled
    from other stock meanwhile). The share no longer counts as on order for the line.

    `given`: line id -> what earlier steps already settled of this GRN. With a `budget` of
    writes (each line costs one, each SKU whose bin moves one more), the step stops where
    it would go over it and is not `complete`.
    """
    by_line = {line.line_id: i for i, line in enumerate(order.lines)}
    per_line: dict[str, GrnShare] = {}  # one per line, however many allocations it came from
    for share in shares:
        first = per_line.get(share.line_id)
        per_line[share.line_id] = first.model_copy(update={"qty": first.qty + share.qty}) if first else share
    used: dict[str, int] = defaultdict(int)
    surplus: dict[str, int] = defaultdict(int)
    settled: dict[str, int] = {}
    new_lines = list(order.lines)
    spent = 0
    for share in per_line.values():
        left = share.qty - (given or {}).get(share.line_id, 0)
        i = by_line.get(share.line_id)
        if left <= 0:
            continue
        cost = 1 + (0 if used.get(share.sku) or surplus.get(share.sku) else 1)
        if budget is not None and spent + cost > budget:
            return ReceiptAssignment(lines=new_lines, used=dict(used), surplus=dict(surplus), settled=settled, complete=False)
        spent += cost
        settled[share.line_id] = settled.get(share.line_id, 0) + left
        line = new_lines[i] if i is not None else None
        take = min(line.pending_qty, left) if line is not None and line.sku == share.sku else 0
        used[share.sku] += take
        surplus[share.sku] += left - take
        if line is None or i is None:
            continue
        allocations = line.allocations
        if take:
            allocations = [
                *allocations,
                Allocation(location=location, bin=bin_, qty=take, grn_id=grn_id, reason="received_for_order", assigned_at=at),
            ]
        new_lines[i] = line.model_copy(
            update={
                "assigned_qty": line.assigned_qty + take,
                "pending_qty": line.pending_qty - take,
                "on_order_qty": max(0, line.on_order_qty - left),
                "allocations": allocations,
            }
        )
    return ReceiptAssignment(lines=new_lines, used=dict(used), surplus=dict(surplus), settled=settled)


# --- cancellation ---------------------------------------------------------------------


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


def allocated_to(po: PurchaseOrder, order_id: str) -> dict[str, int]:
    """line id -> units of the PO allocated to that line of the order."""
    out: dict[str, int] = defaultdict(int)
    for line in po.lines:
        for a in line.allocations:
            if a.order_id == order_id:
                out[a.line_id] += a.qty
    return dict(out)


def orders_served(po: PurchaseOrder) -> list[str]:
    """The orders a PO has units allocated to, in the order they were allocated."""
    return list(dict.fromkeys(a.order_id for line in po.lines for a in line.allocations))


# A PO serves lines of at most this many orders (its own and those that took its
# surplus), so that a step that touches all of them (a decline, a cancel) fits in one
# transaction beside the PO, its vendor order and up to MAX_PO_SKUS SKU summaries.
MAX_PO_ORDERS = 20


def may_serve(po: PurchaseOrder, order_id: str) -> bool:
    """Whether the PO may allocate to a line of this order (it serves it already, or
    serves fewer than MAX_PO_ORDERS orders)."""
    served = orders_served(po)
    return order_id in served or len(served) < MAX_PO_ORDERS


def lines_after_po_cut(order: Order, before: PurchaseOrder, after: PurchaseOrder, reason: NoPoReason = "po_cancelled") -> list[OrderLine]:
    """The order's lines once a PO was cut: what the cut took of a line's allocation is no
    longer on order for it, and a line that now needs more than is on order waits with
    `reason` (`po_cancelled`, `vendor_declined`)."""
    old, new = allocated_to(before, order.order_id), allocated_to(after, order.order_id)
    lines = []
    for line in order.lines:
        lost = old.get(line.line_id, 0) - new.get(line.line_id, 0)
        if lost <= 0:
            lines.append(line)
            continue
        line = line.model_copy(update={"on_order_qty": max(0, line.on_order_qty - lost)})
        lines.append(line.model_copy(update={"no_po_reason": reason}) if line.needs_po else line)
    return lines


def release(po: PurchaseOrder, sku: str, order_id: str, line_id: str, qty: int) -> PurchaseOrder:
    """The PO with up to `qty` of a line's allocation turned into surplus (the line needs
    less now: filled from other stock, or cancelled)."""
    lines = []
    for line in po.lines:
        if line.sku == sku:
            allocations, freed = [], 0
            for a in line.allocations:
                take = min(a.qty, qty - freed) if (a.order_id, a.line_id) == (order_id, line_id) else 0
                freed += take
                if a.qty > take:
                    allocations.append(a.model_copy(update={"qty": a.qty - take}))
            line = line.model_copy(update={"allocations": allocations, "surplus_qty": line.surplus_qty + freed})
        lines.append(line)
    return po.model_copy(update={"lines": lines})


def allocate(po: PurchaseOrder, sku: str, order_id: str, line_id: str, qty: int) -> PurchaseOrder:
    """The PO with `qty` of a line's surplus allocated to a waiting line."""
    lines = []
    for line in po.lines:
        if line.sku == sku:
            if qty > line.surplus_qty:
                raise ValueError(f"PO {po.po_id} has {line.surplus_qty} x {sku} surplus, not {qty}")
            # one allocation per waiting line: a line given more keeps its place
            mine = [a for a in line.allocations if (a.order_id, a.line_id) == (order_id, line_id)]
            if mine:
                allocations = [a.model_copy(update={"qty": a.qty + qty}) if a is mine[0] else a for a in line.allocations]
            else:
                allocations = [*line.allocations, PoAllocation(order_id=order_id, line_id=line_id, qty=qty)]
            line = line.model_copy(update={"allocations": allocations, "surplus_qty": line.surplus_qty - qty})
        lines.append(line)
    return po.model_copy(update={"lines": lines})


def cover(line: OrderLine, po_id: str, qty: int) -> OrderLine:
    """The line with `qty` more on order for it, on `po_id` (allocated there in the same
    step); its reason for waiting without a PO goes once it needs no more."""
    ids = line.purchase_order_ids if po_id in line.purchase_order_ids else [*line.purchase_order_ids, po_id]
    line = line.model_copy(update={"on_order_qty": line.on_order_qty + qty, "purchase_order_ids": ids})
    return line.model_copy(update={"no_po_reason": None}) if not line.needs_po else line


def surplus_of(po: PurchaseOrder, sku: str) -> int:
    return sum(line.surplus_qty for line in po.lines if line.sku == sku)
