"""The reconciler finds work the chain left stuck and completes it, once."""

import json
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from backorders import topology
from backorders.adapters import dynamo
from backorders.adapters.events import EventBridgePublisher
from backorders.adapters.store import WORK_ORDER, Store, Sweep, work_keys
from backorders.services.reconcile import RECENT, SWEEP_SLICES, DeadLetters, reconcile
from backorders_local import shapes
from backorders_local.functions import context_for
from tests import invariants
from tests.chain import receipts_given_later


def broken(*_args, **_kwargs):
    raise RuntimeError("down")


def pump(chain, name):
    return next(p for p in chain.pumps if p.function.name == name)


def peek(url: str) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def run(chain, older_than=timedelta(0)):
    sqs = boto3.client("sqs")
    dead = [DeadLetters(sqs, url) for rule in chain.resources.rules for url in rule.dead_letter_urls]
    return reconcile(Store(), EventBridgePublisher(), older_than=older_than, dead_letters=dead)


def stocked_shop(chain):
    """Seller s1, vendor v1, A -> v1, and rule events retried at once."""
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    for p in chain.pumps:
        p.retry_delay_s = 0
    return chain


@pytest.fixture
def shop(chain):
    return stocked_shop(chain)


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
    assert create_po.failed_to_destination == 1 and shop.purchase_orders("s1") == []
    # parked as Lambda parks a failed asynchronous invocation: the event, wrapped
    [record] = peek(shop.resources.rules[0].handler_failures_url)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["detail"]["order_id"] == "o1"
    create_po.handler = working
    # the order is young: only the dead letter is replayed, and the chain does the rest
    repairs = run(shop, older_than=timedelta(minutes=15))
    assert repairs == {"dead_letters_replayed": 1}
    shop.drain()
    assert len(shop.purchase_orders("s1")) == 1
    assert run(shop) == {}


def received_and_never_assigned(shop) -> None:
    """o1 waits for 2 A; the vendor hands them over, and their assignment is lost."""
    pump(shop, "on_goods_received").handler = broken
    shop.order("s1", "o1", ("A", 2))
    shop.drain()
    [vo] = shop.vendor_orders("v1")
    with receipts_given_later():
        shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
    shop.drain()


def test_goods_received_but_never_assigned_are_assigned(shop):
    received_and_never_assigned(shop)
    assert shop.get_order("s1", "o1")["status"] == "backordered"
    assert run(shop)["receipts_assigned"] == 1
    assert shop.get_order("s1", "o1")["status"] == "ready"
    invariants.check()


def work_index(table: str) -> list[dict]:
    """What the reconciler can find: the work index as it is now."""
    out = boto3.client("dynamodb").scan(TableName=table, IndexName=topology.WORK.name)["Items"]
    return [dynamo.from_item(i) for i in out]


def test_an_order_is_open_work_until_it_is_ready(shop):
    shop.order("s1", "o1", ("A", 2))
    shop.drain()
    assert [i["sk"] for i in work_index("orders")] == ["ORDER"], "the waiting order is open work"
    [vo] = shop.vendor_orders("v1")
    shop.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2))
    shop.drain()
    assert shop.get_order("s1", "o1")["status"] == "ready"
    assert work_index("orders") == [] and work_index("purchasing") == [], "nothing is left for a pass to read"


def test_goods_received_for_an_order_cancelled_meanwhile_become_free_stock(shop):
    received_and_never_assigned(shop)
    assert shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"}).status == 200
    shop.drain()
    assert shop.get_order("s1", "o1")["status"] == "cancelled"
    assert len(work_index("orders")) == 1, "cancelled, it stays open work while its goods are not given"
    assert run(shop)["receipts_assigned"] == 1
    [bin_] = shop.bins("s1", "A").values()
    assert (bin_["reserved"], bin_["available"]) == (0, 2)
    assert work_index("orders") == []
    invariants.check()
    invariants.check_settled()


def test_a_cancelled_order_owed_nothing_leaves_the_open_work(shop):
    shop.order("s1", "o1", ("A", 2))
    shop.drain()
    assert shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"}).status == 200
    shop.drain()
    assert work_index("orders") == []
    # left in the work index after all (by a step that failed half way, or by older code)
    key = {"pk": "SELLER#s1#ORDER#o1", "sk": "ORDER"}
    item = dynamo.get("orders", key)
    assert item is not None
    stale = work_keys(WORK_ORDER, key, item["created_at"])
    boto3.client("dynamodb").update_item(
        TableName="orders",
        Key=dynamo.to_item(key),
        UpdateExpression="SET work_pk = :pk, work_sk = :sk",
        ExpressionAttributeValues=dynamo.to_item({":pk": stale["work_pk"], ":sk": stale["work_sk"]}),
    )
    assert run(shop) == {}, "nothing to repair"
    assert work_index("orders") == [], "and the next pass does not read it again"
    assert shop.get_order("s1", "o1")["status"] == "cancelled"


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


