"""Orders of up to 500 lines, with stock spread over 150 bins, settle, are handed over,
received and cancelled: no step ever writes more than DynamoDB's 100 items in one
transaction (dynamo.transact refuses to send one, as DynamoDB would).

The whole chain runs with the API's 500 lines. The other tests use 160 lines by default,
which already needs several steps at every stage (a line drawing on 150 bins, several POs
per vendor, a GRN for 160 lines); BACKORDERS_BIG_ORDER_LINES=500 runs them at the limit too
(about 4 min on 2 cores)."""

from __future__ import annotations

import json
import os

import boto3
import pytest

from backorders import topology
from backorders.adapters import dynamo
from backorders.domain import rules
from tests import invariants

HOT_BINS = 150
LINES = int(os.environ.get("BACKORDERS_BIG_ORDER_LINES", "160"))


def snapshot() -> dict[str, list]:
    client = boto3.client("dynamodb")
    return {t.name: sorted(json.dumps(i, sort_keys=True) for i in client.scan(TableName=t.name)["Items"]) for t in topology.TABLES}


def big_order(chain, seller_id: str, order_id: str, lines: list[tuple[str, int]]):
    body = {"order_id": order_id, "lines": [{"line_id": f"L{i}", "sku": sku, "qty": qty} for i, (sku, qty) in enumerate(lines)]}
    return chain.signed(seller_id, f"/v1/sellers/{seller_id}/orders", body)


def spread_stock(chain, seller_id: str, sku: str, bins: int, each: int = 1) -> None:
    for b in range(bins):
        answer = chain.stock(seller_id, sku, each, adjustment_id=f"adj-{sku}-{b}", location="main", bin=f"b{b:03d}")
        assert answer.status == 201, answer


def hand_over_everything(chain, vendor_id: str) -> int:
    handed = 0
    for vo in chain.vendor_orders(vendor_id):
        open_ = [(l["sku"], l["qty"] - l["cancelled_qty"] - l["handed_over_qty"]) for l in vo["lines"]]
        lines = [(sku, qty) for sku, qty in open_ if qty > 0]
        if lines:
            assert len(lines) <= rules.MAX_PO_SKUS
            answer = chain.hand_over(vendor_id, vo["vendor_order_id"], f"h-{vo['vendor_order_id']}", *lines)
            assert answer.status == 202, answer
            handed += 1
    return handed


def stocked(chain, lines_in_order: int):
    chain.seller("s1")
    chain.vendor("v1")
    chain.vendor("v2")
    spread_stock(chain, "s1", "HOT", HOT_BINS)
    # one line drawing on 150 bins, then lines of their own SKU, half per vendor, every
    # fifth one with a unit in stock
    lines = [("HOT", HOT_BINS)]
    for i in range(1, lines_in_order):
        sku = f"S{i:03d}"
        chain.map_sku("s1", sku, "v1" if i % 2 else "v2")
        if i % 5 == 0:
            chain.stock("s1", sku, 1)
        lines.append((sku, 2))
    chain.big_lines = lines
    return chain


@pytest.fixture
def shop(chain):
    return stocked(chain, LINES)


def test_a_big_order_is_cancelled_after_part_was_handed_over(shop):
    big_order(shop, "s1", "big", shop.big_lines)
    shop.drain()
    hand_over_everything(shop, "v1")  # v2 never delivers
    shop.drain()
    answer = shop.signed("s1", "/v1/sellers/s1/orders/big/cancel", {"order_id": "big"})
    assert answer.status == 200 and answer.body["status"] == "cancelled"
    shop.drain()
    order = shop.get_order("s1", "big")
    assert all(l["assigned_qty"] == l["pending_qty"] == 0 for l in order["lines"])
    for po in shop.purchase_orders("s1"):
        if po["vendor_id"] == "v2":
            assert po["status"] == "cancelled"
    # everything that came in is free stock again
    figures = invariants.check()
    assert all(f["assigned"] == 0 for f in figures.values())
    assert shop.signed("s1", "/v1/sellers/s1/orders/big/cancel", {"order_id": "big"}).status == 200


