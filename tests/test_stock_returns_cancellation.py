"""The stock view and quantity to purchase, returns, manual GRNs, free stock going to
the orders waiting longest, and cancellation at every stage. The conservation rules
are checked after every step."""

import pytest

from tests import invariants
from tests.chain import receipts_given_later


def stock(chain, sku="A", seller="s1"):
    answer = chain.as_seller(seller, "GET", f"/v1/sellers/{seller}/skus/{sku}/stock")
    assert answer.status == 200, answer
    figures = answer.body
    expected_qtp = max(
        0, figures["pending_backorders"] - figures["available"] - figures["open_po_qty"] - figures["expected_returns"]
    )
    assert figures["quantity_to_purchase"] == expected_qtp
    assert figures["on_hand"] == figures["available"] + figures["assigned"]
    return {k: figures[k] for k in ("on_hand", "assigned", "available", "pending_backorders", "open_po_qty", "expected_returns", "quantity_to_purchase")}


def step(chain):
    chain.drain()
    invariants.check()


def ret(chain, return_id, qty, status, sku="A"):
    body = {"return_id": return_id, "sku": sku, "qty": qty, "status": status}
    return chain.signed("s1", "/v1/sellers/s1/returns", body)


def cancel(chain, order_id):
    """A signed cancellation, naming its order."""
    return chain.signed("s1", f"/v1/sellers/s1/orders/{order_id}/cancel", {"order_id": order_id})


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    return chain


def lines(chain, order_id):
    return [(l["assigned_qty"], l["pending_qty"], l["cancelled_qty"]) for l in chain.get_order("s1", order_id)["lines"]]


class TestStockView:
    def test_the_figures_follow_the_seed_scenario(self, shop):
        shop.stock("s1", "A", 3)
        assert stock(shop) == {
            "on_hand": 3, "assigned": 0, "available": 3, "pending_backorders": 0,
            "open_po_qty": 0, "expected_returns": 0, "quantity_to_purchase": 0,
        }
        shop.order("s1", "o1", ("A", 5))
        step(shop)
        assert stock(shop) == {
            "on_hand": 3, "assigned": 3, "available": 0, "pending_backorders": 2,
            "open_po_qty": 2, "expected_returns": 0, "quantity_to_purchase": 0,
        }
        [vo] = shop.vendor_orders("v1")
        shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
        step(shop)
        assert stock(shop) == {
            "on_hand": 4, "assigned": 4, "available": 0, "pending_backorders": 1,
            "open_po_qty": 1, "expected_returns": 0, "quantity_to_purchase": 0,
        }
        shop.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 1))
        step(shop)
        assert stock(shop) == {
            "on_hand": 5, "assigned": 5, "available": 0, "pending_backorders": 0,
            "open_po_qty": 0, "expected_returns": 0, "quantity_to_purchase": 0,
        }

    def test_what_no_po_covers_is_the_quantity_to_purchase(self, shop):
        shop.order("s1", "o1", ("B", 4))  # B is not mapped: no PO
        step(shop)
        assert stock(shop, "B")["quantity_to_purchase"] == 4
        assert ret(shop, "r1", 1, "expected", sku="B").status == 201
        assert stock(shop, "B")["quantity_to_purchase"] == 3

    def test_an_unknown_sku_is_a_404_not_zeros(self, shop):
        answer = shop.as_seller("s1", "GET", "/v1/sellers/s1/skus/NEW/stock")
        assert answer.status == 404 and answer.error["code"] == "sku_unknown"


class TestFreeStockForAQueueLongerThanOneRead:
    def test_a_new_waiting_line_with_nothing_free_reads_the_queue_head_only_and_freed_stock_still_goes_oldest_first(self, chain, monkeypatch):
        from backorders.adapters.store import Store
        from backorders.services import ordering

        chain.seller("s1")
        waiting = ordering.STOCK_HEAD + 5  # a queue longer than the part read first
        for i in range(waiting):
            chain.order("s1", f"o{i:02d}", ("A", 1))  # not mapped: they wait
        step(chain)
        whole_reads = []
        full = Store.stock_partition
        monkeypatch.setattr(Store, "stock_partition", lambda self, *a: whole_reads.append(a) or full(self, *a))

        # each new waiting line asks for free stock; with none, the queue is not read whole
        chain.order("s1", "o99", ("A", 1))
        step(chain)
        assert whole_reads == [] and stock(chain)["pending_backorders"] == waiting + 1

        # stock for all but the newest two: the oldest orders get it, one unit each
        assert ret(chain, "r1", waiting - 1, "received").status == 201
        step(chain)
        ready = [o for o in [f"o{i:02d}" for i in range(waiting)] + ["o99"] if chain.get_order("s1", o)["status"] == "ready"]
        assert ready == [f"o{i:02d}" for i in range(waiting - 1)]
        assert stock(chain)["available"] == 0


