"""The seed article's edge cases and FAQ, on the whole chain (moto)."""

import pytest


@pytest.fixture
def ready(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    return chain


def only_line(chain, order_id="o1"):
    order = chain.get_order("s1", order_id)
    return order, order["lines"][0]


def test_full_stock_available_no_po_is_created(ready):
    ready.stock("s1", "A", 5)
    ready.drain()
    [new_orders] = [p for p in ready.stream_pumps if p.function.name == "on_order_created"]
    answer = ready.order("s1", "o1", ("A", 5))
    # all in stock: assigned as it is stored, ready in the answer, nothing else to run
    assert (answer.status, answer.body["status"], answer.body["warnings"]) == (201, "ready", [])
    assert ready.bins("s1", "A")[("main", "default")] == {"location": "main", "bin": "default", "available": 0, "assigned": 5, "reserved": 0}
    assert new_orders.pump() == 0
    ready.drain()
    order, line = only_line(ready)
    assert order["status"] == "ready"
    assert (line["assigned_qty"], line["pending_qty"], line["no_po_reason"]) == (5, 0, "stock_available")
    assert ready.purchase_orders("s1") == [] and ready.vendor_orders("v1") == []


def test_an_order_whose_stock_goes_while_it_is_stored_waits_like_any_short_order(ready, monkeypatch):
    # o1 reads 2 available; before it is stored, o2 takes them. o1's takes are refused,
    # it reads again, and is stored short, for on_order_created to buy what is missing.
    from backorders.adapters import dynamo

    ready.stock("s1", "A", 2)
    ready.drain()
    real, raced = dynamo.transact, []

    def o2_first(writes):
        if not raced:
            raced.append(None)
            raced[0] = ready.order("s1", "o2", ("A", 2))
        return real(writes)

    monkeypatch.setattr(dynamo, "transact", o2_first)
    first = ready.order("s1", "o1", ("A", 2))
    monkeypatch.setattr(dynamo, "transact", real)
    assert (raced[0].status, raced[0].body["status"]) == (201, "ready")
    assert (first.status, first.body["status"]) == (201, "received")
    assert first.body["warnings"] == [{"line_id": "L1", "sku": "A", "requested": 2, "available": 0}]
    ready.drain()
    assert only_line(ready, "o1")[0]["status"] == "backordered" and only_line(ready, "o1")[1]["pending_qty"] == 2
    [po] = ready.purchase_orders("s1")
    assert (po["source_order_id"], po["lines"][0]["qty"]) == ("o1", 2)
    assert ready.bins("s1", "A")[("main", "default")]["assigned"] == 2


def test_sku_not_mapped_no_po_is_created(ready):
    ready.order("s1", "o1", ("UNMAPPED", 2))
    ready.drain()
    order, line = only_line(ready)
    assert order["status"] == "backordered"
    assert (line["pending_qty"], line["purchase_order_id"], line["no_po_reason"]) == (2, None, "sku_not_mapped")
    assert ready.purchase_orders("s1") == []


def test_a_sku_mapped_to_null_counts_as_not_mapped(ready):
    assert ready.map_sku("s1", "A", None).status == 200
    ready.order("s1", "o1", ("A", 1))
    ready.drain()
    assert only_line(ready)[1]["no_po_reason"] == "sku_not_mapped"


def test_auto_po_off_records_the_reason(chain):
    chain.seller("s1", auto_po_vendor_level=False)
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    assert only_line(chain)[1]["no_po_reason"] == "auto_po_disabled"
    assert chain.purchase_orders("s1") == []


@pytest.mark.parametrize(
    "flags", [{"is_b2b_new": False}, {"vendor_panel_type": 1}, {"is_warehouse_location": True}]
)
def test_an_ineligible_vendor_gets_no_po(chain, flags):
    chain.seller("s1")
    chain.vendor("v1", **flags)
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    assert only_line(chain)[1]["no_po_reason"] == "vendor_not_eligible"
    assert chain.purchase_orders("s1") == [] and chain.vendor_orders("v1") == []


def test_handover_not_done_nothing_is_inwarded_and_pending_stays(ready):
    ready.order("s1", "o1", ("A", 2))
    ready.drain()
    _order, line = only_line(ready)
    [po] = ready.purchase_orders("s1")
    assert (line["pending_qty"], po["grns"], po["lines"][0]["received_qty"]) == (2, [], 0)
    assert ready.bins("s1", "A") == {}


def test_partial_fulfilment_only_the_received_quantity_is_inwarded_and_assigned(ready):
    ready.order("s1", "o1", ("A", 4))
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    assert ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 3)).status == 202
    ready.drain()
    order, line = only_line(ready)
    [po] = ready.purchase_orders("s1")
    assert (line["assigned_qty"], line["pending_qty"], order["status"]) == (3, 1, "backordered")
    assert (po["status"], po["lines"][0]["received_qty"]) == ("partially_received", 3)
    assert ready.vendor_orders("v1")[0]["status"] == "partially_handed_over"
    assert ready.bins("s1", "A")[("main", "default")]["assigned"] == 3


