"""One way to commit a step's writes: a refusal a concurrent writer caused is read again
and retried; any other is raised at once, naming why, instead of being retried in vain."""

from __future__ import annotations

import logging

import boto3
import pytest

from backorders.adapters import dynamo
from backorders.adapters.dynamo import WriteRefused, with_retries
from backorders.adapters.store import Store, bin_key
from backorders.domain import ids
from backorders.domain.errors import RetryableConflict
from backorders.services import ordering
from tests.chain import receipts_given_later


def counting_transactions(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = dynamo.transact

    def transact(writes):
        calls.append(len(writes))
        return real(writes)

    monkeypatch.setattr(dynamo, "transact", transact)
    return calls


def cancelled(*reasons: tuple[str, str]) -> Exception:
    """What DynamoDB answers when it cancels a transaction, for these (code, message)s."""
    client = dynamo.client()
    response = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [{"Code": code, **({"Message": m} if m else {})} for code, m in reasons],
    }
    return client.exceptions.TransactionCanceledException(response, "TransactWriteItems")


def test_a_version_conflict_is_read_again_and_retried(chain):
    chain.seller("s1")
    chain.order("s1", "o1", ("A", 1))  # not pumped: the order stays as received
    store = Store()
    read_versions = []

    def step() -> int:
        order, version = store.order_version("s1", "o1")
        read_versions.append(version)
        if len(read_versions) == 1:  # another writer gets there between our read and our write
            dynamo.commit([store.update_order(order, version)])
        dynamo.commit([store.update_order(order, version), store.change_bin("s1", "A", "main", "default")])
        return version

    assert with_retries(step) == 2
    assert read_versions == [1, 2]


def test_goods_whose_reserved_stock_is_gone_fail_at_once_naming_the_bin(chain, monkeypatch):
    # given goods received for an order, whose reservation vanished from the bin
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    with receipts_given_later():
        assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2)).status == 202
    store = Store()
    grn = store.grn("s1", ids.grn_id_for_handover("v1", vo["vendor_order_id"], "h1"))
    assert grn is not None
    boto3.client("dynamodb").update_item(
        TableName=store.inventory,
        Key=dynamo.to_item(bin_key("s1", "A", "main", "default")),
        UpdateExpression="SET reserved = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
    transactions = counting_transactions(monkeypatch)

    # when the goods are assigned
    with pytest.raises(WriteRefused) as refused:
        ordering.assign_goods_received(store, grn)

    # then one attempt, and the error says which write was refused and why
    assert len(transactions) == 1
    message = str(refused.value)
    assert "ConditionalCheckFailed" in message and "inventory" in message and "BIN#main#default" in message
    assert chain.get_order("s1", "o1")["status"] == "backordered"  # nothing written


def test_a_validation_error_is_not_retried_and_keeps_its_reason(chain, monkeypatch):
    chain.seller("s1")
    chain.order("s1", "o1", ("A", 1))
    store = Store()
    refusal = cancelled(("None", ""), ("ValidationError", "Item size has exceeded the maximum allowed size"))
    client = dynamo.client()
    monkeypatch.setattr(client, "transact_write_items", lambda **_: (_ for _ in ()).throw(refusal))
    attempts = []

    def step() -> None:
        order, version = store.order_version("s1", "o1")
        attempts.append(version)
        dynamo.commit([store.update_order(order, version), store.change_bin("s1", "A", "main", "default")])

    with pytest.raises(WriteRefused) as refused:
        with_retries(step)
    assert len(attempts) == 1
    assert "write 1" in str(refused.value)
    assert "ValidationError: Item size has exceeded the maximum allowed size" in str(refused.value)
    assert refused.value.reasons == ["None", "ValidationError"]


def test_a_transaction_conflict_is_retried(chain, monkeypatch):
    chain.seller("s1")
    chain.order("s1", "o1", ("A", 1))
    store = Store()
    client = dynamo.client()
    real = client.transact_write_items
    answers = iter([cancelled(("TransactionConflict", "Transaction is ongoing for the item"), ("None", ""))])

    def transact_write_items(**kwargs):
        refusal = next(answers, None)
        if refusal is not None:
            raise refusal
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", transact_write_items)
    attempts = []

    def step() -> None:
        order, version = store.order_version("s1", "o1")
        attempts.append(version)
        dynamo.commit([store.update_order(order, version), store.change_bin("s1", "A", "main", "default")])

    with_retries(step)
    assert attempts == [1, 1]  # nothing had changed: the second try commits
    assert store.order_version("s1", "o1")[1] == 2


def test_a_caller_still_learns_which_write_was_refused(chain):
    # an adjustment that would take more than the bin holds: a rule, said in the answer
    chain.seller("s1")
    chain.stock("s1", "A", 1)
    answer = chain.stock("s1", "A", -2, adjustment_id="take-2")
    assert answer.status == 422 and answer.error["code"] == "insufficient_stock"


def test_giving_up_logs_the_cause(caplog):
    def step():
        raise RetryableConflict("write 0 (Update orders ...): ConditionalCheckFailed")

    with caplog.at_level(logging.ERROR, logger="backorders.adapters.dynamo"), pytest.raises(RetryableConflict):
        with_retries(step, attempts=2)
    [record] = [r for r in caplog.records if r.name == "backorders.adapters.dynamo"]
    assert "giving up" in record.getMessage() and "ConditionalCheckFailed" in record.getMessage()
