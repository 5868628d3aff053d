"""The conservation rules of the design, checked against everything stored."""

from __future__ import annotations

from collections import defaultdict

import boto3
from boto3.dynamodb.types import TypeDeserializer

from backorders import topology

_d = TypeDeserializer()


def _scan(table: str) -> list[dict]:
    client = boto3.client("dynamodb")
    items, kwargs = [], {"TableName": table, "ConsistentRead": True}
    while True:
        out = client.scan(**kwargs)
        items += [{k: _d.deserialize(v) for k, v in i.items()} for i in out["Items"]]
        if "LastEvaluatedKey" not in out:
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def check(chain=None) -> dict:
    """Assert every invariant; returns per (seller, sku) stock figures for further checks."""
    items = {t.name: _scan(t.name) for t in topology.TABLES}
    by_entity = defaultdict(list)
    for table_items in items.values():
        for item in table_items:
            by_entity[item.get("entity")].append(item)

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
    for b in by_entity["STOCK_BIN"]:
        for figure in ("available", "assigned", "reserved"):
            assert int(b[figure]) >= 0, f"negative {figure} in {b}"
            bins[(b["seller_id"], b["sku"])][figure] += int(b[figure])

    allocated = defaultdict(int)
    pending = defaultdict(int)
    applied = set()
    po_line_owner = {}
    for order in by_entity["ORDER"]:
        applied |= set(order.get("applied_grns", set()))
        for line in order["lines"]:
            qty, assigned, waiting, cancelled = (int(line[k]) for k in ("qty", "assigned_qty", "pending_qty", "cancelled_qty"))
            assert qty == assigned + waiting + cancelled, f"line {order['order_id']}/{line['line_id']}: {line}"
            assert assigned == sum(int(a["qty"]) for a in line["allocations"]), line
            allocated[(order["seller_id"], line["sku"])] += assigned
            if order["status"] == "backordered":
                pending[(order["seller_id"], line["sku"])] += waiting
            if order["status"] == "cancelled":
                assert assigned == 0 and waiting == 0
        if order["status"] == "ready":
            assert all(int(l["pending_qty"]) == 0 for l in order["lines"])

    open_po = defaultdict(int)
    for po in by_entity["PO"]:
        for line in po["lines"]:
            assert int(line["received_qty"]) <= int(line["qty"]), f"over-received {po['po_id']}"
            open_po[(po["seller_id"], line["sku"])] += int(line["qty"]) - int(line["received_qty"])
            for line_id in line.get("line_ids", []):
                owner = (po["seller_id"], po["source_order_id"], line_id)
                assert owner not in po_line_owner, f"two PO lines for {owner}"
                po_line_owner[owner] = po["po_id"]
        assert sum(len(g["lines"]) and 1 for g in po.get("grns", [])) == len({g["grn_id"] for g in po.get("grns", [])})

    reserved_due = defaultdict(int)
    for grn_id, grn in grn_qty.items():
        if grn_id not in applied:
            for line in grn["lines"]:
                reserved_due[(grn["seller_id"], line["sku"])] += int(line["qty"])

    waits = defaultdict(int)
    for w in by_entity["WAITING_LINE"]:
        waits[(w["pk"].split("#")[1], w["pk"].split("#", 3)[3])] += int(w["pending_qty"])
    summaries = {(s["seller_id"], s["sku"]): s for s in by_entity["SKU_SUMMARY"]}

    figures = {}
    for key in set(bins) | set(stock_in) | set(allocated) | set(pending) | set(open_po) | set(summaries):
        b = bins[key]
        on_hand = b["available"] + b["assigned"] + b["reserved"]
        assert on_hand == stock_in[key], f"{key}: on hand {on_hand} but {stock_in[key]} came in"
        assert b["assigned"] == allocated[key], f"{key}: bins say {b['assigned']} assigned, orders {allocated[key]}"
        assert b["reserved"] == reserved_due[key], f"{key}: reserved {b['reserved']} vs GRNs not assigned {reserved_due[key]}"
        assert waits[key] == pending[key], f"{key}: queue holds {waits[key]}, orders wait for {pending[key]}"
        summary = summaries.get(key, {})
        assert int(summary.get("open_po_qty", 0)) == open_po[key], f"{key}: open PO {summary} vs {open_po[key]}"
        figures[key] = {"on_hand": on_hand, **b, "pending": pending[key], "open_po_qty": open_po[key]}
    return figures