class TestReturns:
    def test_an_expected_return_then_received_adds_stock_for_the_waiting_order(self, chain):
        chain.seller("s1")
        chain.order("s1", "o1", ("A", 2))  # not mapped: waits
        step(chain)
        assert ret(chain, "r1", 2, "expected").status == 201
        assert stock(chain)["expected_returns"] == 2 and stock(chain)["quantity_to_purchase"] == 0
        assert ret(chain, "r1", 2, "expected").status == 200  # again: nothing new
        assert ret(chain, "r1", 2, "received").status == 201
        step(chain)
        assert stock(chain) == {
            "on_hand": 2, "assigned": 2, "available": 0, "pending_backorders": 0,
            "open_po_qty": 0, "expected_returns": 0, "quantity_to_purchase": 0,
        }
        order = chain.get_order("s1", "o1")
        assert order["status"] == "ready"
        assert order["lines"][0]["allocations"][0]["reason"] == "freed_stock_oldest_first"
        assert ret(chain, "r1", 2, "received").status == 200
        assert ret(chain, "r1", 2, "expected").status == 409
        assert ret(chain, "r1", 3, "received").status == 409
        step(chain)
        assert stock(chain)["on_hand"] == 2

    def test_returns_are_signed_and_validated(self, chain):
        chain.seller("s1")
        answer = chain.call("POST", "/v1/sellers/s1/returns", {"return_id": "r", "sku": "A", "qty": 1, "status": "received"})
        assert answer.status == 401
        assert ret(chain, "r1", 1, "lost").status == 400
        assert ret(chain, "r1", 0, "received").status == 400
        assert chain.as_seller("s1", "GET", "/v1/sellers/s1/skus/A/stock").status == 404, "nothing was recorded for A"


class TestFreeStock:
    def test_stock_that_arrives_goes_to_the_orders_waiting_longest(self, chain):
        chain.seller("s1")
        chain.order("s1", "o1", ("A", 2))
        chain.order("s1", "o2", ("A", 2))
        step(chain)
        chain.stock("s1", "A", 3)
        step(chain)
        assert lines(chain, "o1") == [(2, 0, 0)] and lines(chain, "o2") == [(1, 1, 0)]
        assert chain.get_order("s1", "o1")["status"] == "ready"

    def test_a_later_order_takes_the_surplus_of_an_open_po_and_its_grn_gives_it_its_share(self, shop):
        # the vendor sells A in pairs: o1's PO asks for 2 where o1 needs 1
        shop.admin("PUT", "/v1/sellers/s1/skus/A", {"vendor_id": "v1", "pack_size": 2})
        shop.order("s1", "o1", ("A", 1))
        step(shop)
        shop.order("s1", "o2", ("B", 1))
        shop.order("s1", "o3", ("A", 1))  # takes the unit on order beyond o1's need
        step(shop)
        [po1] = [po for po in shop.purchase_orders("s1") if po["lines"][0]["sku"] == "A"]
        assert (po1["lines"][0]["qty"], po1["lines"][0]["surplus_qty"]) == (2, 0)
        shop.hand_over("v1", po1["vendor_order_id"], "h1", ("A", 2))
        step(shop)
        assert lines(shop, "o1") == [(1, 0, 0)]
        assert lines(shop, "o3") == [(1, 0, 0)]
        [alloc] = shop.get_order("s1", "o3")["lines"][0]["allocations"]
        assert alloc["reason"] == "received_for_order"


