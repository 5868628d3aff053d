"""What the simulation found, one minimal reproduction each.

Open bugs are marked xfail(strict): the suite stays green while the bug is there and
turns red (XPASS) once it is fixed, so the marker goes with the fix. Fixed ones stay
as regression tests.
"""

from __future__ import annotations

from unittest import mock

from moto.dynamodb.models import DynamoDBBackend

from backorders.adapters import dynamo
from backorders_local import moto_fixes
from tests import invariants

# --- fixed --------------------------------------------------------------------------------


def test_stock_added_after_a_refused_adjustment_reaches_the_waiting_order(chain):
    """moto 5.2 rolled a refused TransactWriteItems back by swapping in a deep copy of the
    table, orphaning every open stream iterator: the pump then saw a phantom record for
    the refused write and never a later one. Fixed by backorders_local.moto_fixes."""
    assert DynamoDBBackend.transact_write_items is moto_fixes._transact_write_items
    chain.seller("s1")
    chain.order("s1", "o1", ("A", 2))  # A is not mapped: the order waits for stock
    chain.drain()
    refused = chain.stock("s1", "A", -1, adjustment_id="too-much")  # a refused transaction
    assert refused.status == 422
    chain.stock("s1", "A", 2, adjustment_id="delivery")
    chain.drain()
    assert chain.get_order("s1", "o1")["status"] == "ready"


def test_stock_arriving_while_a_new_order_is_assigned_is_not_left_beside_it(chain):
    """A race: the new order read the bins, found too little, and joined the queue of
    waiting lines after the arriving stock had already been offered to that queue. Fixed
    by assign_new_order looking at the bins again once the order has joined the queue."""
    chain.seller("s1")
    chain.order("s1", "o1", ("A", 2))  # A is not mapped: o1 will wait for stock
    on_order_created = next(p for p in chain.pumps if p.function.name == "on_order_created")
    on_stock_changed = next(p for p in chain.pumps if p.function.name == "on_stock_changed")
    client = dynamo.client()
    write = client.transact_write_items

    def meanwhile(**kwargs):
        # on_order_created has read the bins (nothing available) and is about to queue o1;
        # concurrently, stock arrives and is offered to the waiting lines (none yet)
        if not meanwhile.done:
            meanwhile.done = True
            assert chain.stock("s1", "A", 2).status == 201
            on_stock_changed.pump()
        return write(**kwargs)

    meanwhile.done = False
    with mock.patch.object(client, "transact_write_items", meanwhile):
        on_order_created.pump()
    chain.drain()
    invariants.check()  # conservation holds ...
    assert chain.get_order("s1", "o1")["status"] == "ready"  # ... but o1 waits beside 2 available


def test_freed_stock_cuts_a_po_by_what_its_goods_received_will_still_give(chain):
    """Goods received against a PO reach its order's lines one step after the GRN. Stock
    freed in between used to cut the PO as if nothing had been received, leaving 3 on
    order that no line waits for."""
    chain.seller("s1", auto_grn_through_backorder=False)
    chain.vendor("v1", approval_required=True)
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 6))
    chain.drain()
    (po,) = chain.purchase_orders("s1")
    returned = chain.admin("POST", "/v1/sellers/s1/returns", {"return_id": "r1", "sku": "A", "qty": 3, "status": "received"})
    assert returned.status == 201, returned
    grn = chain.admin("POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/grns", {"grn_ref": "G1", "lines": [{"sku": "A", "qty": 3}]})
    assert grn.status == 201, grn
    on_stock_changed = next(p for p in chain.pumps if p.function.name == "on_stock_changed")
    on_stock_changed.pump()  # the freed stock first, the GRN's goods after
    chain.drain()
    assert chain.get_order("s1", "o1")["status"] == "ready"
    (po,) = chain.purchase_orders("s1")
    assert po["lines"][0] | {"qty": 3, "received_qty": 3, "cancelled_qty": 3, "surplus_qty": 0} == po["lines"][0]
    invariants.check_settled()
