"""Purchasing that never over-buys: a PO follows what its lines still wait for (freed
stock cuts it), a vendor's pack size and minimum round it, and the seller can cancel it."""

from __future__ import annotations

import pytest

from backorders.adapters.store import Store
from backorders.services import ordering
from tests import invariants


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "MUG", "v1")
    return chain


def stock_view(chain, sku: str = "MUG") -> dict:
    return chain.as_seller("s1", "GET", f"/v1/sellers/s1/skus/{sku}/stock").body


def po_of(chain, order_id: str) -> dict:
    (po,) = [p for p in chain.purchase_orders("s1") if p["source_order_id"] == order_id]
    return po


def vendor_order(chain, po: dict) -> dict:
    return chain.as_vendor("v1", "GET", f"/v1/vendors/v1/orders/{po['vendor_order_id']}").body


def settled(chain) -> None:
    chain.drain()
    invariants.check()
    invariants.check_settled()


def test_freed_stock_that_fills_a_waiting_line_cuts_its_po_so_nothing_is_bought_for_nobody(shop):
    shop.stock("s1", "MUG", 5)
    shop.order("s1", "o-1001", ("MUG", 5))
    shop.order("s1", "o-2", ("MUG", 2))
    shop.drain()
    assert po_of(shop, "o-2")["lines"][0]["qty"] == 2
    assert shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o-1001/cancel", {"order_id": "o-1001"}).status == 200
    settled(shop)
    assert shop.get_order("s1", "o-2")["status"] == "ready"
    po = po_of(shop, "o-2")
    assert po["status"] == "cancelled" and po["lines"][0] | {"sku": None} == {
        "sku": None, "qty": 0, "received_qty": 0, "cancelled_qty": 2, "surplus_qty": 0, "handed_over_qty": 0,
        "min_order_qty": 1, "pack_size": 1, "allocations": [],
    }
    assert vendor_order(shop, po)["status"] == "cancelled", "the vendor is no longer asked to deliver"
    view = stock_view(shop)
    assert (view["available"], view["pending_backorders"], view["open_po_qty"], view["quantity_to_purchase"]) == (3, 0, 0, 0)


def test_a_po_partly_handed_over_is_cut_to_what_was_handed_over_when_freed_stock_fills_the_rest(shop):
    shop.stock("s1", "MUG", 2)
    shop.order("s1", "o-1", ("MUG", 2))
    shop.order("s1", "o-2", ("MUG", 3))
    shop.drain()
    po = po_of(shop, "o-2")
    assert shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 1)).status == 202
    shop.drain()
    shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o-1/cancel", {"order_id": "o-1"})
    settled(shop)
    assert shop.get_order("s1", "o-2")["status"] == "ready"
    po = po_of(shop, "o-2")
    assert (po["status"], po["lines"][0]["qty"], po["lines"][0]["received_qty"], po["lines"][0]["cancelled_qty"]) == ("received", 1, 1, 2)
    assert vendor_order(shop, po)["status"] == "handed_over"
    assert stock_view(shop)["open_po_qty"] == 0


