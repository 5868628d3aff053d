"""At-least-once delivery: a second delivery of every record and event changes nothing,
and a failure between a write and its announcement loses nothing."""

from unittest import mock

import boto3
import pytest

from backorders import topology
from backorders.adapters import events
from backorders.adapters.events import EventBridgePublisher, PublishFailed
from tests.chain import Chain
from tests.invariants import without_volatile


def snapshot() -> dict:
    """Every item of every table, without what differs between two runs (times, secrets)."""
    client = boto3.client("dynamodb")
    out = {}
    for t in topology.TABLES:
        for item in client.scan(TableName=t.name)["Items"]:
            sk = item["sk"]["S"]
            if sk.startswith("WAIT#"):  # queued by order time
                sk = f"WAIT#{item['order_id']['S']}#{item['line_index']['N']}"
            out[(t.name, item["pk"]["S"], sk)] = without_volatile(item, also=frozenset({"sk"}))
    return out


def seed_scenario(chain: Chain) -> None:
    chain.seller("s1")
    chain.vendor("v1")
    chain.vendor("v2", approval_required=True)
    chain.map_sku("s1", "A", "v1")
    chain.map_sku("s1", "B", "v2")
    chain.map_sku("s1", "C", None)
    chain.stock("s1", "A", 3)
    chain.order("s1", "o1", ("A", 5), ("B", 2), ("C", 1))
    chain.drain()
    chain.order("s1", "o2", ("A", 1))
    chain.drain()
    vo1 = next(vo for vo in chain.vendor_orders("v1") if vo["lines"][0]["qty"] == 2)
    chain.hand_over("v1", vo1["vendor_order_id"], "h1", ("A", 1))
    chain.drain()
    chain.hand_over("v1", vo1["vendor_order_id"], "h2", ("A", 1))
    [vo2] = chain.vendor_orders("v2")
    chain.as_vendor("v2", "POST", f"/v1/vendors/v2/orders/{vo2['vendor_order_id']}/approve")
    chain.hand_over("v2", vo2["vendor_order_id"], "h3", ("B", 2))
    chain.drain()


def deliver_twice(chain: Chain) -> None:
    for pump in chain.pumps:
        original = pump.handler

        def twice(event, context, original=original):
            original(event, context)
            return original(event, context)

        pump.handler = twice


def test_every_record_and_event_delivered_twice_ends_in_the_same_state():
    with Chain.started() as once:
        seed_scenario(once)
        expected = snapshot()
        assert once.get_order("s1", "o1")["status"] == "backordered"  # line C is unmapped
    with Chain.started() as twice:
        deliver_twice(twice)
        seed_scenario(twice)
        assert snapshot() == expected
        assert len(twice.purchase_orders("s1")) == 3  # o1 -> v1, o1 -> v2, o2 -> v1


def test_an_announcement_lost_after_the_write_is_made_again_on_the_retry(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    real = events.client().put_events
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
        return real(**kwargs)

    with mock.patch.object(events.client(), "put_events", side_effect=flaky):
        chain.order("s1", "o1", ("A", 2))
        chain.drain()
    assert len(calls) == 2  # the failed record was retried and announced again
    [po] = chain.purchase_orders("s1")
    assert po["lines"][0]["qty"] == 2
    line = chain.get_order("s1", "o1")["lines"][0]
    assert (line["assigned_qty"], line["pending_qty"], line["purchase_order_id"]) == (0, 2, po["po_id"])


def test_a_refused_event_entry_is_an_error_not_a_silent_drop():
    publisher = EventBridgePublisher(bus="b")
    refused = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}
    with mock.patch.object(events, "client") as client:
        client.return_value.put_events.return_value = refused
        from backorders.domain.models import OrderBackordered

        with pytest.raises(PublishFailed, match="ThrottlingException"):
            publisher.order_backordered(OrderBackordered(correlation_id="o", seller_id="s", order_id="o", pending=[]))


def test_a_poison_record_goes_to_the_on_failure_queue_and_the_rest_completes(chain):
    chain.seller("s1")
    chain.stock("s1", "A", 5)
    # an order item the domain cannot parse, written behind the API's back
    boto3.client("dynamodb").put_item(
        TableName="orders",
        Item={"pk": {"S": "SELLER#s1#ORDER#bad"}, "sk": {"S": "ORDER"}, "entity": {"S": "ORDER"},
              "status": {"S": "received"}, "lines": {"S": "not a list"}},
    )
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    assert chain.get_order("s1", "o1")["status"] == "ready"
    [parked] = boto3.client("sqs").receive_message(
        QueueUrl=chain.resources.on_failure_queue_urls["on_order_created"]
    )["Messages"]
    assert "SELLER#s1#ORDER#bad" in parked["Body"]
