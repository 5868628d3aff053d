"""The services on in-memory tables: each stage called as its handler would, no AWS.

The same steps also run on moto once, and every table is compared, so the fake is held
to what DynamoDB (as moto plays it) does.
"""

from __future__ import annotations

import pytest
from moto import mock_aws

from backorders import topology
from backorders.adapters import dynamo
from backorders.adapters.store import Store
from backorders.domain.errors import RetryableConflict
from backorders.domain.models import AdjustmentIn, Grn, HandoverIn, OrderIn, SellerIn, SkuMappingIn, VendorIn
from backorders.services import accounts, inventory, ordering, purchasing
from backorders_local import provision
from tests.invariants import without_volatile
from tests.memory_tables import MemoryTables

SELLER = SellerIn(name="Mugs & Co", allow_backorders=True, auto_po_vendor_level=True, auto_grn_through_backorder=True)
VENDOR = VendorIn(name="Clay Works", is_b2b_new=True, vendor_panel_type=2, is_warehouse_location=False, approval_required=False)


@pytest.fixture
def store() -> Store:
    return Store(tables=MemoryTables())


def shop(store: Store, in_stock: int = 3) -> None:
    accounts.put_seller(store, "s1", SELLER)
    accounts.put_vendor(store, "v1", VENDOR)
    accounts.map_sku(store, "s1", "MUG", SkuMappingIn(vendor_id="v1"))
    accounts.adjust_inventory(store, "s1", AdjustmentIn(adjustment_id="a1", sku="MUG", qty=in_stock))


def order(store: Store, order_id: str, qty: int) -> list:
    """The webhook, then the orders stream's stage, then the rule's: what was announced."""
    seller = accounts.existing_seller(store, "s1")
    ordering.receive_order(store, seller, OrderIn.model_validate({"order_id": order_id, "lines": [{"line_id": "l1", "sku": "MUG", "qty": qty}]}))
    announced: list = []
    ordering.assign_new_order(store, "s1", order_id, announced.append)
    for event in announced:
        purchasing.raise_purchase_orders(store, event.seller_id, event.order_id)
    return announced


def hand_over(store: Store, handover_id: str, qty: int) -> None:
    """The vendor's handover (with its auto GRN), then the purchasing stream's stage if it has one."""
    (vendor_order,) = store.vendor_orders_page("v1", 100, None)[0]
    body = HandoverIn.model_validate({"handover_id": handover_id, "lines": [{"sku": "MUG", "qty": qty}]})
    _, answer, _ = purchasing.hand_over(store, "v1", vendor_order.vendor_order_id, body)
    assert answer["grn_id"]
    grn = store.grn("s1", answer["grn_id"])  # None: given to its order in the handover's own transaction
    if grn is not None and not grn.given_on_receipt:
        ordering.assign_goods_received(store, grn)


def seed_scenario(store: Store) -> None:
    shop(store)
    order(store, "o1", 5)
    hand_over(store, "h1", 1)
    hand_over(store, "h2", 1)


def test_the_seed_scenario_on_memory_tables(store):
    shop(store)
    announced = order(store, "o1", 5)
    assert [e.order_id for e in announced] == ["o1"]
    (po,) = store.purchase_orders_page("s1", 100, None)[0]
    assert [(line.sku, line.qty) for line in po.lines] == [("MUG", 2)], "a PO for the missing quantity only"
    assert inventory.stock_view(store, "s1", "MUG") | {"bins": None} == {
        "sku": "MUG", "on_hand": 3, "assigned": 3, "available": 0, "pending_backorders": 2,
        "open_po_qty": 2, "expected_returns": 0, "quantity_to_purchase": 0, "surplus_on_order": 0, "bins": None,
    }
    hand_over(store, "h1", 1)
    assert store.order("s1", "o1").status == "backordered"
    hand_over(store, "h2", 1)
    assert store.order("s1", "o1").status == "ready"
    view = inventory.stock_view(store, "s1", "MUG")
    assert (view["on_hand"], view["assigned"], view["pending_backorders"], view["open_po_qty"]) == (5, 5, 0, 0)


def test_a_redelivered_stage_changes_nothing(store):
    seed_scenario(store)
    before = {t: store.tables.items(t) for t in store.tables.tables}
    order_ = store.order("s1", "o1")
    ordering.assign_new_order(store, "s1", "o1", pytest.fail)
    purchasing.raise_purchase_orders(store, "s1", "o1")
    (po,) = store.purchase_orders_page("s1", 100, None)[0]
    for grn_id in order_.applied_grns:
        grn = store.grn("s1", grn_id) or Grn.kept_on(po, grn_id)
        assert grn is not None
        ordering.assign_goods_received(store, grn)
    for handover_id in ("h1", "h2"):
        body = HandoverIn.model_validate({"handover_id": handover_id, "lines": [{"sku": "MUG", "qty": 1}]})
        assert purchasing.hand_over(store, "v1", po.vendor_order_id, body)[0] == 202
    assert {t: store.tables.items(t) for t in store.tables.tables} == before


def test_a_cancelled_order_frees_its_stock_for_the_next_waiting_one(store):
    shop(store, in_stock=3)
    order(store, "o1", 3)
    order(store, "o2", 2)
    assert store.order("s1", "o2").status == "backordered"
    ordering.cancel_order(store, "s1", "o1")
    ordering.assign_free_stock(store, "s1", "MUG")
    assert store.order("s1", "o2").status == "ready"
    assert inventory.stock_view(store, "s1", "MUG")["available"] == 1


def test_stock_is_never_oversold_by_a_write_that_read_too_early(store):
    shop(store, in_stock=1)
    stale = store.bins("s1", "MUG")
    order(store, "o1", 1)
    (bin_,) = stale
    take = store.change_bin("s1", "MUG", bin_.location, bin_.bin, available=-1, need_available=1)
    with pytest.raises(dynamo.WriteRefused):
        store.commit([take])
    assert inventory.stock_view(store, "s1", "MUG")["available"] == 0


def test_a_version_conflict_is_retryable(store):
    seed_scenario(store)
    order_, version = store.order_version("s1", "o1")
    store.commit([store.update_order(order_, version)])
    with pytest.raises(RetryableConflict):
        store.commit([store.update_order(order_, version)])


def _comparable(items: list[dict]) -> list[dict]:
    return [without_volatile(item) for item in items]


def test_memory_tables_write_what_dynamodb_writes():
    memory = Store(tables=MemoryTables())
    seed_scenario(memory)
    ordering.cancel_order(memory, "s1", "o1")
    with mock_aws():
        import boto3

        dynamo.client.cache_clear()
        client = boto3.client("dynamodb")
        provision.provision(boto3)  # the tables (and their indexes) as the runtime makes them
        real = Store()
        seed_scenario(real)
        ordering.cancel_order(real, "s1", "o1")
        for t in topology.TABLES:
            on_dynamo = sorted((dynamo.from_item(i) for i in client.scan(TableName=t.name)["Items"]), key=lambda i: (i["pk"], i["sk"]))
            assert _comparable(memory.tables.items(t.name)) == _comparable(on_dynamo), t.name
    dynamo.client.cache_clear()