def test_pack_size_and_minimum_round_the_po_and_the_next_order_takes_the_surplus_instead_of_a_new_po(shop):
    answer = shop.admin("PUT", "/v1/sellers/s1/skus/MUG", {"vendor_id": "v1", "min_order_qty": 10, "pack_size": 6})
    assert answer.body == {"seller_id": "s1", "sku": "MUG", "vendor_id": "v1", "min_order_qty": 10, "pack_size": 6, "stock_shards": 1}
    assert shop.admin("GET", "/v1/sellers/s1/skus/MUG").body["pack_size"] == 6
    shop.order("s1", "o-1", ("MUG", 5))
    shop.drain()
    po = po_of(shop, "o-1")
    assert (po["lines"][0]["qty"], po["lines"][0]["surplus_qty"]) == (10, 5), "max(10, ceil(5/6)*6)"
    assert vendor_order(shop, po)["lines"][0]["qty"] == 10
    view = stock_view(shop)
    assert (view["quantity_to_purchase"], view["surplus_on_order"]) == (0, 5), "on order for no line: visible"
    shop.order("s1", "o-2", ("MUG", 3))
    settled(shop)
    assert [p["po_id"] for p in shop.purchase_orders("s1")] == [po["po_id"]], "o-2 takes 3 of the 5 on order: no new PO"
    line = shop.get_order("s1", "o-2")["lines"][0]
    assert (line["purchase_order_ids"], line["on_order_qty"], line["pending_qty"]) == ([po["po_id"]], 3, 3)
    po = po_of(shop, "o-1")
    assert ([(a["order_id"], a["qty"]) for a in po["lines"][0]["allocations"]], po["lines"][0]["surplus_qty"]) == (
        [("o-1", 5), ("o-2", 3)], 2
    )
    assert stock_view(shop)["surplus_on_order"] == 2
    shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 10))
    settled(shop)
    assert shop.get_order("s1", "o-1")["status"] == "ready"
    assert shop.get_order("s1", "o-2")["status"] == "ready"
    [alloc] = shop.get_order("s1", "o-2")["lines"][0]["allocations"]
    assert alloc["reason"] == "received_for_order", "its share of the GRN, not stock that happened to be free"
    view = stock_view(shop)
    assert (view["available"], view["open_po_qty"], view["surplus_on_order"]) == (2, 0, 0)


def test_the_surplus_of_a_grn_stays_free_stock_and_its_order_takes_only_its_own_share(shop):
    # 4 arrive for an order waiting for 3: the spare unit goes to free stock while the 3
    # wait, reserved, for their order. That order is not offered the spare unit first.
    shop.admin("PUT", "/v1/sellers/s1/skus/MUG", {"vendor_id": "v1", "pack_size": 2})
    shop.order("s1", "o-1", ("MUG", 3))
    shop.drain()
    po = po_of(shop, "o-1")
    assert shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 4)).status == 202
    # the spare unit's stock change may be handled before the GRN's assignment
    assert ordering.assign_free_stock(Store(), "s1", "MUG") == 0
    settled(shop)
    order = shop.get_order("s1", "o-1")
    assert order["status"] == "ready"
    assert [(a["qty"], a["reason"]) for a in order["lines"][0]["allocations"]] == [(3, "received_for_order")]
    assert stock_view(shop)["available"] == 1


def test_a_sku_mapping_takes_only_positive_whole_terms(shop):
    for terms in ({"min_order_qty": 0}, {"pack_size": -1}, {"pack_size": 1.5}, {"min_order_qty": "2"}):
        assert shop.admin("PUT", "/v1/sellers/s1/skus/MUG", {"vendor_id": "v1", **terms}).status == 400


def test_the_seller_cancels_a_po_whole_and_its_lines_wait_with_the_reason(shop):
    shop.order("s1", "o-1", ("MUG", 3))
    shop.drain()
    po = po_of(shop, "o-1")
    path = f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel"
    first = shop.as_seller("s1", "POST", path, {})
    assert first.status == 200 and first.body["status"] == "cancelled"
    assert shop.as_seller("s1", "POST", path, {}).body == first.body, "again: unchanged"
    settled(shop)
    line = shop.get_order("s1", "o-1")["lines"][0]
    assert (line["pending_qty"], line["no_po_reason"]) == (3, "po_cancelled")
    assert vendor_order(shop, po)["status"] == "cancelled"
    view = stock_view(shop)
    assert (view["open_po_qty"], view["quantity_to_purchase"]) == (0, 3)
    shop.stock("s1", "MUG", 3)
    settled(shop)
    assert shop.get_order("s1", "o-1")["status"] == "ready", "freed stock still reaches the line"