def test_the_po_is_only_for_the_missing_quantity_and_the_vendor_order_is_in_the_vendor_account(ready):
    ready.vendor("v2")
    ready.stock("s1", "A", 1)
    ready.order("s1", "o1", ("A", 3))
    ready.drain()
    [po] = ready.purchase_orders("s1")
    assert po["lines"] == [
        {"sku": "A", "qty": 2, "received_qty": 0, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 0, "min_order_qty": 1, "pack_size": 1,
         "allocations": [{"order_id": "o1", "line_id": "L1", "qty": 2}]}
    ]
    assert [vo["po_id"] for vo in ready.vendor_orders("v1")] == [po["po_id"]]
    assert ready.vendor_orders("v2") == []


def test_one_po_per_order_and_vendor(ready):
    ready.vendor("v2")
    ready.map_sku("s1", "B", "v1")
    ready.map_sku("s1", "C", "v2")
    ready.order("s1", "o1", ("A", 1), ("B", 2), ("C", 3), ("A", 1))
    ready.drain()
    pos = {po["vendor_id"]: po for po in ready.purchase_orders("s1")}
    assert sorted(pos) == ["v1", "v2"]
    assert sorted((l["sku"], l["qty"]) for l in pos["v1"]["lines"]) == [("A", 2), ("B", 2)]
    assert pos["v2"]["lines"] == [
        {"sku": "C", "qty": 3, "received_qty": 0, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 0, "min_order_qty": 1, "pack_size": 1,
         "allocations": [{"order_id": "o1", "line_id": "L3", "qty": 3}]}
    ]
    order = ready.get_order("s1", "o1")
    assert [l["purchase_order_id"] for l in order["lines"]] == [
        pos["v1"]["po_id"], pos["v1"]["po_id"], pos["v2"]["po_id"], pos["v1"]["po_id"]
    ]


def test_an_order_in_several_bins_shows_where_its_stock_came_from(ready):
    ready.stock("s1", "A", 1, location="main", bin="rack-2")
    ready.stock("s1", "A", 1)
    ready.order("s1", "o1", ("A", 3))
    ready.drain()
    line = only_line(ready)[1]
    assert [(a["location"], a["bin"], a["qty"]) for a in line["allocations"]] == [
        ("main", "default", 1), ("main", "rack-2", 1)
    ]
    assert line["pending_qty"] == 1


def test_auto_grn_off_records_the_handover_alone(chain):
    chain.seller("s1", auto_grn_through_backorder=False)
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    answer = chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
    assert answer.status == 202 and answer.body["grn_id"] is None
    chain.drain()
    [po] = chain.purchase_orders("s1")
    assert (po["status"], po["grns"], po["lines"][0]["received_qty"]) == ("approved", [], 0)
    assert chain.vendor_orders("v1")[0]["status"] == "handed_over"
    assert only_line(chain)[1]["pending_qty"] == 2
    assert chain.bins("s1", "A") == {}


