"""A hot SKU: its Default Bin spread over shards (`stock_shards` on the SKU's mapping), so
that orders taking stock at once write different items. The seller still sees one Default
Bin; every unit stays accounted for, per shard (tests.invariants checks each bin's
assigned against the allocations that name it)."""

from __future__ import annotations

import pytest

from backorders.domain import rules
from backorders.domain.models import StockBin
from tests import invariants


def step(chain):
    chain.drain()
    invariants.check()


def shards(chain, sku: str = "A") -> dict[str, dict]:
    """Bin id as stored -> its figures, for the Default Bin's shards."""
    return {b: figures for (location, b), figures in chain.bins("s1", sku).items() if location == "main" and b.startswith("default")}


def available(chain, sku: str = "A") -> dict[str, int]:
    return {b: f["available"] for b, f in sorted(shards(chain, sku).items())}


def map_sku(chain, stock_shards, sku: str = "A"):
    return chain.admin("PUT", f"/v1/sellers/s1/skus/{sku}", {"vendor_id": "v1", "stock_shards": stock_shards})


def stock_view(chain, sku: str = "A") -> dict:
    answer = chain.as_seller("s1", "GET", f"/v1/sellers/s1/skus/{sku}/stock")
    assert answer.status == 200, answer
    return answer.body


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    return chain


def test_setting_shards_spreads_the_stock_and_the_seller_still_sees_one_default_bin(shop):
    shop.stock("s1", "A", 10)

    answer = map_sku(shop, 4)

    assert answer.status == 200 and answer.body["stock_shards"] == 4
    assert available(shop) == {"default": 3, "default~1": 3, "default~2": 2, "default~3": 2}
    view = stock_view(shop)
    assert (view["on_hand"], view["available"]) == (10, 10)
    assert view["bins"] == [{"location": "main", "bin": "default", "available": 10, "assigned": 0, "reserved": 0, "shards": 4}]
    assert shop.admin("GET", "/v1/sellers/s1/skus/A").body["stock_shards"] == 4
    invariants.check()


def test_orders_at_once_take_from_different_shards_and_each_shows_the_default_bin(shop):
    map_sku(shop, 4)
    shop.stock("s1", "A", 40)

    for i in range(20):
        assert shop.order("s1", f"o{i:02d}", ("A", 1)).status == 201
    step(shop)

    # each order started at the shard its id picks: all four gave, none more than 8 (taken
    # in order, the Default Bin would have given 10 and the next shard the other 10)
    taken = {b: f["assigned"] for b, f in shards(shop).items()}
    assert sum(taken.values()) == 20 and sum(available(shop).values()) == 20
    assert len(taken) == 4 and min(taken.values()) >= 2 and max(taken.values()) <= 8, taken
    for i in range(20):
        order = shop.get_order("s1", f"o{i:02d}")
        assert order["status"] == "ready"
        assert [(a["location"], a["bin"]) for a in order["lines"][0]["allocations"]] == [("main", "default")]


def test_a_line_bigger_than_any_shard_takes_from_several_exactly(shop):
    map_sku(shop, 4)
    shop.stock("s1", "A", 8)  # 2 in each shard

    shop.order("s1", "o1", ("A", 7))
    step(shop)

    [line] = shop.get_order("s1", "o1")["lines"]
    assert (line["assigned_qty"], line["pending_qty"]) == (7, 0)
    assert sum(a["qty"] for a in line["allocations"]) == 7
    assert sum(available(shop).values()) == 1


def test_stock_in_spreads_over_the_shards_and_stock_out_draws_on_all_of_them(shop):
    map_sku(shop, 4)
    assert shop.stock("s1", "A", 10, adjustment_id="in-1").status == 201
    assert available(shop) == {"default": 3, "default~1": 3, "default~2": 2, "default~3": 2}
    body = {"return_id": "r1", "sku": "A", "qty": 4, "status": "received"}
    assert shop.signed("s1", "/v1/sellers/s1/returns", body).status == 201
    assert available(shop) == {"default": 4, "default~1": 4, "default~2": 3, "default~3": 3}

    # more than any one shard holds, less than all: taken from several
    assert shop.stock("s1", "A", -13, adjustment_id="out-1").status == 201
    assert sum(available(shop).values()) == 1

    # more than all of them hold: refused, nothing written, the id still free
    refused = shop.stock("s1", "A", -2, adjustment_id="out-2")
    assert refused.status == 422 and refused.error["code"] == "insufficient_stock"
    assert sum(available(shop).values()) == 1
    assert shop.stock("s1", "A", -1, adjustment_id="out-2").status == 201
    assert sum(available(shop).values()) == 0
    invariants.check()


