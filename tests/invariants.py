"""The conservation rules of the design, checked against everything stored."""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from backorders import topology
from backorders.adapters.store import OPEN_ORDER_STATUSES
from backorders.domain.models import Order

_d = TypeDeserializer()


@cache
def _client():
    """Made once (making a client costs more than a scan); moto intercepts it in every test."""
    return boto3.client("dynamodb")


def _scan(table: str) -> list[dict]:
    client = _client()
    items, kwargs = [], {"TableName": table, "ConsistentRead": True}
    while True:
        out = client.scan(**kwargs)
        items += [{k: _d.deserialize(v) for k, v in i.items()} for i in out["Items"]]
        if "LastEvaluatedKey" not in out:
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _by_entity(ignore: frozenset | set = frozenset(), items: dict[str, list[dict]] | None = None) -> dict[str, list[dict]]:
    """Every stored item by entity; `ignore` holds (table, pk, sk) of items to leave out
    (malformed items a test wrote on purpose, which no invariant is about). `items`, per
    table, when the caller has read them already (a faster way than Scan)."""
    by_entity = defaultdict(list)
    for t in topology.TABLES:
        for item in _scan(t.name) if items is None else items[t.name]:
            if (t.name, item.get("pk"), item.get("sk")) not in ignore:
                by_entity[item.get("entity")].append(item)
    _grns_kept_on_pos(by_entity)
    return by_entity


def _grns_kept_on_pos(by_entity: dict[str, list[dict]]) -> None:
    """A GRN a handover gave to its orders as it was received is kept on its PO only (its
    `grns`); any other has an item of its own too, which must agree with the PO. From here
    on, by_entity["GRN"] holds every GRN as an item would."""
    items = {(g["seller_id"], g["grn_id"]): g for g in by_entity["GRN"]}
    handovers = {(vo["seller_id"], h["grn_id"]): h["handover_id"] for vo in by_entity["VENDOR_ORDER"] for h in vo.get("handovers", []) if h.get("grn_id")}
    grns = []
    for po in by_entity["PO"]:
        for kept in po.get("grns", []):
            key = (po["seller_id"], kept["grn_id"])
            item = items.pop(key, None)
            if item is None:
                assert key in handovers, f"GRN {kept['grn_id']} of PO {po['po_id']} has neither an item nor a handover"
                item = {**kept, "seller_id": po["seller_id"], "po_id": po["po_id"], "vendor_id": po["vendor_id"], "handover_id": handovers[key]}
                item["given_on_receipt"] = True
            else:
                assert (_qty(item["lines"]), item.get("shares", [])) == (_qty(kept["lines"]), kept.get("shares", [])), f"GRN {kept['grn_id']} vs its PO"
            grns.append(item)
    by_entity["GRN"] = grns + list(items.values())  # items no PO lists: the PO checks name them


