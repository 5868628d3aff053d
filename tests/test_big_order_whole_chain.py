"""A 500-line order, one line drawing on 150 bins, from the webhook to ready: in a file of
its own, so that the test run gives it a worker of its own."""

from __future__ import annotations

from backorders.domain import rules
from tests import invariants
from tests.test_big_orders import HOT_BINS, big_order, hand_over_everything, stocked


def test_a_500_line_order_from_150_bins_goes_through_the_whole_chain(chain):
    shop = stocked(chain, 500)
    assert big_order(shop, "s1", "big", shop.big_lines).status == 201
    shop.drain()
    order = shop.get_order("s1", "big")
    assert order["status"] == "backordered"
    assert order["lines"][0]["assigned_qty"] == HOT_BINS and len(order["lines"][0]["allocations"]) == HOT_BINS
    pos = shop.purchase_orders("s1")
    assert all(len(po["lines"]) <= rules.MAX_PO_SKUS for po in pos)
    assert sum(l["qty"] for po in pos for l in po["lines"]) == sum(l["pending_qty"] for l in order["lines"])
    assert len({po["po_id"] for po in pos}) == len(pos) >= 2 * -(-499 // 2 // rules.MAX_PO_SKUS)
    invariants.check()

    assert hand_over_everything(shop, "v1") + hand_over_everything(shop, "v2") == len(pos)
    shop.drain()
    order = shop.get_order("s1", "big")
    assert order["status"] == "ready"
    assert all(l["pending_qty"] == 0 and l["assigned_qty"] == l["qty"] for l in order["lines"])
    invariants.check()
    invariants.check_settled()