def test_free_stock_for_a_line_on_a_po_is_assigned_and_the_po_cut(shop):
    pump(shop, "on_stock_changed").handler = broken
    shop.order("s1", "o1", ("A", 2))
    shop.drain()
    shop.stock("s1", "A", 5)
    shop.drain()
    assert run(shop)["free_stock_assigned"] == 2
    assert shop.get_order("s1", "o1")["status"] == "ready"
    [po] = shop.purchase_orders("s1")
    assert po["status"] == "cancelled", "nothing is bought for a line the freed stock filled"
    invariants.check()


def test_orders_waiting_for_their_vendor_are_looked_at_once_a_cycle_and_one_stuck_is_repaired(shop, monkeypatch):
    # given 40 orders waiting for their vendor, and free stock that was never offered to them
    for i in range(40):
        shop.order("s1", f"o{i:02d}", ("A", 1))
    shop.drain()
    pump(shop, "on_stock_changed").handler = broken
    shop.stock("s1", "A", 1)
    shop.drain()
    looked_at: list[str] = []
    tables = type(Store().tables)
    batch_get = tables.batch_get
    monkeypatch.setattr(tables, "batch_get", lambda self, table, keys: looked_at.extend(k["pk"] for k in keys) or batch_get(self, table, keys))

    # when, a day later, the schedule runs a whole cycle of passes
    later = datetime.now(UTC) + timedelta(days=1)
    repairs = [
        reconcile(Store(), None, older_than=timedelta(minutes=15), now=later, pass_number=n)  # type: ignore[arg-type]
        for n in range(1000, 1000 + SWEEP_SLICES)
    ]

    # then each order still waiting was read once in the cycle, not on every pass (the first
    # read of one waiting for A offered the stock, to the oldest, which then left the open work)
    assert len(looked_at) == len(set(looked_at))
    assert set(looked_at) >= {f"SELLER#s1#ORDER#o{i:02d}" for i in range(1, 40)}
    assert sum(r["free_stock_assigned"] for r in repairs) == 1
    assert shop.get_order("s1", "o00")["status"] == "ready"
    assert [shop.get_order("s1", f"o{i:02d}")["status"] for i in range(1, 40)] == ["backordered"] * 39
    invariants.check()


def test_a_pass_repairs_all_young_stuck_work_and_one_slice_of_the_older(shop):
    # given 30 orders whose records were parked (stuck once 15 minutes old)
    pump(shop, "on_order_created").handler = broken
    for i in range(30):
        shop.order("s1", f"o{i}", ("A", 1))
    shop.drain()
    now = datetime.now(UTC)
    pass_number = 24 * 1000 + Sweep(0, SWEEP_SLICES, "").slot({"pk": "SELLER#s1#ORDER#o0", "sk": "ORDER"})
    slice_of = {i for i in range(30) if Sweep(pass_number, SWEEP_SLICES, "").takes({"pk": f"SELLER#s1#ORDER#o{i}", "sk": "ORDER"})}

    # when a pass runs once they are older than its recent window
    later = now + timedelta(minutes=16) + RECENT
    old = reconcile(Store(), None, older_than=timedelta(minutes=15), now=later, pass_number=pass_number)  # type: ignore[arg-type]

    # then it repairs the orders of its slice only
    assert old["orders_assigned"] == len(slice_of) and 0 in slice_of and len(slice_of) < 30
    assert {i for i in range(30) if shop.get_order("s1", f"o{i}")["status"] == "backordered"} == slice_of

    # and a pass while they are inside its recent window repairs every one left
    soon = now + timedelta(minutes=15) + RECENT / 2
    young = reconcile(Store(), None, older_than=timedelta(minutes=15), now=soon, pass_number=pass_number + 1)  # type: ignore[arg-type]
    assert young["orders_assigned"] == 30 - len(slice_of)
    assert {shop.get_order("s1", f"o{i}")["status"] for i in range(30)} == {"backordered"}