def check(chain=None, ignore: frozenset | set = frozenset(), items: dict[str, list[dict]] | None = None) -> dict:
    """Assert every invariant; returns per (seller, sku) stock figures for further checks."""
    by_entity = _by_entity(ignore, items)
    _check_work_index(by_entity)

    stock_in = defaultdict(int)  # what came in: adjustments, received returns, GRNs
    for adj in by_entity["ADJUSTMENT"]:
        stock_in[(adj["seller_id"], adj["sku"])] += int(adj["qty"])
    for ret in by_entity["RETURN"]:
        if ret["status"] == "received":
            stock_in[(ret["seller_id"], ret["sku"])] += int(ret["qty"])
    grn_qty = {}
    for grn in by_entity["GRN"]:
        for line in grn["lines"]:
            stock_in[(grn["seller_id"], line["sku"])] += int(line["qty"])
        grn_qty[grn["grn_id"]] = grn

    bins = defaultdict(lambda: {"available": 0, "assigned": 0, "reserved": 0})
    received_on_pos = defaultdict(int)  # (seller, sku) -> what the Default Bin says came in on POs
    assigned_in_bin = {}  # (seller, sku, location, bin as stored: a shard is its own) -> assigned
    for b in by_entity["STOCK_BIN"]:
        for figure in ("available", "assigned", "reserved"):
            assert int(b[figure]) >= 0, f"negative {figure} in {b}"
            bins[(b["seller_id"], b["sku"])][figure] += int(b[figure])
        assigned_in_bin[(b["seller_id"], b["sku"], b["location"], b["bin"])] = int(b["assigned"])
        if int(b.get("received_on_pos", 0)):
            assert (b["location"], b["bin"]) == ("main", "default"), f"goods received on POs into {b}"
        received_on_pos[(b["seller_id"], b["sku"])] += int(b.get("received_on_pos", 0))

    allocated = defaultdict(int)
    allocated_from = defaultdict(int)  # (seller, sku, location, bin) -> what orders' allocations say came from it
    pending = defaultdict(int)
    applied = set()  # (order id, grn id)
    given = defaultdict(int)  # (order id, grn id, line id) -> settled by steps so far (to the line or free stock)
    for order in by_entity["ORDER"]:
        applied |= {(order["order_id"], g) for g in order.get("applied_grns", set())}
        for grn_id, per_line in (order.get("grn_progress") or {}).items():
            for line_id, qty in per_line.items():
                given[(order["order_id"], grn_id, line_id)] += int(qty)
        # lines in the queue of waiting lines: all of a backordered order's, and those a
        # new order's assignment has been through
        queued = {"backordered": len(order["lines"]), "received": int(order.get("lines_assigned", 0))}.get(order["status"], 0)
        for index, line in enumerate(order["lines"]):
            qty, assigned, waiting, cancelled = (int(line[k]) for k in ("qty", "assigned_qty", "pending_qty", "cancelled_qty"))
            assert qty == assigned + waiting + cancelled, f"line {order['order_id']}/{line['line_id']}: {line}"
            assert assigned == sum(int(a["qty"]) for a in line["allocations"]), line
            for a in line["allocations"]:
                allocated_from[(order["seller_id"], line["sku"], a["location"], a["bin"])] += int(a["qty"])
            allocated[(order["seller_id"], line["sku"])] += assigned
            if index < queued:
                pending[(order["seller_id"], line["sku"])] += waiting
            if order["status"] == "cancelled":
                assert assigned == 0 and waiting == 0
        if order["status"] == "ready":
            assert all(int(l["pending_qty"]) == 0 for l in order["lines"])

    for where in set(assigned_in_bin) | set(allocated_from):
        in_bin = assigned_in_bin.get(where, 0)
        assert in_bin == allocated_from[where], f"{where}: bin says {in_bin} assigned, allocations {allocated_from[where]}"

    open_po = defaultdict(int)
    ordered, received = defaultdict(int), defaultdict(int)
    for po in by_entity["PO"]:
        for line in po["lines"]:
            assert int(line["received_qty"]) <= int(line["qty"]), f"over-received {po['po_id']}"
            open_po[(po["seller_id"], line["sku"])] += int(line["qty"]) - int(line["received_qty"])
            ordered[(po["seller_id"], line["sku"])] += int(line["qty"])
            received[(po["seller_id"], line["sku"])] += int(line["received_qty"])
        assert sum(len(g["lines"]) and 1 for g in po.get("grns", [])) == len({g["grn_id"] for g in po.get("grns", [])})

    reserved_due = defaultdict(int)  # a GRN's shares wait in the bin, reserved, until their order is given them
    for grn_id, grn in grn_qty.items():
        for share in grn.get("shares", []):
            if (share["order_id"], grn_id) not in applied:
                settled = given[(share["order_id"], grn_id, share["line_id"])]
                reserved_due[(grn["seller_id"], share["sku"])] += int(share["qty"]) - settled

    waits = defaultdict(int)
    for w in by_entity["WAITING_LINE"]:
        waits[(w["pk"].split("#")[1], w["pk"].split("#", 3)[3])] += int(w["pending_qty"])
    summaries = {(s["seller_id"], s["sku"]): s for s in by_entity["SKU_SUMMARY"]}

    figures = {}
    for key in set(bins) | set(stock_in) | set(allocated) | set(pending) | set(open_po) | set(summaries) | set(ordered):
        b = bins[key]
        on_hand = b["available"] + b["assigned"] + b["reserved"]
        assert on_hand == stock_in[key], f"{key}: on hand {on_hand} but {stock_in[key]} came in"
        assert b["assigned"] == allocated[key], f"{key}: bins say {b['assigned']} assigned, orders {allocated[key]}"
        assert b["reserved"] == reserved_due[key], f"{key}: reserved {b['reserved']} vs GRNs not assigned {reserved_due[key]}"
        assert waits[key] == pending[key], f"{key}: queue holds {waits[key]}, orders wait for {pending[key]}"
        summary = summaries.get(key, {})
        assert int(summary.get("ordered_on_pos", 0)) == ordered[key], f"{key}: ordered on POs {summary} vs {ordered[key]}"
        assert received_on_pos[key] == received[key], f"{key}: received on POs, bins {received_on_pos[key]} vs POs {received[key]}"
        figures[key] = {"on_hand": on_hand, **b, "pending": pending[key], "open_po_qty": open_po[key]}
    _check_purchasing(by_entity)
    _check_returns(by_entity, summaries)
    return figures


