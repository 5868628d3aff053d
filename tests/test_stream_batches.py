"""A batch of stream records reads what its records share once (the bins of a SKU, the
orders a batch of GRNs has goods for), and still never assigns stock that is gone."""

from __future__ import annotations

from collections import Counter

import pytest

from backorders.adapters import dynamo
from backorders.adapters.store import BinsSeen, Store
from backorders.domain.models import StockBin
from backorders.services import ordering
from tests import invariants
from tests.chain import Chain, receipts_given_later


@pytest.fixture
def calls(chain: Chain):
    """DynamoDB calls the domain makes, by operation."""
    made: Counter = Counter()

    def count(model, **_):
        made[model.name] += 1

    dynamo.client().meta.events.register("before-call.dynamodb", count)
    yield made
    dynamo.client().meta.events.unregister("before-call.dynamodb", count)


@pytest.fixture
def shop(chain: Chain) -> Chain:
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "MUG", "v1")
    return chain


def test_orders_for_one_sku_arriving_in_one_batch_query_its_bins_once_and_share_the_stock_as_one_by_one(shop, calls):
    for i in range(4):  # short when they come (an order all in stock is assigned as it comes)
        assert shop.order("s1", f"o-{i}", ("MUG", 2)).status == 201
    shop.stock("s1", "MUG", 3)  # and stock comes before the stream is read
    [on_order_created] = [p for p in shop.stream_pumps if p.function.name == "on_order_created"]
    calls.clear()
    assert on_order_created.pump() == 4, "the four new orders come in one batch"
    # o-0 takes 2 of the 3 (its SKU is read again), o-1 the last 1, then nothing is left to
    # read again; and once after the batch, for stock that came as the lines joined the queue
    assert calls["Query"] == 4
    shop.drain()
    invariants.check()
    invariants.check_settled()
    assigned = [shop.get_order("s1", f"o-{i}")["lines"][0]["assigned_qty"] for i in range(4)]
    assert assigned == [2, 1, 0, 0]


def test_bins_read_before_another_order_took_the_stock_are_read_again_and_nothing_is_oversold(shop):
    shop.stock("s1", "MUG", 3)
    shop.order("s1", "o-1", ("MUG", 3))
    shop.drain()
    shop.order("s1", "o-2", ("MUG", 2))
    store = Store()
    seen = BinsSeen(store)
    # what a record earlier in the batch saw, before o-1 took all 3
    seen.of("s1")._read["MUG"] = [StockBin(seller_id="s1", sku="MUG", location="main", bin="default", available=3)]
    order, assigned = ordering.assign_new_order(store, "s1", "o-2", lambda _: None, bins=seen)
    assert assigned and order is not None
    assert (order.status, order.lines[0].assigned_qty, order.lines[0].pending_qty) == ("backordered", 0, 2)
    shop.drain()
    invariants.check()
    invariants.check_settled()


def test_grns_for_one_order_in_one_batch_read_it_once_and_each_gives_its_goods(shop, calls):
    shop.order("s1", "o-1", ("MUG", 4))
    shop.drain()
    [po] = shop.purchase_orders("s1")
    with receipts_given_later():  # as GRNs with goods for many orders are
        assert shop.hand_over("v1", po["vendor_order_id"], "h1", ("MUG", 1)).status == 202
        assert shop.hand_over("v1", po["vendor_order_id"], "h2", ("MUG", 3)).status == 202
    [on_goods_received] = [p for p in shop.stream_pumps if p.function.name == "on_goods_received"]
    calls.clear()
    assert on_goods_received.pump() == 2, "both GRNs come in one batch"
    assert (calls["BatchGetItem"], calls["GetItem"]) == (1, 1), "the order is read for the batch, then again after the first GRN wrote it"
    shop.drain()
    invariants.check()
    invariants.check_settled()
    assert shop.get_order("s1", "o-1")["status"] == "ready"