def test_cancelling_part_of_a_po_line_is_idempotent_and_never_goes_below_what_was_handed_over(shop):
    shop.order("s1", "o-1", ("MUG", 5))
    shop.drain()
    po = po_of(shop, "o-1")
    path = f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel"
    cut = shop.as_seller("s1", "POST", path, {"lines": [{"sku": "MUG", "qty": 2}]}).body
    assert (cut["lines"][0]["qty"], cut["lines"][0]["cancelled_qty"]) == (3, 2)
    again = shop.as_seller("s1", "POST", path, {"lines": [{"sku": "MUG", "qty": 2}]}).body
    assert again["lines"][0]["qty"] == 3, "a resend cancels nothing more"
    vo_line = vendor_order(shop, po)["lines"][0]
    assert (vo_line["qty"], vo_line["cancelled_qty"]) == (5, 2), "the vendor sees 5 ordered, 2 of them cancelled"
    shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 2))
    shop.drain()
    rest = shop.as_seller("s1", "POST", path, {}).body
    assert (rest["status"], rest["lines"][0]["qty"], rest["lines"][0]["cancelled_qty"]) == ("received", 2, 3)
    settled(shop)
    order = shop.get_order("s1", "o-1")
    assert (order["lines"][0]["assigned_qty"], order["lines"][0]["pending_qty"], order["lines"][0]["no_po_reason"]) == (2, 3, "po_cancelled")


def test_a_po_cancel_is_refused_for_what_it_does_not_have_and_to_other_accounts(shop):
    shop.seller("s2")
    shop.order("s1", "o-1", ("MUG", 2))
    shop.drain()
    po = po_of(shop, "o-1")
    path = f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel"
    assert shop.as_seller("s1", "POST", path, {"lines": [{"sku": "CUP", "qty": 1}]}).status == 422
    assert shop.as_seller("s1", "POST", path, {"lines": [{"sku": "MUG", "qty": 0}]}).status == 400
    assert shop.as_seller("s2", "POST", path, {}).status == 403
    assert shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders/po-nope/cancel", {}).status == 404
    assert po_of(shop, "o-1")["status"] == "approved"


def test_a_line_filled_from_freed_stock_hands_its_allocation_to_the_oldest_line_waiting_without_one(shop):
    shop.order("s1", "o-1", ("MUG", 2))
    shop.drain()
    po = po_of(shop, "o-1")
    shop.seller("s1", auto_po_vendor_level=False)  # o-2 waits with no PO
    shop.order("s1", "o-2", ("MUG", 2))
    shop.drain()
    assert shop.get_order("s1", "o-2")["lines"][0]["no_po_reason"] == "auto_po_disabled"
    shop.stock("s1", "MUG", 2)  # fills o-1, which waited longest
    settled(shop)
    assert shop.get_order("s1", "o-1")["status"] == "ready"
    line = shop.get_order("s1", "o-2")["lines"][0]
    assert (line["purchase_order_ids"], line["on_order_qty"], line["no_po_reason"]) == ([po["po_id"]], 2, None)
    po = po_of(shop, "o-1")
    assert (po["status"], po["lines"][0]["qty"], [(a["order_id"], a["qty"]) for a in po["lines"][0]["allocations"]]) == (
        "approved", 2, [("o-2", 2)]
    ), "the PO stays: o-2 needs it now"
    shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 2))
    settled(shop)
    assert shop.get_order("s1", "o-2")["status"] == "ready"
    assert stock_view(shop)["open_po_qty"] == 0