def test_one_grn_for_every_line_of_one_sku_is_given_in_steps(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    assert big_order(chain, "s1", "same", [("A", 1)] * LINES).status == 201
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    assert vo["lines"] == [{"sku": "A", "qty": LINES, "cancelled_qty": 0, "handed_over_qty": 0}]
    assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", LINES)).status == 202
    chain.drain()
    order = chain.get_order("s1", "same")
    assert order["status"] == "ready"
    invariants.check()
    invariants.check_settled()


class TestAllOrNothing:
    """A seller who does not allow backorders: a big order is accepted whole or not at all."""

    @pytest.fixture
    def strict(self, chain):
        chain.seller("s1", allow_backorders=False)
        spread_stock(chain, "s1", "HOT", HOT_BINS)
        for i in range(LINES - 1):
            chain.stock("s1", f"S{i:03d}", 1, location="main", bin=f"x{i % 7}")
        return chain

    def test_a_big_order_in_stock_is_accepted_ready(self, strict):
        lines = [("HOT", HOT_BINS)] + [(f"S{i:03d}", 1) for i in range(LINES - 1)]
        answer = big_order(strict, "s1", "whole", lines)
        assert answer.status == 201 and answer.body["status"] == "ready"
        assert strict.get_order("s1", "whole")["status"] == "ready"
        # sent again: the same order, nothing new
        assert big_order(strict, "s1", "whole", lines).status == 200
        invariants.check()

    def test_stock_taken_half_way_refuses_the_order_and_gives_everything_back(self, strict, monkeypatch):
        # the availability check passes, as if another order took the stock just after it
        monkeypatch.setattr(rules, "availability_warnings", lambda *_: [])
        lines = [("HOT", HOT_BINS)] + [(f"S{i:03d}", 1) for i in range(LINES - 2)] + [("S000", 5)]
        before = snapshot()
        answer = big_order(strict, "s1", "short", lines)
        assert answer.status == 422 and answer.error["code"] == "insufficient_stock"
        after = snapshot()
        assert after["orders"] == before["orders"]
        bins = lambda snap: [json.loads(i) for i in snap["inventory"] if '"STOCK_BIN"' in i]  # noqa: E731
        strip = lambda items: sorted(json.dumps(dict(i.items()), sort_keys=True) for i in items)  # noqa: E731
        assert strip(bins(after)) == strip(bins(before))
        invariants.check()


    @pytest.mark.parametrize("finisher", ["resend", "reconciler"])
    def test_an_acceptance_that_stopped_half_way_is_finished(self, strict, monkeypatch, finisher):
        from backorders.services import ordering
        from tests.test_reconcile import run

        lines = [("HOT", HOT_BINS)] + [(f"S{i:03d}", 1) for i in range(LINES - 1)]
        real = ordering._accept_in_steps
        monkeypatch.setattr(ordering, "_accept_in_steps", lambda *_: (_ for _ in ()).throw(RuntimeError("crash")))
        with pytest.raises(RuntimeError):
            big_order(strict, "s1", "half", lines)
        monkeypatch.setattr(ordering, "_accept_in_steps", real)
        assert strict.get_order("s1", "half")["status"] == "received"  # accepting, shown as received
        if finisher == "resend":
            answer = big_order(strict, "s1", "half", lines)
            assert answer.status == 200 and answer.body["status"] == "ready"
        else:
            assert run(strict)["acceptances_finished"] == 1
        assert strict.get_order("s1", "half")["status"] == "ready"
        invariants.check()
        invariants.check_settled()


def test_no_transaction_can_exceed_dynamodbs_limit():
    writes = [dynamo.put("t", {"pk": f"p{i}", "sk": "s"}) for i in range(dynamo.MAX_TRANSACTION_ITEMS + 1)]
    with pytest.raises(dynamo.TransactionTooBig):
        dynamo.transact(writes)
    twice = [dynamo.put("t", {"pk": "p", "sk": "s"}), dynamo.update("t", {"pk": "p", "sk": "s"}, "SET #a = :a", values={":a": 1})]
    with pytest.raises(dynamo.TransactionTooBig):
        dynamo.transact(twice)


def test_an_order_has_at_most_500_lines(chain):
    chain.seller("s1")
    assert big_order(chain, "s1", "too-big", [("A", 1)] * 501).status == 400
    assert big_order(chain, "s1", "at-limit", [("A", 1)] * 500).status == 201
