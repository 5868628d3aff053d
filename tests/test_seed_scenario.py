"""The seed article's walk-through, end to end on moto."""

from tests import invariants


def test_stock_3_order_5_handover_1_then_1_ends_ready(chain):
    # given a seller, an eligible vendor, the SKU mapped to it and 3 in stock
    chain.seller("s1")
    chain.vendor("v1")
    assert chain.map_sku("s1", "SKU-1", "v1").status == 200
    assert chain.stock("s1", "SKU-1", 3).status == 201

    # when a marketplace posts an order for 5
    answer = chain.order("s1", "o1", ("SKU-1", 5))

    # then it is accepted with an availability warning
    assert answer.status == 201
    assert answer.body == {
        "order_id": "o1",
        "status": "received",
        "warnings": [{"line_id": "L1", "sku": "SKU-1", "requested": 5, "available": 3}],
    }

    chain.drain()
    invariants.check()
    order = chain.get_order("s1", "o1")
    line = order["lines"][0]
    assert order["status"] == "backordered"
    assert (line["assigned_qty"], line["pending_qty"]) == (3, 2)
    [allocation] = line["allocations"]
    assert allocation.pop("assigned_at") >= order["created_at"]
    assert allocation == {"location": "main", "bin": "default", "qty": 3, "grn_id": None, "reason": "in_stock"}

    # an approved PO for the missing 2 only, and the vendor's B2B order
    [po] = chain.purchase_orders("s1")
    assert po["status"] == "approved"
    assert po["source_order_id"] == "o1"
    assert po["lines"] == [
        {"sku": "SKU-1", "qty": 2, "received_qty": 0, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 0, "min_order_qty": 1, "pack_size": 1,
         "allocations": [{"order_id": "o1", "line_id": line["line_id"], "qty": 2}]}
    ]
    assert line["purchase_order_id"] == po["po_id"]
    assert line["no_po_reason"] is None
    [vo] = chain.vendor_orders("v1")
    assert vo["status"] == "approved"
    assert vo["po_id"] == po["po_id"] and vo["vendor_order_id"] == po["vendor_order_id"]
    assert vo["lines"] == [{"sku": "SKU-1", "qty": 2, "cancelled_qty": 0, "handed_over_qty": 0}]

    # handover 1 -> GRN, 4 assigned, PO partially received
    assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("SKU-1", 1)).status == 202
    chain.drain()
    order = chain.get_order("s1", "o1")
    assert (order["lines"][0]["assigned_qty"], order["lines"][0]["pending_qty"]) == (4, 1)
    assert order["status"] == "backordered"
    po = chain.admin("GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}").body
    assert po["status"] == "partially_received"
    assert po["lines"][0]["received_qty"] == 1
    [grn] = po["grns"]
    assert (grn["location"], grn["bin"], grn["lines"]) == ("main", "default", [{"sku": "SKU-1", "qty": 1}])
    received = order["lines"][0]["allocations"][-1]
    assert received.pop("assigned_at") >= grn["created_at"], "assigned once received"
    assert received == {"location": "main", "bin": "default", "qty": 1, "grn_id": grn["grn_id"], "reason": "received_for_order"}

    # handover 1 more -> order ready, PO received
    assert chain.hand_over("v1", vo["vendor_order_id"], "h2", ("SKU-1", 1)).status == 202
    chain.drain()
    order = chain.get_order("s1", "o1")
    assert order["status"] == "ready"
    assert (order["lines"][0]["assigned_qty"], order["lines"][0]["pending_qty"]) == (5, 0)
    po = chain.admin("GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}").body
    assert po["status"] == "received" and len(po["grns"]) == 2
    assert chain.vendor_orders("v1")[0]["status"] == "handed_over"
    invariants.check()
    # stock: the 5 units are all assigned, none left over
    assert chain.bins("s1", "SKU-1")[("main", "default")] == {
        "location": "main", "bin": "default", "available": 0, "assigned": 5, "reserved": 0
    }