class TestManualGrn:
    @pytest.fixture
    def manual(self, chain):
        chain.seller("s1", auto_grn_through_backorder=False)
        chain.vendor("v1")
        chain.map_sku("s1", "A", "v1")
        chain.order("s1", "o1", ("A", 3))
        step(chain)
        [po] = chain.purchase_orders("s1")
        return chain, po

    def grn(self, chain, po, ref, qty):
        body = {"grn_ref": ref, "lines": [{"sku": "A", "qty": qty}]}
        return chain.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/grns", body)

    def test_free_stock_that_waited_for_a_grn_to_be_given_out_is_offered_once_it_is(self, manual):
        from backorders.adapters.store import Store
        from backorders_local import pumps

        chain, po = manual
        [vo] = chain.vendor_orders("v1")
        chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 3))
        step(chain)
        # 1 received for o1 (reserved in the Default Bin until given to it), and 2 free
        # units in another bin, offered while the received one is still reserved
        with receipts_given_later():
            assert self.grn(chain, po, "GRN-1", 1).status == 201
        assert chain.stock("s1", "A", 2, location="loc2", bin="b1").status == 201
        pumps.drain([p for p in chain.pumps if p.function.name != "on_goods_received"])
        assert lines(chain, "o1") == [(0, 3, 0)]  # free stock waits for the received unit

        step(chain)

        # the received unit is given, then the free ones: nothing left waiting beside stock
        assert lines(chain, "o1") == [(3, 0, 0)]
        assert chain.get_order("s1", "o1")["status"] == "ready"
        # and the mark that made the Default Bin's last write offer them is gone (the bin's
        # later writes do not wake the offer)
        assert not any(b.offer_when_received for b in Store().bins("s1", "A"))

    def test_a_manual_grn_inwards_and_assigns_like_an_automatic_one(self, manual):
        chain, po = manual
        [vo] = chain.vendor_orders("v1")
        chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 3))
        step(chain)
        assert lines(chain, "o1") == [(0, 3, 0)]  # handed over, not inwarded yet
        first = self.grn(chain, po, "GRN-1", 2)
        assert first.status == 201 and (first.body["location"], first.body["bin"]) == ("main", "default")
        assert self.grn(chain, po, "GRN-1", 2).status == 200
        assert self.grn(chain, po, "GRN-1", 1).status == 409
        step(chain)
        assert lines(chain, "o1") == [(2, 1, 0)]
        refused = self.grn(chain, po, "GRN-2", 2)
        assert refused.status == 422 and refused.error["code"] == "receipt_exceeds_ordered_quantity"
        assert self.grn(chain, po, "GRN-3", 1).status == 201
        step(chain)
        assert chain.get_order("s1", "o1")["status"] == "ready"
        po = chain.as_seller("s1", "GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}").body
        assert po["status"] == "received" and len(po["grns"]) == 2

    def test_sellers_with_auto_grn_cannot_add_manual_ones(self, shop):
        shop.order("s1", "o1", ("A", 1))
        step(shop)
        [po] = shop.purchase_orders("s1")
        answer = self.grn(shop, po, "GRN-1", 1)
        assert answer.status == 422 and answer.error["code"] == "auto_grn_enabled"

    def test_goods_handed_over_while_auto_grn_was_off_can_be_inwarded_after_it_is_turned_on(self, manual):
        # given 2 of 3 handed over with auto GRN off: recorded, not inwarded
        chain, po = manual
        [vo] = chain.vendor_orders("v1")
        assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2)).body["grn_id"] is None
        step(chain)
        # when the seller turns auto GRN on
        chain.seller("s1", auto_grn_through_backorder=True)
        # then a manual GRN inwards the 2 handed over without a GRN, and not one more
        refused = self.grn(chain, po, "GRN-1", 3)
        assert refused.status == 422 and refused.error["code"] == "auto_grn_enabled"
        assert refused.error["details"] == [{"field": "lines", "sku": "A", "requested": 3, "handed_over_without_grn": 2}]
        assert self.grn(chain, po, "GRN-1", 2).status == 201
        assert self.grn(chain, po, "GRN-1", 2).status == 200  # the same GRN again
        step(chain)
        assert lines(chain, "o1") == [(2, 1, 0)]
        assert self.grn(chain, po, "GRN-2", 1).status == 422  # nothing left handed over without a GRN
        # and the last unit, handed over now, is inwarded automatically, once
        assert chain.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 1)).body["grn_id"]
        step(chain)
        assert chain.get_order("s1", "o1")["status"] == "ready" and lines(chain, "o1") == [(3, 0, 0)]
        po = chain.as_seller("s1", "GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}").body
        assert (po["status"], po["lines"][0]["received_qty"], len(po["grns"])) == ("received", 3, 2)
        assert stock(chain) == {"on_hand": 3, "assigned": 3, "available": 0, "pending_backorders": 0,
                                "open_po_qty": 0, "expected_returns": 0, "quantity_to_purchase": 0}

    def test_a_manual_grn_for_an_unknown_po_is_a_404(self, manual):
        chain, _ = manual
        assert self.grn(chain, {"po_id": "nope"}, "GRN-1", 1).status == 404