def test_a_line_waiting_for_a_fix_is_looked_at_on_every_pass_however_old(chain):
    # given an order left without a PO because the seller's auto PO was off
    chain.seller("s1", auto_po_vendor_level=False)
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    assert chain.get_order("s1", "o1")["lines"][0]["no_po_reason"] == "auto_po_disabled"
    invariants.check()

    # when the seller turns it on, and a scheduled pass runs a day later, whatever its slice
    chain.seller("s1", auto_po_vendor_level=True)
    key = {"pk": "SELLER#s1#ORDER#o1", "sk": "ORDER"}
    not_its_slice = next(n for n in range(SWEEP_SLICES) if not Sweep(n, SWEEP_SLICES, "").takes(key))
    later = datetime.now(UTC) + timedelta(days=1)
    repairs = reconcile(Store(), None, older_than=timedelta(minutes=15), now=later, pass_number=not_its_slice)  # type: ignore[arg-type]

    # then the line gets its PO on that pass, and the order waits like any other
    assert repairs["stuck_lines_healed"] == 1
    chain.drain()
    assert chain.get_order("s1", "o1")["lines"][0]["purchase_order_ids"]
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

    out = shop.handlers["reconcile"](shapes.scheduled_event("reconcile"), context_for(topology.function("reconcile")))
    assert out["repairs"] == {"orders_assigned": 1, "shortfalls_resolved": 1}
    assert '"Repairs_orders_assigned":[1.0]' in capsys.readouterr().out.replace(" ", "")


POISON_ORDER = {
    "pk": "SELLER#s1#ORDER#bad", "sk": "ORDER", "entity": "ORDER", "status": "received",
    "lines": "not a list", "created_at": "2020-01-01T00:00:00.000+00:00",
}
# open work, as every order is when it arrives
POISON_ORDER |= work_keys(WORK_ORDER, POISON_ORDER, POISON_ORDER["created_at"])


def test_a_poison_order_next_to_a_stuck_one_is_counted_as_failed_and_the_pass_goes_on(shop, capsys, caplog, monkeypatch):
    # given an order whose record was parked, and an order item nobody can read
    pump(shop, "on_order_created").handler = broken
    shop.stock("s1", "A", 1)
    shop.order("s1", "o1", ("A", 3))
    boto3.client("dynamodb").put_item(TableName="orders", Item=dynamo.to_item(POISON_ORDER))
    shop.drain()

    # when the scheduled reconciler runs
    module = sys.modules["backorders_fn_reconcile"]
    monkeypatch.setattr(module, "older_than", timedelta(0))
    everything = shapes.scheduled_event("reconcile", detail={"sweep": "all"})  # the poison is old: not this pass's slice
    out = shop.handlers["reconcile"](everything, context_for(topology.function("reconcile")))

    # then the stuck order is repaired, the poison one logged and counted, once each
    assert out["repairs"] == {"orders_assigned": 1, "shortfalls_resolved": 1, "failed": 1}
    printed = capsys.readouterr().out
    assert '"Repairs_failed":[1.0]' in printed.replace(" ", "")
    # logged with its cause (JSON on stdout, or to pytest's capture, by who set up logging first)
    logged = printed + caplog.text
    assert "could not repair order SELLER#s1#ORDER#bad/ORDER" in logged and "ValidationError" in logged
    shop.drain()
    order = shop.get_order("s1", "o1")
    assert (order["status"], order["lines"][0]["assigned_qty"]) == ("backordered", 1)
    assert shop.purchase_orders("s1")[0]["lines"][0]["qty"] == 2
    invariants.check(ignore={("orders", POISON_ORDER["pk"], POISON_ORDER["sk"])})
    assert run(shop) == {"failed": 1}  # the poison stays, and is counted again


def test_a_repair_is_counted_only_when_it_changed_something(shop, monkeypatch):
    # given the reconciler's scan sees an order as received, and the chain completes it meanwhile
    shop.order("s1", "o1", ("A", 2))
    store = Store()
    [stale] = list(store.orders_in_progress("9999"))
    shop.drain()
    assert shop.get_order("s1", "o1")["status"] == "backordered" and len(shop.purchase_orders("s1")) == 1
    monkeypatch.setattr(Store, "orders_in_progress", lambda self, cutoff, sweep=None: iter([stale]))

    # then the pass changes nothing, and counts nothing
    assert run(shop) == {}


def test_an_unreadable_dead_letter_is_counted_and_stays_parked(shop):
    sqs = boto3.client("sqs")
    url = shop.resources.rules[0].handler_failures_url
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestPayload": {"source": "backorders.orders"}}))
    shop.order("s1", "o1", ("A", 2))
    create_po = pump(shop, "create_po")
    working, create_po.handler = create_po.handler, broken
    shop.drain()
    create_po.handler = working

    repairs = run(shop, older_than=timedelta(minutes=15))

    assert repairs == {"dead_letters_replayed": 1, "dead_letters_unreadable": 2}
    shop.drain()
    assert len(shop.purchase_orders("s1")) == 1
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert sum(int(n) for n in attributes.values()) == 2  # both still parked