def _check_work_index(by_entity: dict[str, list[dict]]) -> None:
    """The reconciler finds open work only in the work index: every open order and open
    PO is in it, due when it should be, and so is every order that goods received are
    still to be given to (cancelled or not); nothing else is."""
    applied = {(o["seller_id"], o["order_id"]): set(o.get("applied_grns", set())) for o in by_entity["ORDER"]}
    owed = {
        (grn["seller_id"], share["order_id"])
        for grn in by_entity["GRN"]
        for share in grn.get("shares", [])
        if grn["grn_id"] not in applied.get((grn["seller_id"], share["order_id"]), set())
    }
    for entity, items in by_entity.items():
        for item in items:
            if entity == "ORDER" and (item["status"] in OPEN_ORDER_STATUSES or (item["seller_id"], item["order_id"]) in owed):
                # looked at on every pass while a line waits for a fix, else in the passes' slices
                stuck = item["status"] in OPEN_ORDER_STATUSES and Order.model_validate(item).waits_for_a_fix()
                kind = "STUCK#" if stuck else "ORDER#"
                assert item.get("work_sk") == item["created_at"] and item["work_pk"].startswith(kind), f"open order outside the work index: {item['pk']}"
            elif entity == "PO" and item["status"] == "open":
                assert item.get("work_sk") == item["closes_at"] and item["work_pk"].startswith("WINDOW#"), f"open PO outside the work index: {item['sk']}"
            else:
                assert "work_pk" not in item, f"{entity} {item['pk']}/{item['sk']} ({item.get('status')}) left in the work index"