class TestCancellation:
    def test_before_the_po_assigned_stock_goes_to_the_next_waiting_order(self, chain):
        chain.seller("s1", auto_po_vendor_level=False)
        chain.stock("s1", "A", 2)
        chain.order("s1", "o1", ("A", 3))
        step(chain)
        chain.order("s1", "o2", ("A", 2))
        step(chain)
        assert lines(chain, "o1") == [(2, 1, 0)] and lines(chain, "o2") == [(0, 2, 0)]
        answer = cancel(chain, "o1")
        assert answer.status == 200 and answer.body["status"] == "cancelled"
        step(chain)
        assert lines(chain, "o1") == [(0, 0, 3)]
        assert lines(chain, "o2") == [(2, 0, 0)]
        assert stock(chain)["pending_backorders"] == 0

    def test_after_the_po_the_po_and_vendor_order_are_cancelled(self, shop):
        shop.order("s1", "o1", ("A", 2))
        step(shop)
        cancel(shop, "o1")
        step(shop)
        [po] = shop.purchase_orders("s1")
        [vo] = shop.vendor_orders("v1")
        assert (po["status"], po["lines"][0]["qty"]) == ("cancelled", 0)
        assert (vo["status"], vo["lines"][0]["qty"], vo["lines"][0]["cancelled_qty"]) == ("cancelled", 2, 2), "the vendor still sees what was ordered"
        assert stock(shop)["open_po_qty"] == 0 and stock(shop)["pending_backorders"] == 0
        refused = shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
        assert refused.status == 422 and refused.error["code"] == "vendor_order_cancelled"

    def test_after_a_partial_handover_the_po_keeps_what_was_handed_over(self, shop):
        shop.order("s1", "o1", ("A", 3))
        shop.order("s1", "o2", ("B", 1))
        step(shop)
        shop.map_sku("s1", "A", None)
        shop.order("s1", "o3", ("A", 1))  # waits, no PO
        step(shop)
        [vo] = list(shop.vendor_orders("v1"))
        shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
        step(shop)
        assert lines(shop, "o1") == [(1, 2, 0)]
        cancel(shop, "o1")
        step(shop)
        po = shop.purchase_orders("s1")[0]
        vo = shop.vendor_orders("v1")[0]
        assert (po["status"], po["lines"][0]["qty"], po["lines"][0]["received_qty"]) == ("received", 1, 1)
        line = vo["lines"][0]
        assert (vo["status"], line["qty"], line["cancelled_qty"], line["handed_over_qty"]) == ("handed_over", 3, 2, 1), "first ordered 3"
        # the unit already received is free stock, and o3 was waiting for it
        assert lines(shop, "o3") == [(1, 0, 0)]
        assert stock(shop) == {
            "on_hand": 1, "assigned": 1, "available": 0, "pending_backorders": 0,
            "open_po_qty": 0, "expected_returns": 0, "quantity_to_purchase": 0,
        }

    def test_after_a_full_handover_everything_received_becomes_free_stock(self, shop):
        shop.order("s1", "o1", ("A", 2))
        step(shop)
        [vo] = shop.vendor_orders("v1")
        shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
        step(shop)
        assert shop.get_order("s1", "o1")["status"] == "ready"
        cancel(shop, "o1")
        step(shop)
        assert stock(shop) == {
            "on_hand": 2, "assigned": 0, "available": 2, "pending_backorders": 0,
            "open_po_qty": 0, "expected_returns": 0, "quantity_to_purchase": 0,
        }
        assert shop.purchase_orders("s1")[0]["status"] == "received"

    def test_goods_received_for_an_order_cancelled_before_they_were_assigned_become_free_stock(self, shop):
        shop.order("s1", "o1", ("A", 2))
        step(shop)
        [vo] = shop.vendor_orders("v1")
        with receipts_given_later():
            shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
        cancel(shop, "o1")  # before the GRN's assignment has run
        step(shop)
        assert lines(shop, "o1") == [(0, 0, 2)]
        assert stock(shop)["available"] == 2

    def test_cancelling_again_changes_nothing_and_needs_a_signature(self, shop):
        shop.order("s1", "o1", ("A", 2))
        step(shop)
        assert cancel(shop, "o1").status == 200
        assert cancel(shop, "o1").status == 200
        step(shop)
        assert shop.call("POST", "/v1/sellers/s1/orders/o1/cancel").status == 401
        assert cancel(shop, "nope").status == 404