def test_a_vendor_that_requires_approval_gets_an_unapproved_order_to_approve(chain):
    chain.seller("s1")
    chain.vendor("v1", approval_required=True)
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    [po] = chain.purchase_orders("s1")
    assert (vo["status"], po["status"]) == ("unapproved", "approved")
    refused = chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
    assert refused.status == 422 and refused.error["code"] == "vendor_order_not_approved"
    path = f"/v1/vendors/v1/orders/{vo['vendor_order_id']}/approve"
    assert chain.as_vendor("v1", "POST", path).body["status"] == "approved"
    assert chain.as_vendor("v1", "POST", path).status == 200  # again: nothing changes
    assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2)).status == 202
    chain.drain()
    assert chain.get_order("s1", "o1")["status"] == "ready"


def test_a_seller_without_backorders_is_refused_a_short_order_and_nothing_is_written(chain):
    chain.seller("s1", allow_backorders=False)
    chain.stock("s1", "A", 1)
    answer = chain.order("s1", "o1", ("A", 2))
    assert answer.status == 422 and answer.error["code"] == "insufficient_stock"
    assert answer.error["details"] == [{"line_id": "L1", "sku": "A", "requested": 2, "available": 1}]
    assert chain.admin("GET", "/v1/sellers/s1/orders/o1").status == 404
    assert chain.bins("s1", "A")[("main", "default")]["available"] == 1
    # with enough stock the order is taken and assigned at once
    ok = chain.order("s1", "o2", ("A", 1))
    assert (ok.status, ok.body["status"]) == (201, "ready")
    chain.drain()
    assert chain.bins("s1", "A")[("main", "default")] | {} == {
        "location": "main", "bin": "default", "available": 0, "assigned": 1, "reserved": 0
    }


def test_the_same_order_again_changes_nothing_and_another_body_conflicts(ready):
    first = ready.order("s1", "o1", ("A", 2))
    again = ready.order("s1", "o1", ("A", 2))
    assert (first.status, again.status) == (201, 200)
    assert again.body == first.body
    ready.drain()
    other = ready.order("s1", "o1", ("A", 3))
    assert other.status == 409 and other.error["code"] == "order_id_conflict"
    assert len(ready.purchase_orders("s1")) == 1


def test_a_new_order_whose_write_is_retried_by_the_sdk_is_still_answered_201(ready, monkeypatch):
    # The first write commits but its answer is lost; the SDK sends it again and the
    # retry finds the order already there. It is this request's own order, not a resend.
    from backorders.adapters import dynamo

    real = dynamo.write

    def answer_lost(w):
        real(w)
        return real(w)

    monkeypatch.setattr(dynamo, "write", answer_lost)
    first = ready.order("s1", "o1", ("A", 2))
    monkeypatch.setattr(dynamo, "write", real)
    assert first.status == 201, first
    assert ready.order("s1", "o1", ("A", 2)).status == 200  # a marketplace resend


def test_the_same_handover_again_changes_nothing(ready):
    ready.order("s1", "o1", ("A", 3))
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    first = ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
    again = ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
    assert (first.status, again.status) == (202, 202) and first.body == again.body
    ready.drain()
    [po] = ready.purchase_orders("s1")
    assert (po["lines"][0]["received_qty"], len(po["grns"])) == (1, 1)
    assert only_line(ready)[1]["assigned_qty"] == 1
    conflict = ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
    assert (conflict.status, conflict.error["code"]) == (409, "handover_id_conflict")
    ready.drain()
    assert ready.vendor_orders("v1")[0]["lines"][0]["handed_over_qty"] == 1
    assert ready.purchase_orders("s1")[0]["lines"][0]["received_qty"] == 1


def test_a_handover_sent_twice_at_once_is_recorded_once(ready, monkeypatch):
    # The second request reads the vendor order before the first one's write lands: its
    # write, under the version it read, is refused, and it answers as a repeat.
    from backorders.adapters import dynamo

    ready.order("s1", "o1", ("A", 3))
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    real, raced = dynamo.transact, []

    def first_lands_meanwhile(writes):
        if not raced:
            raced.append(None)
            raced[0] = ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
        return real(writes)

    monkeypatch.setattr(dynamo, "transact", first_lands_meanwhile)
    second = ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
    monkeypatch.setattr(dynamo, "transact", real)
    assert (raced[0].status, second.status) == (202, 202) and second.body == raced[0].body
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    assert [h["handover_id"] for h in vo["handovers"]] == ["h1"] and vo["lines"][0]["handed_over_qty"] == 1
    [po] = ready.purchase_orders("s1")
    assert (po["lines"][0]["received_qty"], len(po["grns"])) == (1, 1)