def test_what_a_cancelled_order_leaves_on_order_is_taken_by_the_next_shortfall_before_a_new_po(shop):
    shop.seller("s1", auto_grn_through_backorder=False)
    shop.order("s1", "o-1", ("MUG", 5))
    shop.drain()
    po = po_of(shop, "o-1")
    shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 2))  # on its way, not yet inwarded
    shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o-1/cancel", {"order_id": "o-1"})
    settled(shop)
    po = po_of(shop, "o-1")
    assert (po["lines"][0]["qty"], po["lines"][0]["surplus_qty"], po["lines"][0]["allocations"]) == (2, 2, [])
    assert stock_view(shop)["surplus_on_order"] == 2
    shop.order("s1", "o-2", ("MUG", 3))
    settled(shop)
    line = shop.get_order("s1", "o-2")["lines"][0]
    assert line["on_order_qty"] == 3 and line["purchase_order_ids"][0] == po["po_id"]
    [new] = [p for p in shop.purchase_orders("s1") if p["po_id"] != po["po_id"]]
    assert new["lines"][0]["qty"] == 1, "only what the surplus did not cover is bought"
    grn = {"grn_ref": "g1", "lines": [{"sku": "MUG", "qty": 2}]}
    assert shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/grns", grn).status == 201
    settled(shop)
    line = shop.get_order("s1", "o-2")["lines"][0]
    assert (line["assigned_qty"], line["pending_qty"], line["on_order_qty"]) == (2, 1, 1)


def test_a_manual_po_serves_the_lines_waiting_without_one_oldest_first_and_keeps_the_rest(shop):
    shop.seller("s1", auto_po_vendor_level=False)
    shop.order("s1", "o-1", ("MUG", 2))
    shop.order("s1", "o-2", ("MUG", 3))
    shop.drain()
    assert stock_view(shop)["quantity_to_purchase"] == 5
    body = {"po_ref": "PO-77", "vendor_id": "v1", "lines": [{"sku": "MUG", "qty": 4}]}
    answer = shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders", body)
    assert answer.status == 201, answer
    po = answer.body
    assert (po["po_ref"], po["source_order_id"], po["status"], po["vendor_order_status"]) == ("PO-77", None, "approved", "approved")
    assert [(a["order_id"], a["qty"]) for a in po["lines"][0]["allocations"]] == [("o-1", 2), ("o-2", 2)]
    assert (po["lines"][0]["surplus_qty"], po["order_ids"]) == (0, ["o-1", "o-2"])
    first, second = (shop.get_order("s1", o)["lines"][0] for o in ("o-1", "o-2"))
    assert (first["on_order_qty"], first["no_po_reason"]) == (2, None)
    assert (second["on_order_qty"], second["no_po_reason"]) == (2, "auto_po_disabled"), "1 still waits with no PO"
    assert stock_view(shop)["quantity_to_purchase"] == 1
    again = shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders", body)
    assert (again.status, again.body["po_id"]) == (200, po["po_id"]), "the same reference again: nothing new"
    other = shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders", {**body, "lines": [{"sku": "MUG", "qty": 9}]})
    assert (other.status, other.error["code"]) == (409, "po_ref_conflict")
    assert len(shop.purchase_orders("s1")) == 1 and len(shop.vendor_orders("v1")) == 1
    shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 4))
    settled(shop)
    assert shop.get_order("s1", "o-1")["status"] == "ready"
    assert [l["assigned_qty"] for l in shop.get_order("s1", "o-2")["lines"]] == [2]


