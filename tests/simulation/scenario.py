"""Scenarios: a random but seeded world (sellers, vendors, SKU mappings, stock) and a
sequence of HTTP operations against it.

Operations are chosen while the fault-free run executes them (a handover needs a
vendor order that exists, a manual GRN a PO with something open), so the generator
reads that run's state. What it records is concrete: method, path, body and whose
credential. The run with faults replays exactly those requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from backorders.adapters.store import Store
from backorders.domain.models import PurchaseOrder, VendorOrder

# Marketplace SKUs are free text: `/`, `#` (the keys' own separator) and non-ASCII included.
SKUS = ("A", "Mug 350ml / Blue #2", "Café-Tasse ☕", "x#SKU#y")
OTHER_BIN = {"location": "loc2", "bin": "b1"}


@dataclass
class Op:
    """One HTTP request (or, kind "poison", an item written behind the API's back)."""

    kind: str
    method: str
    path: str
    body: Any
    auth: str  # admin | signed | seller | vendor | none
    account: str | None = None
    drain: bool = True  # drain the asynchronous work before the next operation
    setup: bool = False  # creates an account: never crashed, its secrets are kept

    def describe(self) -> str:
        tail = "" if self.drain else "   (no drain: the next operation follows at once)"
        return f"{self.kind:<10} {self.method} {self.path} {self.body}{tail}"


@dataclass
class World:
    sellers: dict[str, dict] = field(default_factory=dict)
    vendors: dict[str, dict] = field(default_factory=dict)
    skus: dict[str, list[str]] = field(default_factory=dict)  # seller -> SKUs it sells


class Generator:
    """Draws the world and then one operation at a time, from a seeded RNG."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.world = World()
        self.counter = 0
        self.orders: list[tuple[str, str, dict]] = []  # (seller, order id, body)
        self.adjustments: list[tuple[str, dict]] = []
        self.returns: dict[tuple[str, str], dict] = {}  # (seller, return id) -> body (last status)
        self.handovers: list[Op] = []
        self.grns: list[Op] = []
        self.manual_pos: list[Op] = []
        self.burst_left = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:03d}"  # zero-padded: ids sort in creation order

    # --- the world ------------------------------------------------------------------

    def setup(self) -> list[Op]:
        rng, ops = self.rng, []
        for v in range(rng.randint(1, 3)):
            vendor_id = f"v{v + 1}"
            flags = {
                "name": f"Vendor {vendor_id}",
                "is_b2b_new": True,
                "vendor_panel_type": 2,
                "is_warehouse_location": False,
                "approval_required": rng.random() < 0.4,
            }
            if rng.random() < 0.15:  # not eligible for automatic POs, for one of the seed's reasons
                flags.update(rng.choice([{"is_b2b_new": False}, {"vendor_panel_type": 1}, {"is_warehouse_location": True}]))
            self.world.vendors[vendor_id] = flags
            ops.append(Op("vendor", "PUT", f"/v1/vendors/{vendor_id}", flags, "admin", setup=True))
        for s in range(rng.choice([1, 1, 2])):
            seller_id = f"s{s + 1}"
            flags = {
                "name": f"Seller {seller_id}",
                "allow_backorders": rng.random() < 0.85,
                "auto_po_vendor_level": rng.random() < 0.85,
                "auto_grn_through_backorder": rng.random() < 0.6,
                # shortfalls for a vendor join one open PO until its window closes (an operation)
                "po_consolidation_minutes": rng.choice([0, 0, 30, 1440]),
            }
            self.world.sellers[seller_id] = flags
            ops.append(Op("seller", "PUT", f"/v1/sellers/{seller_id}", flags, "admin", setup=True))
            skus = list(SKUS[: rng.randint(2, 4)])
            self.world.skus[seller_id] = skus
            for sku in skus:
                vendor = None if rng.random() < 0.15 else rng.choice(sorted(self.world.vendors))
                ops.append(self._map(seller_id, sku, vendor))
                if rng.random() < 0.35:
                    ops.append(self._adjust(seller_id, sku, rng.randint(1, 4)))
                if rng.random() < 0.1:
                    ops.append(self._adjust(seller_id, sku, rng.randint(1, 2), where=OTHER_BIN))
        return ops

    def _map(self, seller_id: str, sku: str, vendor_id: str | None) -> Op:
        """A SKU's vendor, now and then with a minimum or a pack size (POs with surplus that
        later shortfalls take, and that freed stock or a cancellation leaves unneeded)."""
        body: dict[str, Any] = {"vendor_id": vendor_id}
        if self.rng.random() < 0.4:
            body["min_order_qty"] = self.rng.randint(1, 4)
            body["pack_size"] = self.rng.randint(1, 3)
        if self.rng.random() < 0.3:  # a hot SKU: its Default Bin over shards
            body["stock_shards"] = self.rng.randint(2, 4)
        return Op("map_sku", "PUT", f"/v1/sellers/{seller_id}/skus/{quote(sku, safe='')}", body, "admin")

    def _adjust(self, seller_id: str, sku: str, qty: int, where: dict | None = None) -> Op:
        body = {"adjustment_id": self._id("adj"), "sku": sku, "qty": qty, **(where or {})}
        self.adjustments.append((seller_id, body))
        return Op("adjust", "POST", f"/v1/sellers/{seller_id}/inventory/adjustments", body, "admin")

    # --- operations -------------------------------------------------------------------

    def next(self, store: Store) -> Op:
        """The next operation, given the state the fault-free run has reached."""
        rng = self.rng
        # the purchasing side gets its turn whenever there is something to hand over,
        # approve or receive
        can_hand_over = bool(self._vendor_orders(store, ("approved", "partially_handed_over")))
        can_approve = bool(self._vendor_orders(store, ("unapproved",)))
        kinds = {
            "order": 25,
            "order_again": 3,
            "adjust": 10,
            "return": 8,
            "handover": 60 if can_hand_over else 2,
            "approve": 40 if can_approve else 1,
            "cancel": 8,
            "cancel_po": 10 if can_hand_over or can_approve else 1,
            "decline": 6 if can_hand_over or can_approve else 1,
            "manual_po": 3,
            "manual_grn": 30 if self._grn_candidates(store) else 1,
            "close_windows": 25 if self._open_pos(store) else 0,
            "remap": 3,
            "seller_flags": 2,
            "vendor_flags": 2,
        }
        while True:
            kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
            op = getattr(self, f"_op_{kind}")(store)
            if op is not None:
                break
        if self.burst_left:
            self.burst_left -= 1
            op.drain = self.burst_left == 0
        elif rng.random() < 0.2:  # leave work pending: the next 1-2 operations follow at once
            self.burst_left = rng.randint(1, 2)
            op.drain = False
        return op

    def _seller(self) -> str:
        return self.rng.choice(sorted(self.world.sellers))

    def _op_order(self, store: Store) -> Op:
        rng = self.rng
        seller_id = self._seller()
        order_id = self._id("o")
        lines = [
            {"line_id": f"L{i + 1}", "sku": rng.choice(self.world.skus[seller_id]), "qty": rng.randint(1, 5)}
            for i in range(rng.choice([1, 1, 2, 2, 3]))
        ]
        body = {"order_id": order_id, "lines": lines}
        self.orders.append((seller_id, order_id, body))
        return Op("order", "POST", f"/v1/sellers/{seller_id}/orders", body, "signed", seller_id)

    def _op_order_again(self, store: Store) -> Op | None:
        if not self.orders:
            return None
        seller_id, _order_id, body = self.rng.choice(self.orders)
        if self.rng.random() < 0.25:  # same id, other content: 409
            body = {**body, "lines": [{**body["lines"][0], "qty": body["lines"][0]["qty"] + 1}]}
        return Op("order_again", "POST", f"/v1/sellers/{seller_id}/orders", body, "signed", seller_id)

    def _op_adjust(self, store: Store) -> Op:
        rng = self.rng
        if self.adjustments and rng.random() < 0.1:
            seller_id, body = rng.choice(self.adjustments)
            return Op("adjust", "POST", f"/v1/sellers/{seller_id}/inventory/adjustments", body, "admin")
        seller_id = self._seller()
        sku = rng.choice(self.world.skus[seller_id])
        qty = rng.randint(1, 5) if rng.random() < 0.7 else -rng.randint(1, 3)  # may be refused: 422
        return self._adjust(seller_id, sku, qty, where=OTHER_BIN if rng.random() < 0.15 else None)

    def _op_return(self, store: Store) -> Op:
        rng = self.rng
        expected = [k for k, b in self.returns.items() if b["status"] == "expected"]
        if expected and rng.random() < 0.35:
            seller_id, return_id = rng.choice(expected)
            body = {**self.returns[(seller_id, return_id)], "status": "received"}
        elif self.returns and rng.random() < 0.15:  # the same return again
            seller_id, return_id = rng.choice(sorted(self.returns))
            body = self.returns[(seller_id, return_id)]
        else:
            seller_id = self._seller()
            body = {
                "return_id": self._id("r"),
                "sku": rng.choice(self.world.skus[seller_id]),
                "qty": rng.randint(1, 3),
                "status": rng.choice(["expected", "received"]),
            }
        self.returns[(seller_id, body["return_id"])] = body
        return Op("return", "POST", f"/v1/sellers/{seller_id}/returns", body, "signed", seller_id)

    def _vendor_orders(self, store: Store, statuses: tuple[str, ...]) -> list:
        return [vo for v in sorted(self.world.vendors) for vo in _whole_partition(store, VendorOrder, f"VENDOR#{v}", "VORDER#") if vo.status in statuses]

    def _op_handover(self, store: Store) -> Op | None:
        rng = self.rng
        if self.handovers and rng.random() < 0.12:  # the same handover again (or, rarely, other content: 409)
            op = rng.choice(self.handovers)
            if rng.random() < 0.2:
                body = {**op.body, "lines": [{**op.body["lines"][0], "qty": op.body["lines"][0]["qty"] + 1}]}
                return Op("handover", op.method, op.path, body, op.auth, op.account)
            return Op("handover", op.method, op.path, op.body, op.auth, op.account)
        refused = rng.random() < 0.06
        open_ = self._vendor_orders(store, ("approved", "partially_handed_over"))
        if refused or not open_:
            candidates = self._vendor_orders(store, ("unapproved", "handed_over", "cancelled"))
            if not candidates:
                return None
            vo = rng.choice(candidates)
            lines = [{"sku": vo.lines[0].sku, "qty": 1}]  # refused: 422
        else:
            vo = rng.choice(open_)
            lines = self._some_of([(line.sku, line.on_order - line.handed_over_qty) for line in vo.lines], whole=0.45)
            if not lines:
                return None
        body = {"handover_id": self._id("h"), "lines": lines}
        path = f"/v1/vendors/{vo.vendor_id}/orders/{vo.vendor_order_id}/handovers"
        op = Op("handover", "POST", path, body, "vendor", vo.vendor_id)
        self.handovers.append(op)
        return op

    def _some_of(self, still_open: list[tuple[str, int]], whole: float) -> list[dict]:
        """Lines of what is still open: each line all of it (chance `whole`) or a part;
        now and then one more than is open, which the API refuses (422)."""
        rng = self.rng
        lines: list[dict] = []
        for sku, left in still_open:
            if left > 0 and (not lines or rng.random() < 0.7):
                qty = left if rng.random() < whole else rng.randint(1, left)
                if rng.random() < 0.05:
                    qty = left + 1
                lines.append({"sku": sku, "qty": qty})
        return lines

    def _op_approve(self, store: Store) -> Op | None:
        candidates = self._vendor_orders(store, ("unapproved",)) or self._vendor_orders(store, ("approved",))
        if not candidates:
            return None
        vo = self.rng.choice(candidates)
        path = f"/v1/vendors/{vo.vendor_id}/orders/{vo.vendor_order_id}/approve"
        return Op("approve", "POST", path, None, "vendor", vo.vendor_id)

    def _op_cancel(self, store: Store) -> Op | None:
        if not self.orders:
            return None
        seller_id, order_id, _ = self.rng.choice(self.orders)
        path = f"/v1/sellers/{seller_id}/orders/{order_id}/cancel"
        return Op("cancel", "POST", path, {"order_id": order_id}, "signed", seller_id)

    def _op_cancel_po(self, store: Store) -> Op | None:
        """The seller cancels a PO: all of it that is not handed over, or some units of a
        line (now and then more than it has: never below what was handed over)."""
        seller_id = self._seller()
        pos = [po for po in _whole_partition(store, PurchaseOrder, f"SELLER#{seller_id}", "PO#") if po.status != "cancelled"]
        if not pos:
            return None
        po = self.rng.choice(pos)
        lines = []
        if self.rng.random() < 0.6:
            line = self.rng.choice(po.lines)
            lines = [{"sku": line.sku, "qty": self.rng.randint(1, line.qty + line.cancelled_qty + 1)}]
        path = f"/v1/sellers/{seller_id}/purchase-orders/{po.po_id}/cancel"
        return Op("cancel_po", "POST", path, {"lines": lines}, "seller", seller_id)

    def _op_manual_po(self, store: Store) -> Op | None:
        """The seller raises a PO by hand (now and then the same reference again)."""
        if self.manual_pos and self.rng.random() < 0.15:
            op = self.rng.choice(self.manual_pos)
            return Op("manual_po", op.method, op.path, op.body, op.auth, op.account)
        seller_id = self._seller()
        skus = self.rng.sample(self.world.skus[seller_id], self.rng.randint(1, 2))
        body = {
            "po_ref": self._id("PO-"),
            "vendor_id": self.rng.choice(sorted(self.world.vendors)),
            "lines": [{"sku": sku, "qty": self.rng.randint(1, 5)} for sku in skus],
        }
        op = Op("manual_po", "POST", f"/v1/sellers/{seller_id}/purchase-orders", body, "seller", seller_id)
        self.manual_pos.append(op)
        return op

    def _op_decline(self, store: Store) -> Op | None:
        """A vendor declines an order (refused once anything was handed over)."""
        candidates = self._vendor_orders(store, ("unapproved", "approved", "partially_handed_over"))
        if not candidates:
            return None
        vo = self.rng.choice(candidates)
        path = f"/v1/vendors/{vo.vendor_id}/orders/{vo.vendor_order_id}/decline"
        return Op("decline", "POST", path, {"reason": "out of stock"}, "vendor", vo.vendor_id)

    def _op_manual_grn(self, store: Store) -> Op | None:
        rng = self.rng
        if self.grns and rng.random() < 0.15:
            op = rng.choice(self.grns)
            return Op("manual_grn", op.method, op.path, op.body, op.auth, op.account)
        candidates = self._grn_candidates(store)
        if not candidates:
            return None
        seller_id, po = rng.choice(candidates)
        lines = self._some_of([(line.sku, line.qty - line.received_qty) for line in po.lines], whole=0.5)
        body = {"grn_ref": self._id("GRN-"), "lines": lines}
        op = Op("manual_grn", "POST", f"/v1/sellers/{seller_id}/purchase-orders/{po.po_id}/grns", body, "seller", seller_id)
        self.grns.append(op)
        return op

    def _op_seller_flags(self, store: Store) -> Op:
        """Automatic POs or GRNs switched on or off, or the consolidation window opened or
        shut (whether backorders are allowed stays)."""
        seller_id = self._seller()
        flags = self.world.sellers[seller_id]
        flag = self.rng.choice(["auto_po_vendor_level", "auto_grn_through_backorder", "po_consolidation_minutes"])
        value = (0 if flags[flag] else 30) if flag == "po_consolidation_minutes" else not flags[flag]
        flags = self.world.sellers[seller_id] = {**flags, flag: value}
        return Op("seller_flags", "PUT", f"/v1/sellers/{seller_id}", flags, "admin")

    def _open_pos(self, store: Store) -> list[PurchaseOrder]:
        return [
            po
            for seller_id in sorted(self.world.sellers)
            for po in _whole_partition(store, PurchaseOrder, f"SELLER#{seller_id}", "PO#")
            if po.status == "open"
        ]

    def _op_close_windows(self, store: Store) -> Op | None:
        """Time passes: every open PO's consolidation window closes (through the windows
        queue and its function, as deployed)."""
        if not self._open_pos(store):
            return None
        return Op("close_windows", "-", "po-windows", None, "none")

    def _op_vendor_flags(self, store: Store) -> Op:
        """A vendor starts or stops needing approval, or becomes (in)eligible for automatic POs."""
        vendor_id = self.rng.choice(sorted(self.world.vendors))
        flag = self.rng.choice(["approval_required", "is_b2b_new"])
        flags = self.world.vendors[vendor_id] = {**self.world.vendors[vendor_id], flag: not self.world.vendors[vendor_id][flag]}
        return Op("vendor_flags", "PUT", f"/v1/vendors/{vendor_id}", flags, "admin")

    def _grn_candidates(self, store: Store) -> list:
        return [
            (seller_id, po)
            for seller_id, flags in sorted(self.world.sellers.items())
            if not flags["auto_grn_through_backorder"]
            for po in _whole_partition(store, PurchaseOrder, f"SELLER#{seller_id}", "PO#")
            if any(l.qty > l.received_qty for l in po.lines)
        ]

    def _op_remap(self, store: Store) -> Op:
        seller_id = self._seller()
        sku = self.rng.choice(self.world.skus[seller_id])
        vendor = None if self.rng.random() < 0.3 else self.rng.choice(sorted(self.world.vendors))
        return self._map(seller_id, sku, vendor)


def poison_ops(rng: random.Random, seller_id: str) -> list[Op]:
    """Items the domain cannot parse, written straight into a table whose stream feeds a
    function: each must land in that function's on-failure queue without blocking the rest."""
    s = f"SELLER#{seller_id}"
    table, item = rng.choice(
        [
            ("orders", {"pk": f"{s}#ORDER#poison", "sk": "ORDER", "entity": "ORDER", "status": "received", "lines": "?"}),
            ("purchasing", {"pk": s, "sk": "GRN#poison", "entity": "GRN", "grn_id": "poison", "given_on_receipt": False}),
            ("inventory", {"pk": f"{s}#SKU#POISON", "sk": "BIN#main#default", "entity": "STOCK_BIN", "available": 1}),
        ]
    )
    return [Op("poison", "PUT", table, item, "none", drain=False)]


T = TypeVar("T", bound=BaseModel)


def _whole_partition(store: Store, model: type[T], pk: str, prefix: str) -> list[T]:
    """Every PO or vendor order of one account, in key order: the choices of a seed must
    not depend on the clock (the lists are sorted by time)."""
    return [model.model_validate(i) for i in store.tables.query(store.purchasing, pk, prefix)]