def _check_purchasing(by_entity: dict[str, list[dict]]) -> None:
    """Handovers, GRNs, POs, vendor orders and the order lines they serve agree."""
    grns = {(g["seller_id"], g["grn_id"]): g for g in by_entity["GRN"]}
    pos = {(p["seller_id"], p["po_id"]): p for p in by_entity["PO"]}
    orders = {(o["seller_id"], o["order_id"]): o for o in by_entity["ORDER"]}

    # one GRN per handover (a handover id names one handover of a vendor order, hence of
    # a PO), and the GRN a handover names exists with its goods
    by_handover = defaultdict(list)
    for grn in grns.values():
        if grn.get("handover_id"):
            by_handover[(grn["vendor_id"], grn["po_id"], grn["handover_id"])].append(grn["grn_id"])
    for key, ids in by_handover.items():
        assert len(ids) == 1, f"handover {key} has {len(ids)} GRNs: {ids}"
    # one GRN per manual reference on a PO
    by_ref = defaultdict(list)
    for grn in grns.values():
        if grn.get("grn_ref"):
            by_ref[(grn["seller_id"], grn["po_id"], grn["grn_ref"])].append(grn["grn_id"])
    for key, ids in by_ref.items():
        assert len(ids) == 1, f"GRN reference {key} has {len(ids)} GRNs: {ids}"

    handed = defaultdict(int)  # (vendor, vendor order, sku) -> handed over
    for vo in by_entity["VENDOR_ORDER"]:
        told = [h["handover_id"] for h in vo.get("handovers", [])]
        assert len(told) == len(set(told)), f"vendor order {vo['vendor_order_id']} records a handover twice: {told}"
        for h in vo.get("handovers", []):
            for line in h["lines"]:
                handed[(vo["vendor_id"], vo["vendor_order_id"], line["sku"])] += int(line["qty"])
            if h.get("grn_id"):
                grn = grns.get((vo["seller_id"], h["grn_id"]))
                assert grn is not None, f"handover {h['handover_id']} names GRN {h['grn_id']}, which is not stored"
                assert grn.get("handover_id") == h["handover_id"], (grn, h)
                assert _qty(grn["lines"]) == _qty(h["lines"]), f"GRN {grn['grn_id']} differs from its handover"
    for vo in by_entity["VENDOR_ORDER"]:
        for line in vo["lines"]:
            got = handed[(vo["vendor_id"], vo["vendor_order_id"], line["sku"])]
            assert int(line["handed_over_qty"]) == got, f"vendor order {vo['vendor_order_id']}: {line} vs handovers {got}"
            on_order = int(line["qty"]) - int(line.get("cancelled_qty", 0))
            assert got <= on_order, f"vendor order {vo['vendor_order_id']} handed over more than ordered: {line}"
        po = pos.get((vo["seller_id"], vo["po_id"]))
        assert po is not None, f"vendor order {vo['vendor_order_id']} of unknown PO {vo['po_id']}"
        # the vendor order keeps what was first ordered; what is still on order is the PO's
        on_order_by_sku = {line["sku"]: int(line["qty"]) - int(line.get("cancelled_qty", 0)) for line in vo["lines"]}
        # (a PO line cut to nothing in its consolidation window never reached the vendor)
        on_po = {sku: qty for sku, qty in _qty(po["lines"]).items() if qty or sku in on_order_by_sku}
        assert on_order_by_sku == on_po, f"vendor order {vo['vendor_order_id']} {vo['lines']} vs PO {po['lines']}"
        assert po["status"] != "open", f"PO {po['po_id']} is open (in its consolidation window) but has vendor order {vo['vendor_order_id']}"

    # an open PO is what its lines wait for, unrounded, until its window closes; a window
    # points at a PO of its own seller and vendor
    for po in by_entity["PO"]:
        if po["status"] == "open":
            assert po.get("closes_at"), f"open PO {po['po_id']} has no closing time"
            for line in po["lines"]:
                assert int(line.get("surplus_qty", 0)) == 0 and int(line["received_qty"]) == 0, f"open PO {po['po_id']}: {line}"
    for window in by_entity["PO_WINDOW"]:
        seller_id, vendor_id = window["pk"].split("#", 1)[1], window["sk"].split("#", 1)[1]
        po = pos.get((seller_id, window["po_id"]))
        assert po is not None and po["vendor_id"] == vendor_id, f"window {window} points at {po}"

    received = defaultdict(int)  # (seller, po, sku) -> received by GRNs
    grn_ids_by_po = defaultdict(set)
    for grn in grns.values():
        assert (grn["seller_id"], grn["po_id"]) in pos, f"GRN {grn['grn_id']} for unknown PO {grn['po_id']}"
        grn_ids_by_po[(grn["seller_id"], grn["po_id"])].add(grn["grn_id"])
        for line in grn["lines"]:
            received[(grn["seller_id"], grn["po_id"], line["sku"])] += int(line["qty"])
    for (seller_id, po_id), po in pos.items():
        assert {g["grn_id"] for g in po.get("grns", [])} == grn_ids_by_po[(seller_id, po_id)], f"PO {po_id}: GRN list"
        assert len(po.get("grns", [])) == len(grn_ids_by_po[(seller_id, po_id)]), f"PO {po_id} lists a GRN twice"
        for line in po["lines"]:
            got = received[(seller_id, po_id, line["sku"])]
            assert int(line["received_qty"]) == got, f"PO {po_id}: received {line['received_qty']} but GRNs hold {got}"

    _check_ledger(by_entity, grns, pos, orders)
    for (seller_id, order_id), order in orders.items():
        applied = set(order.get("applied_grns", set()))
        for grn_id in applied:
            grn = grns.get((seller_id, grn_id))
            assert grn is not None and order_id in {s["order_id"] for s in grn.get("shares", [])}, f"order {order_id} applied {grn_id}"
        for line in order["lines"]:
            for po_id in line.get("purchase_order_ids", []):
                assert (seller_id, po_id) in pos, f"order {order_id} line {line['line_id']} names unknown PO {po_id}"
            for a in line["allocations"]:
                if a.get("grn_id"):
                    assert a["grn_id"] in applied, f"order {order_id}: allocation from unapplied GRN {a['grn_id']}"