def test_a_vendor_may_name_handovers_of_two_vendor_orders_alike(ready):
    # One shipment for two orders: the vendor sends its shipment number on both.
    ready.order("s1", "o1", ("A", 1))
    ready.order("s1", "o2", ("A", 2))
    ready.drain()
    vendor_orders = ready.vendor_orders("v1")
    assert len(vendor_orders) == 2
    answers = [ready.hand_over("v1", vo["vendor_order_id"], "ship-1", ("A", vo["lines"][0]["qty"])) for vo in vendor_orders]
    ready.drain()
    assert [a.status for a in answers] == [202, 202] and answers[0].body["grn_id"] != answers[1].body["grn_id"]
    assert [ready.get_order("s1", o)["status"] for o in ("o1", "o2")] == ["ready", "ready"]


def test_a_handover_gives_the_goods_to_their_order_in_its_own_request(ready):
    ready.order("s1", "o1", ("A", 3))
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    [goods_received] = [p for p in ready.stream_pumps if p.function.name == "on_goods_received"]
    assert ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1)).status == 202
    # before any stream record is read: assigned, never held reserved
    assert only_line(ready)[1]["assigned_qty"] == 1
    assert ready.bins("s1", "A")[("main", "default")] == {"location": "main", "bin": "default", "available": 0, "assigned": 1, "reserved": 0}
    assert ready.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 2)).status == 202
    assert only_line(ready)[0]["status"] == "ready"
    assert goods_received.pump() == 0, "the GRNs' records are not the purchasing stream's work"
    ready.drain()
    grn = ready.purchase_orders("s1")[0]["grns"][-1]
    assert [(a["qty"], a["grn_id"]) for a in only_line(ready)[1]["allocations"]][-1] == (2, grn["grn_id"])


def test_a_handover_for_which_its_vendor_order_has_no_room_is_refused_and_changes_nothing(ready, monkeypatch):
    # A vendor order keeps its handovers (and a PO its GRNs): one receipt too many would
    # take the item past what DynamoDB stores. Here the room is made small.
    from backorders.adapters.store import Store
    from backorders.services import purchasing

    ready.order("s1", "o1", ("A", 3))
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    assert ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1)).status == 202
    store = Store()
    vendor_order, po = store.vendor_order("v1", vo["vendor_order_id"]), store.purchase_order("s1", vo["po_id"])
    assert vendor_order is not None and po is not None
    room = max(len(vendor_order[0].model_dump_json()), len(po[0].model_dump_json())) + 100
    monkeypatch.setattr(purchasing, "MAX_STORED_BYTES", room)
    refused = ready.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 1))
    assert (refused.status, refused.error["code"]) == (422, "too_many_receipts")
    assert "has no room for another receipt" in refused.error["message"] and "fewer, larger handovers" in refused.error["message"]
    ready.drain()
    assert [h["handover_id"] for h in ready.vendor_orders("v1")[0]["handovers"]] == ["h1"]
    assert ready.purchase_orders("s1")[0]["lines"][0]["received_qty"] == 1
    assert only_line(ready)[1]["assigned_qty"] == 1


def test_a_handover_beyond_what_is_open_is_refused_and_changes_nothing(ready):
    ready.order("s1", "o1", ("A", 2))
    ready.drain()
    [vo] = ready.vendor_orders("v1")
    ready.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
    refused = ready.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 2))
    assert refused.status == 422 and refused.error["code"] == "handover_exceeds_open_quantity"
    assert refused.error["details"] == [{"field": "lines", "sku": "A", "requested": 2, "open": 1}]
    not_on_order = ready.hand_over("v1", vo["vendor_order_id"], "h3", ("B", 1))
    assert not_on_order.status == 422
    ready.drain()
    assert ready.vendor_orders("v1")[0]["lines"][0]["handed_over_qty"] == 1
    assert ready.purchase_orders("s1")[0]["lines"][0]["received_qty"] == 1