def test_a_manual_po_beyond_what_waits_keeps_its_surplus_for_later_shortfalls(shop):
    body = {"po_ref": "stock-up", "vendor_id": "v1", "lines": [{"sku": "MUG", "qty": 6}]}
    assert shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders", body).status == 201
    assert stock_view(shop)["surplus_on_order"] == 6
    shop.order("s1", "o-1", ("MUG", 2))
    settled(shop)
    [po] = shop.purchase_orders("s1")
    assert ([(a["order_id"], a["qty"]) for a in po["lines"][0]["allocations"]], po["lines"][0]["surplus_qty"]) == ([("o-1", 2)], 4)
    shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o-1/cancel", {"order_id": "o-1"})
    settled(shop)
    [po] = shop.purchase_orders("s1")
    assert (po["lines"][0]["qty"], po["lines"][0]["surplus_qty"]) == (6, 6), "bought by hand: never cut for the seller"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"po_ref": "x", "vendor_id": "nobody", "lines": [{"sku": "MUG", "qty": 1}]}, 404, "not_found"),
        ({"po_ref": "x", "vendor_id": "v1", "lines": []}, 400, None),
        ({"po_ref": "x", "vendor_id": "v1", "lines": [{"sku": "MUG", "qty": 1}, {"sku": "MUG", "qty": 2}]}, 400, None),
        ({"po_ref": "x.y", "vendor_id": "v1", "lines": [{"sku": "MUG", "qty": 1}]}, 400, None),
    ],
)
def test_a_manual_po_that_cannot_be_raised_names_why_and_writes_nothing(shop, body, status, code):
    answer = shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders", body)
    assert answer.status == status, answer
    if code:
        assert answer.error["code"] == code
    assert shop.purchase_orders("s1") == []


def test_a_manual_po_to_a_vendor_that_cannot_get_pos_is_refused(shop):
    shop.vendor("v2", is_b2b_new=False)
    body = {"po_ref": "x", "vendor_id": "v2", "lines": [{"sku": "MUG", "qty": 1}]}
    answer = shop.as_seller("s1", "POST", "/v1/sellers/s1/purchase-orders", body)
    assert (answer.status, answer.error["code"]) == (422, "vendor_not_eligible")
    assert shop.purchase_orders("s1") == []


def shared_po(shop) -> dict:
    """o-1 needs 5 and its PO asks for 10 (packs of 10); o-2 then takes 3 of the surplus."""
    shop.admin("PUT", "/v1/sellers/s1/skus/MUG", {"vendor_id": "v1", "pack_size": 10})
    shop.order("s1", "o-1", ("MUG", 5))
    shop.drain()
    shop.order("s1", "o-2", ("MUG", 3))
    settled(shop)
    [po] = shop.purchase_orders("s1")
    assert ([(a["order_id"], a["qty"]) for a in po["lines"][0]["allocations"]], po["lines"][0]["surplus_qty"]) == (
        [("o-1", 5), ("o-2", 3)], 2
    )
    assert po["order_ids"] == ["o-1", "o-2"], "raised for o-1, serves o-2 too"
    return po


def test_a_po_cancelled_in_part_gives_up_its_surplus_first_then_the_newest_allocation(shop):
    po = shared_po(shop)
    cut = {"lines": [{"sku": "MUG", "qty": 4}]}
    answer = shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", cut)
    assert answer.status == 200, answer
    line = answer.body["lines"][0]
    assert (line["qty"], line["cancelled_qty"], line["surplus_qty"]) == (6, 4, 0)
    assert [(a["order_id"], a["qty"]) for a in line["allocations"]] == [("o-1", 5), ("o-2", 1)]
    settled(shop)
    first, second = (shop.get_order("s1", o)["lines"][0] for o in ("o-1", "o-2"))
    assert (first["on_order_qty"], first["no_po_reason"]) == (5, None)
    assert (second["on_order_qty"], second["pending_qty"], second["no_po_reason"]) == (1, 3, "po_cancelled")
    assert vendor_order(shop, po)["lines"][0]["cancelled_qty"] == 4
    assert shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", cut).body["lines"][0]["qty"] == 6


def test_a_vendor_declining_a_shared_po_leaves_every_order_it_served_waiting_with_the_reason(shop):
    po = shared_po(shop)
    answer = shop.as_vendor("v1", "POST", f"/v1/vendors/v1/orders/{po['vendor_order_id']}/decline", {"reason": "discontinued"})
    assert answer.status == 200, answer
    settled(shop)
    for order_id in ("o-1", "o-2"):
        line = shop.get_order("s1", order_id)["lines"][0]
        assert (line["on_order_qty"], line["no_po_reason"]) == (0, "vendor_declined"), order_id
    assert stock_view(shop)["quantity_to_purchase"] == 8