def _check_ledger(by_entity: dict[str, list[dict]], grns: dict, pos: dict, orders: dict) -> None:
    """Who each unit on order is for. Per PO line: ordered - received - cancelled (its qty
    less received) = its allocations + its surplus. Per order line: what is on order for it
    = its allocations on every PO + its GRN shares not yet given to it; no line is
    allocated more than it waits for (but a line being cancelled, until its POs shed it)."""
    on_pos = defaultdict(int)  # (seller, order, line) -> allocated on all POs
    surplus = {}
    for (seller_id, po_id), po in pos.items():
        for line in po["lines"]:
            allocations = line.get("allocations", [])
            assert all(int(a["qty"]) > 0 for a in allocations), f"PO {po_id}: empty allocation {allocations}"
            owners = [(a["order_id"], a["line_id"]) for a in allocations]
            assert len(owners) == len(set(owners)), f"PO {po_id}: a line allocated twice {owners}"
            assert int(line.get("surplus_qty", 0)) >= 0, f"PO {po_id}: {line}"
            outstanding = int(line["qty"]) - int(line["received_qty"])
            assert outstanding == sum(int(a["qty"]) for a in allocations) + int(line.get("surplus_qty", 0)), (
                f"PO {po_id} {line['sku']}: {outstanding} still to receive, but allocations {allocations} + surplus {line.get('surplus_qty')}"
            )
            for a in allocations:
                order = orders.get((seller_id, a["order_id"]))
                assert order is not None, f"PO {po_id} allocates to unknown order {a['order_id']}"
                served = [l for l in order["lines"] if l["line_id"] == a["line_id"]]
                assert served and served[0]["sku"] == line["sku"], f"PO {po_id} allocates {line['sku']} to {a}"
                assert po_id in served[0].get("purchase_order_ids", []), f"order {a['order_id']} line {a['line_id']} does not name PO {po_id}"
                on_pos[(seller_id, a["order_id"], a["line_id"])] += int(a["qty"])
            if int(line.get("surplus_qty", 0)):
                surplus[(seller_id, line["sku"], po_id)] = int(line["surplus_qty"])
    unapplied = defaultdict(int)  # (seller, order, line) -> GRN shares not yet given to it
    for (seller_id, grn_id), grn in grns.items():
        shared = defaultdict(int)
        for share in grn.get("shares", []):
            shared[share["sku"]] += int(share["qty"])
            order = orders.get((seller_id, share["order_id"]))
            if order is not None and grn_id not in set(order.get("applied_grns", set())):
                settled = int((order.get("grn_progress") or {}).get(grn_id, {}).get(share["line_id"], 0))
                unapplied[(seller_id, share["order_id"], share["line_id"])] += int(share["qty"]) - settled
        received = {line["sku"]: int(line["qty"]) for line in grn["lines"]}
        assert all(qty <= received.get(sku, 0) for sku, qty in shared.items()), f"GRN {grn_id} shares more than it received"
    for (seller_id, order_id), order in orders.items():
        for line in order["lines"]:
            key = (seller_id, order_id, line["line_id"])
            on_order = int(line.get("on_order_qty", 0))
            assert on_order == on_pos[key] + unapplied[key], (
                f"order {order_id} line {line['line_id']}: on order {on_order}, POs hold {on_pos[key]} + GRN shares {unapplied[key]}"
            )
            pending = int(line["pending_qty"])
            being_cancelled = pending == 0 and int(line["cancelled_qty"]) > 0 and order["status"] != "cancelled"
            assert on_pos[key] == 0 or on_order <= pending or being_cancelled, (
                f"order {order_id} line {line['line_id']}: {on_pos[key]} allocated on POs (+{unapplied[key]} received) for {pending} pending"
            )
    kept = {}  # what each SKU summary says is surplus, per PO
    for s in by_entity["SKU_SUMMARY"]:
        for k, v in s.items():
            if k.startswith("surplus#"):
                kept[(s["seller_id"], s["sku"], v["po_id"])] = int(v["qty"])
    assert kept == surplus, f"SKU summaries list surplus {kept}, POs hold {surplus}"


