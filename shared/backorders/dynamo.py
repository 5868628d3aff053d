"""A small DynamoDB adapter: typed values in and out, conditional writes, transactions."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from backorders.errors import RetryableConflict

_NAME = re.compile(r"#(\w+)")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

T = TypeVar("T")


@cache
def client():
    """The DynamoDB client, made on first use (so tests can put moto in place first)."""
    import boto3

    return boto3.client("dynamodb")


def to_attr(value: Any) -> dict:
    return _serializer.serialize(value)


def to_item(data: dict) -> dict:
    # DynamoDB refuses empty sets; an absent attribute means the same here.
    return {k: to_attr(v) for k, v in data.items() if not (isinstance(v, set) and not v)}


def from_item(item: dict) -> dict:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


@dataclass
class Write:
    """One write of a transaction (or a single conditional write)."""

    kind: str  # Put | Update | Delete
    table: str
    key: dict | None = None
    item: dict | None = None
    update: str | None = None
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def request(self) -> dict:
        body: dict[str, Any] = {"TableName": self.table}
        if self.kind == "Put":
            body["Item"] = to_item(self.item or {})
        else:
            body["Key"] = to_item(self.key or {})
        if self.update:
            body["UpdateExpression"] = self.update
        if self.condition:
            body["ConditionExpression"] = self.condition
        # Every attribute name in an expression is written `#name` (DynamoDB reserves
        # hundreds of words: status, lines, bin, ...); the aliases are filled in here.
        names = {f"#{n}": n for n in _NAME.findall(f"{self.update or ''} {self.condition or ''}")}
        names.update(self.names)
        if names:
            body["ExpressionAttributeNames"] = names
        if self.values:
            body["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in self.values.items()}
        return body


def put(table: str, item: dict, condition: str | None = None, **kw) -> Write:
    return Write("Put", table, item=item, condition=condition, **kw)


def update(table: str, key: dict, expression: str, condition: str | None = None, **kw) -> Write:
    return Write("Update", table, key=key, update=expression, condition=condition, **kw)


def delete(table: str, key: dict, condition: str | None = None, **kw) -> Write:
    return Write("Delete", table, key=key, condition=condition, **kw)


class WriteRefused(Exception):
    """A conditional write, or a transaction, was refused.

    `reasons` has one code per write ("None", "ConditionalCheckFailed",
    "TransactionConflict", ...), as DynamoDB reports them.
    """

    def __init__(self, reasons: list[str]):
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"

    @property
    def conflict(self) -> bool:
        return any(r in ("TransactionConflict",) for r in self.reasons)


def write(w: Write) -> None:
    """One write, as a single request when alone (half the cost of a transaction)."""
    c = client()
    try:
        if w.kind == "Put":
            c.put_item(**w.request())
        elif w.kind == "Update":
            c.update_item(**w.request())
        else:
            c.delete_item(**w.request())
    except c.exceptions.ConditionalCheckFailedException:
        raise WriteRefused(["ConditionalCheckFailed"]) from None


def transact(writes: list[Write]) -> None:
    if len(writes) == 1:
        return write(writes[0])
    c = client()
    try:
        c.transact_write_items(TransactItems=[{w.kind: w.request()} for w in writes])
    except c.exceptions.TransactionCanceledException as e:
        reasons = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
        raise WriteRefused(reasons) from None


def get(table: str, key: dict, consistent: bool = True) -> dict | None:
    item = client().get_item(TableName=table, Key=to_item(key), ConsistentRead=consistent).get("Item")
    return from_item(item) if item else None


def batch_get(table: str, keys: Iterable[dict]) -> list[dict]:
    """Many items by key (consistent reads), any number of keys, unprocessed keys retried."""
    keys = list(keys)
    found: list[dict] = []
    for start in range(0, len(keys), 100):
        pending: dict = {table: {"Keys": [to_item(k) for k in keys[start : start + 100]], "ConsistentRead": True}}
        while pending:
            out = client().batch_get_item(RequestItems=pending)
            found.extend(from_item(i) for i in out.get("Responses", {}).get(table, []))
            pending = out.get("UnprocessedKeys") or {}
    return found


def query(table: str, pk: str, sk_prefix: str | None = None, consistent: bool = True) -> list[dict]:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :sk)" if sk_prefix else ""),
        "ExpressionAttributeValues": {":pk": {"S": pk}, **({":sk": {"S": sk_prefix}} if sk_prefix else {})},
        "ConsistentRead": consistent,
    }
    items: list[dict] = []
    while True:
        out = client().query(**kwargs)
        items.extend(from_item(i) for i in out.get("Items", []))
        if "LastEvaluatedKey" not in out:
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def scan(table: str, condition: str, values: dict[str, Any]) -> Iterator[dict]:
    """Every item matching `condition`, page by page (for periodic repairs only: a scan
    reads the whole table)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": condition,
        "ExpressionAttributeNames": {f"#{n}": n for n in _NAME.findall(condition)},
        "ExpressionAttributeValues": {k: to_attr(v) for k, v in values.items()},
        "ConsistentRead": True,
    }
    while True:
        out = client().scan(**kwargs)
        yield from (from_item(i) for i in out.get("Items", []))
        if "LastEvaluatedKey" not in out:
            return
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def with_retries(step: Callable[[], T], attempts: int = 8) -> T:
    """Run a read-decide-write step again when a concurrent writer got there first."""
    for attempt in range(attempts):
        try:
            return step()
        except RetryableConflict:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