def test_a_cancelled_order_gives_its_stock_back_to_the_shard_it_came_from(shop):
    map_sku(shop, 4)
    shop.stock("s1", "A", 8)
    shop.order("s1", "o1", ("A", 3))
    step(shop)
    before = available(shop)

    answer = shop.signed("s1", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"})

    assert answer.status == 200, answer
    step(shop)  # the per-shard invariant: every bin's assigned matches the allocations naming it
    assert sum(available(shop).values()) == 8
    assert all(available(shop)[b] >= before[b] for b in before)


def test_fewer_shards_gather_the_stock_and_orders_still_find_it(shop):
    map_sku(shop, 4)
    shop.stock("s1", "A", 10)
    shop.order("s1", "o1", ("A", 1))
    step(shop)

    assert map_sku(shop, 1).status == 200

    # the available stock is back in the Default Bin; a shard keeps what is assigned from it
    assert available(shop) == {"default": 9, "default~1": 0, "default~2": 0, "default~3": 0}
    shop.order("s1", "o2", ("A", 9))
    step(shop)
    assert shop.get_order("s1", "o2")["status"] == "ready"
    assert stock_view(shop)["bins"][0]["assigned"] == 10


@pytest.mark.parametrize("bad", [0, 17, -1, "2", 1.5, True, None])
def test_a_shard_count_out_of_range_or_not_a_whole_number_is_refused_by_name(shop, bad):
    shop.stock("s1", "A", 10)

    answer = map_sku(shop, bad)

    assert answer.status == 400, answer
    assert "stock_shards" in str(answer.body)
    assert available(shop) == {"default": 10}


# --- the rules alone --------------------------------------------------------------------


def _bin(name: str, available: int = 5, location: str = "main") -> StockBin:
    return StockBin(location=location, bin=name, available=available)


def test_each_order_starts_at_its_own_shard_and_other_bins_keep_their_order():
    bins = [_bin("A1"), _bin("default~2"), _bin("default"), _bin("default~1"), _bin("default", location="store")]
    starts = {rules.pick_order(bins, f"o{i}")[0].bin for i in range(50)}
    assert starts == {"default", "default~1", "default~2"}
    for i in range(20):
        picked = [(b.location, b.bin) for b in rules.pick_order(bins, f"o{i}")]
        assert sorted(picked[:3]) == [("main", "default"), ("main", "default~1"), ("main", "default~2")]
        assert picked[3:] == [("main", "A1"), ("store", "default")]
        assert rules.pick_order(bins, f"o{i}") == rules.pick_order(bins, f"o{i}")  # the same order, the same start
    assert [b.bin for b in rules.pick_order(bins)] == ["default", "default~1", "default~2", "A1", "default"]


def test_spreading_and_gathering_keep_every_unit():
    assert rules.spread_evenly(10, 4) == [3, 3, 2, 2]
    assert rules.spread_evenly(2, 4) == [1, 1, 0, 0]
    shards = [_bin("default", 7), _bin("default~1", 0), _bin("default~2", 1)]
    moves = rules.rebalance_shards(shards, 2, "default")
    assert moves == {"default": -3, "default~1": 4, "default~2": -1} and sum(moves.values()) == 0
    assert rules.take_from_shards(shards, 8) == {"default": 7, "default~2": 1}
    assert rules.take_from_shards(shards, 9) is None


def test_a_shard_cannot_be_named_as_a_bin(shop):
    map_sku(shop, 4)
    shop.stock("s1", "A", 8)

    answer = shop.stock("s1", "A", -2, adjustment_id="direct", location="main", bin="default~1")

    assert answer.status == 400 and "bin" in str(answer.body)
    assert sum(available(shop).values()) == 8