def _check_returns(by_entity: dict[str, list[dict]], summaries: dict) -> None:
    expected = defaultdict(int)
    for ret in by_entity["RETURN"]:
        if ret["status"] == "expected":
            expected[(ret["seller_id"], ret["sku"])] += int(ret["qty"])
    for key in set(expected) | set(summaries):
        got = int(summaries.get(key, {}).get("expected_returns", 0))
        assert got == expected[key], f"{key}: summary expects {got} returned, returns say {expected[key]}"


def _qty(lines: list[dict]) -> dict[str, int]:
    return {line["sku"]: int(line["qty"]) for line in lines}


def check_settled(ignore: frozenset | set = frozenset(), items: dict[str, list[dict]] | None = None) -> None:
    """What must hold once everything asynchronous has run (no lost steps): every order
    was assigned, every shortfall has a PO or a recorded reason, every GRN was given to
    its order, and no stock sits available while lines wait for it."""
    by_entity = _by_entity(ignore, items)
    grn_ids = defaultdict(set)
    for grn in by_entity["GRN"]:
        for share in grn.get("shares", []):
            grn_ids[(grn["seller_id"], share["order_id"])].add(grn["grn_id"])
    for order in by_entity["ORDER"]:
        key = (order["seller_id"], order["order_id"])
        assert order["status"] not in ("received", "accepting"), f"order {key} was never assigned"
        if order["status"] == "backordered":
            for line in order["lines"]:
                if int(line["pending_qty"]) > int(line.get("on_order_qty", 0)):
                    assert line.get("no_po_reason"), f"order {key} line {line['line_id']} waits for more than is on order, with no reason"
        missing = grn_ids[key] - set(order.get("applied_grns", set()))
        assert not missing, f"order {key}: GRNs never assigned {sorted(missing)}"
    available, reserved, waiting = defaultdict(int), defaultdict(int), defaultdict(int)
    for b in by_entity["STOCK_BIN"]:
        available[(b["seller_id"], b["sku"])] += int(b["available"])
        reserved[(b["seller_id"], b["sku"])] += int(b["reserved"])
    for w in by_entity["WAITING_LINE"]:
        waiting[(w["pk"].split("#")[1], w["pk"].split("#", 3)[3])] += int(w["pending_qty"])
    for key in set(available) | set(waiting) | set(reserved):
        assert reserved[key] == 0, f"{key}: {reserved[key]} received but never assigned"
        assert not (available[key] > 0 and waiting[key] > 0), (
            f"{key}: {available[key]} available while lines wait for {waiting[key]}"
        )
    _check_nothing_bought_for_nobody(by_entity)


def _check_nothing_bought_for_nobody(by_entity: dict[str, list[dict]]) -> None:
    """Once settled, what a PO still has coming (beyond what was handed over or received)
    is never more than what was received plus what is allocated to waiting lines, rounded
    to the vendor's terms it was raised under (min_order_qty, pack_size). A PO the seller
    raised by hand keeps what the seller bought."""
    handed = {(vo["vendor_id"], vo["vendor_order_id"], line["sku"]): int(line["handed_over_qty"]) for vo in by_entity["VENDOR_ORDER"] for line in vo["lines"]}
    for po in by_entity["PO"]:
        if po.get("po_ref"):  # raised by hand: what the seller chose to buy
            continue
        for line in po["lines"]:
            received = int(line["received_qty"])
            floor = max(received, handed.get((po["vendor_id"], po["vendor_order_id"], line["sku"]), 0))
            allocated = sum(int(a["qty"]) for a in line.get("allocations", []))
            minimum, pack = int(line.get("min_order_qty", 1)), int(line.get("pack_size", 1))
            need = received + allocated
            needed = 0 if need == 0 else max(minimum, -(-need // pack) * pack)
            assert int(line["qty"]) <= max(floor, needed), (
                f"PO {po['po_id']} {line['sku']}: {line['qty']} on order for {received} received + {allocated} allocated "
                f"(rounded: {needed}, handed over or received: {floor})"
            )


# What differs between two runs of the same steps: the clock, random secrets and request
# ids, and what is built from them (a list's sort key starts with the time).
_VOLATILE = re.compile(r"(_at|_until|correlation_id|request_id|webhook_secret|api_key|api_key_sha256|list_sk|work_sk)$")


def without_volatile(value: Any, also: frozenset[str] = frozenset()) -> Any:
    """`value` without the volatile keys (and `also`) at any depth, for comparing end states."""
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if not _VOLATILE.search(k) and k not in also}
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value
