"""The reconciler finds work the chain left stuck and completes it, once."""

import sys
from datetime import timedelta

import boto3
import pytest

from backorders.events import EventBridgePublisher
from backorders.reconcile import DeadLetters, reconcile
from backorders.store import Store
from tests import invariants


def broken(*_args, **_kwargs):
    raise RuntimeError("down")


def pump(chain, name):
    return next(p for p in chain.pumps if p.function.name == name)


def run(chain, older_than=timedelta(0)):
    sqs = boto3.client("sqs")
    dead = [DeadLetters(sqs, rule.dlq_url) for rule in chain.resources.rules]
    return reconcile(Store(), EventBridgePublisher(), older_than=older_than, dead_letters=dead)


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    for p in chain.pumps:
        p.retry_delay_s = 0
    return chain


def test_an_order_whose_record_was_parked_is_assigned_and_gets_its_po(shop):
    pump(shop, "on_order_created").handler = broken
    shop.stock("s1", "A", 1)
    shop.order("s1", "o1", ("A", 3))
    shop.drain()
    assert shop.get_order("s1", "o1")["status"] == "received"
    repairs = run(shop)
    assert repairs["orders_assigned"] == 1 and repairs["shortfalls_resolved"] == 1
    shop.drain()
    order = shop.get_order("s1", "o1")
    assert (order["status"], order["lines"][0]["assigned_qty"]) == ("backordered", 1)
    assert shop.purchase_orders("s1")[0]["lines"][0]["qty"] == 2
    invariants.check()
    assert run(shop) == {}  # nothing left to repair


def test_a_dead_lettered_shortfall_is_announced_again(shop):
    create_po = pump(shop, "create_po")
    working, create_po.handler = create_po.handler, broken
    shop.order("s1", "o1", ("A", 2))
    shop.drain()
    assert create_po.dead_lettered == 1 and shop.purchase_orders("s1") == []
    create_po.handler = working
    # the order is young: only the dead letter is replayed, and the chain does the rest
    repairs = run(shop, older_than=timedelta(minutes=15))
    assert repairs == {"dead_letters_replayed": 1}
    shop.drain()
    assert len(shop.purchase_orders("s1")) == 1
    assert run(shop) == {}


def test_goods_received_but_never_assigned_are_assigned(shop):
    pump(shop, "on_goods_received").handler = broken
    shop.order("s1", "o1", ("A", 2))
    shop.drain()
    [vo] = shop.vendor_orders("v1")
    shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
    shop.drain()
    assert shop.get_order("s1", "o1")["status"] == "backordered"
    assert run(shop)["receipts_assigned"] == 1
    assert shop.get_order("s1", "o1")["status"] == "ready"
    invariants.check()


def test_free_stock_while_orders_wait_is_assigned(chain):
    chain.seller("s1")
    pump(chain, "on_stock_changed").handler = broken
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    chain.stock("s1", "A", 5)
    chain.drain()
    assert run(chain)["free_stock_assigned"] == 2
    assert chain.get_order("s1", "o1")["status"] == "ready"
    invariants.check()


def test_young_work_is_left_to_the_chain(shop):
    pump(shop, "on_order_created").handler = broken
    shop.order("s1", "o1", ("A", 3))
    shop.drain()
    assert run(shop, older_than=timedelta(minutes=15)) == {}
    assert shop.get_order("s1", "o1")["status"] == "received"


def test_the_scheduled_function_reports_a_metric_per_repair(shop, capsys, monkeypatch):
    pump(shop, "on_order_created").handler = broken
    shop.order("s1", "o1", ("A", 3))
    shop.drain()
    module = sys.modules["backorders_fn_reconcile"]
    monkeypatch.setattr(module, "older_than", timedelta(0))
    from backorders_local.functions import context_for
    from backorders import topology

    out = shop.handlers["reconcile"]({}, context_for(topology.function("reconcile")))
    assert out["repairs"] == {"orders_assigned": 1, "shortfalls_resolved": 1}
    assert '"Repairs_orders_assigned":[1.0]' in capsys.readouterr().out.replace(" ", "")
