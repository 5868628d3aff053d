"""A poison record (an item the domain cannot parse) never blocks its shard: it lands in
its function's on-failure destination, the records before and after it in the same
batch complete, and replaying it later fails again without writing anything. The same
for an event the rule's function cannot parse: Lambda's on-failure queue, and the other
events complete.

(The random simulation also writes poison items now and then; these tests pin the
cases down one by one, with the poison in the middle of a batch.)
"""

from __future__ import annotations

import json

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from backorders import topology
from backorders.adapters import dynamo, events
from backorders_local.functions import context_for
from tests import invariants
from tests.chain import receipts_given_later
from tests.simulation.runner import snapshot


def write_poison(table: str, item: dict) -> tuple[str, str, str]:
    boto3.client("dynamodb").put_item(TableName=table, Item=dynamo.to_item(item))
    return (table, item["pk"], item["sk"])


def pump(chain, name: str):
    return next(p for p in chain.pumps if p.function.name == name)


def parked(url: str) -> list[str]:
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def status(chain, order_id: str) -> str:
    return chain.get_order("s1", order_id)["status"]


def orders_case(chain):
    chain.seller("s1")
    chain.stock("s1", "A", 5)
    chain.order("s1", "o1", ("A", 1))
    poison = write_poison(
        "orders", {"pk": "SELLER#s1#ORDER#bad", "sk": "ORDER", "entity": "ORDER", "status": "received", "lines": "not a list"}
    )
    chain.order("s1", "o2", ("A", 2))
    return "on_order_created", poison


def purchasing_case(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.order("s1", "o2", ("A", 2))
    chain.drain()
    vo1, vo2 = sorted(chain.vendor_orders("v1"), key=lambda vo: vo["po_id"])
    with receipts_given_later():
        assert chain.hand_over("v1", vo1["vendor_order_id"], "h1", ("A", 2)).status == 202
    poison = write_poison("purchasing", {"pk": "SELLER#s1", "sk": "GRN#bad", "entity": "GRN", "grn_id": "bad", "given_on_receipt": False})
    with receipts_given_later():
        assert chain.hand_over("v1", vo2["vendor_order_id"], "h2", ("A", 2)).status == 202
    return "on_goods_received", poison


def inventory_case(chain):
    chain.seller("s1")  # nothing mapped: both orders wait for stock
    chain.order("s1", "o1", ("A", 1))
    chain.order("s1", "o2", ("B", 1))
    chain.drain()
    chain.stock("s1", "A", 1)
    poison = write_poison(
        "inventory", {"pk": "SELLER#s1#SKU#X", "sk": "BIN#main#default", "entity": "STOCK_BIN", "available": 3}
    )
    chain.stock("s1", "B", 1)
    return "on_stock_changed", poison


@pytest.mark.parametrize("case", [orders_case, purchasing_case, inventory_case], ids=["orders", "purchasing", "inventory"])
def test_a_poison_record_is_parked_and_the_rest_of_its_batch_completes(chain, case):
    function, poison = case(chain)
    chain.drain()

    assert status(chain, "o1") == "ready" and status(chain, "o2") == "ready"
    the_pump = pump(chain, function)
    assert the_pump.failed_to_destination == 1
    [body] = parked(chain.resources.on_failure_queue_urls[function])
    record = json.loads(body)["record"]
    assert (record["dynamodb"]["Keys"]["pk"]["S"], record["dynamodb"]["Keys"]["sk"]["S"]) == poison[1:]
    invariants.check(ignore={poison})
    invariants.check_settled(ignore={poison})

    # replayed by an operator: it fails again (alone in its batch, the batch processor
    # raises rather than reporting it), and changes nothing
    before = snapshot()
    with pytest.raises(BatchProcessingError):
        the_pump.handler({"Records": [record]}, context_for(the_pump.function))
    assert snapshot() == before


def test_an_event_create_po_cannot_parse_is_parked_by_lambda_and_the_others_complete(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    bad = {
        "Source": topology.EVENT_SOURCE,
        "DetailType": topology.DetailType.ORDER_BACKORDERED,
        "Detail": json.dumps({"version": 1}),  # no order in it
        "EventBusName": topology.EVENT_BUS,
    }
    events.client().put_events(Entries=[bad])
    chain.order("s1", "o1", ("A", 2))
    chain.drain()

    [po] = chain.purchase_orders("s1")
    assert po["source_order_id"] == "o1" and po["lines"][0]["qty"] == 2
    create_po = pump(chain, "create_po")
    assert create_po.failed_to_destination == 1
    # Lambda's on-failure record after its retries; EventBridge delivered it, so its DLQ is empty
    rule = chain.resources.rules[0]
    [body] = parked(rule.handler_failures_url)
    record = json.loads(body)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1 + rule.rule.async_retry_attempts
    assert record["requestPayload"]["detail"] == {"version": 1}
    assert record["responsePayload"]["errorType"] == "ValidationError"
    assert parked(rule.dlq_url) == []
    invariants.check()
    invariants.check_settled()
