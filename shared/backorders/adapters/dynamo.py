"""A small DynamoDB adapter: typed values in and out, conditional writes, transactions."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from backorders.domain.errors import RetryableConflict
from backorders.topology import Index

_NAME = re.compile(r"#(\w+)")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

T = TypeVar("T")

log = logging.getLogger(__name__)


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
    # The condition checks what the step read (a version, an expected status, an item
    # read as absent): its refusal means a concurrent writer got there first, and a
    # step that reads again may succeed. Any other refused condition is for good.
    guard: bool = False

    def describe(self) -> str:
        return f"{self.kind} {self.table} {self.key or {k: (self.item or {}).get(k) for k in ('pk', 'sk')}}"

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
    "TransactionConflict", "ValidationError", ...), as DynamoDB reports them, and
    `messages` DynamoDB's words for each; the exception's message names each refusal.
    """

    def __init__(self, reasons: list[str], messages: list[str] | None = None, writes: list[Write] | None = None):
        self.reasons = reasons
        self.messages = messages or [""] * len(reasons)
        self.writes = writes or []
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = []
        for i, code in enumerate(self.reasons):
            if code in ("None", ""):
                continue
            what = f"write {i}" + (f" ({self.writes[i].describe()})" if i < len(self.writes) else "")
            message = self.messages[i] if i < len(self.messages) else ""
            parts.append(f"{what}: {code}" + (f": {message}" if message else ""))
        return "; ".join(parts) or ", ".join(self.reasons) or "refused"

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"

    @property
    def conflict(self) -> bool:
        """A concurrent writer caused it: reading again and retrying may succeed.

        True for a transaction conflict, or a refused guard condition, when nothing
        else (a validation error, a size limit, a condition that is a rule) was refused.
        """
        if any(r not in ("None", "", "ConditionalCheckFailed", "TransactionConflict") for r in self.reasons):
            return False
        return "TransactionConflict" in self.reasons or any(
            self.failed(i) and i < len(self.writes) and self.writes[i].guard for i in range(len(self.reasons))
        )


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
    except c.exceptions.ConditionalCheckFailedException as e:
        raise WriteRefused(["ConditionalCheckFailed"], [_message(e)], [w]) from None
    except c.exceptions.TransactionConflictException as e:  # the item is in another's transaction
        raise WriteRefused(["TransactionConflict"], [_message(e)], [w]) from None


# DynamoDB refuses a transaction of more items, or one naming an item twice (moto does
# not): work that could need more is split into steps (see ordering, purchasing).
MAX_TRANSACTION_ITEMS = 100


class TransactionTooBig(Exception):
    """A step built a transaction DynamoDB would refuse: a bug, never bad input."""


def _check_transaction(writes: list[Write]) -> None:
    if len(writes) > MAX_TRANSACTION_ITEMS:
        raise TransactionTooBig(f"{len(writes)} writes in one transaction; DynamoDB takes at most {MAX_TRANSACTION_ITEMS}")
    keys = [(w.table, tuple(sorted((w.key or {k: (w.item or {})[k] for k in ("pk", "sk")}).items()))) for w in writes]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise TransactionTooBig(f"one transaction writes an item twice: {twice}")


def transact(writes: list[Write]) -> None:
    if len(writes) == 1:
        return write(writes[0])
    _check_transaction(writes)
    c = client()
    try:
        c.transact_write_items(TransactItems=[{w.kind: w.request()} for w in writes])
    except c.exceptions.TransactionCanceledException as e:
        found = e.response.get("CancellationReasons", [])
        reasons = [r.get("Code", "None") for r in found]
        raise WriteRefused(reasons, [r.get("Message", "") for r in found], writes) from None


def _message(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Message", "") or str(e)


def commit(writes: list[Write], tables: Tables | None = None) -> None:
    """Write `writes` in one step (one request, or one transaction).

    A refusal a concurrent writer caused (see `WriteRefused.conflict`) becomes a
    `RetryableConflict` carrying its reasons, for `with_retries` to read again; any
    other refusal is raised as the `WriteRefused` itself, since retrying cannot change
    it. A caller that gives some refusals a meaning of its own catches `WriteRefused`
    and asks `failed(i)`.
    """
    try:
        (tables or _DYNAMO).transact(writes)
    except WriteRefused as refused:
        if refused.conflict:
            raise RetryableConflict(str(refused)) from refused
        raise


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


def query(table: str, pk: str, sk_prefix: str | None = None, consistent: bool = True, limit: int | None = None) -> list[dict]:
    """A partition's items (under `sk_prefix`), in sort key order: all of them, or the
    first `limit`."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :sk)" if sk_prefix else ""),
        "ExpressionAttributeValues": {":pk": {"S": pk}, **({":sk": {"S": sk_prefix}} if sk_prefix else {})},
        "ConsistentRead": consistent,
    }
    items: list[dict] = []
    while True:
        if limit is not None:
            kwargs["Limit"] = limit - len(items)
        out = client().query(**kwargs)
        items.extend(from_item(i) for i in out.get("Items", []))
        if "LastEvaluatedKey" not in out or (limit is not None and len(items) >= limit):
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def page(table: str, pk: str, sk_prefix: str, limit: int, after_sk: str | None = None) -> tuple[list[dict], str | None]:
    """One page of a partition's items under `sk_prefix`, highest sort key first (newest,
    for time-ordered keys); the sort key to continue after, or None on the last page."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":sk": {"S": sk_prefix}},
        "ScanIndexForward": False,
        "Limit": limit + 1,  # one more, to know whether this page is the last
        "ConsistentRead": True,
    }
    if after_sk is not None:
        kwargs["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": after_sk}}
    found = [from_item(i) for i in client().query(**kwargs).get("Items", [])]
    items = found[:limit]
    return items, (items[-1]["sk"] if len(found) > limit else None)


def index_page(
    table: str,
    index: Index,
    pk: str,
    limit: int,
    start: dict | None = None,
    condition: str | None = None,
    values: dict[str, Any] | None = None,
) -> tuple[list[dict], dict | None]:
    """One Query of an index partition, highest sort key first: of the next `limit` items,
    those matching `condition` (on the index's projected attributes; DynamoDB applies the
    limit before the filter), as the index projects them, and the key to go on from, or
    None when the partition is done. Index reads are eventually consistent: a write
    shows in a list a moment after it answered."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": index.name,
        "KeyConditionExpression": "#list_pk = :list_pk",
        "ExpressionAttributeNames": {"#list_pk": index.partition_key},
        "ExpressionAttributeValues": {":list_pk": {"S": pk}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if condition is not None:
        kwargs["FilterExpression"] = condition
        kwargs["ExpressionAttributeNames"] |= {f"#{n}": n for n in _NAME.findall(condition)}
        kwargs["ExpressionAttributeValues"] |= {k: to_attr(v) for k, v in (values or {}).items()}
    if start is not None:
        kwargs["ExclusiveStartKey"] = to_item(start)
    out = client().query(**kwargs)
    last = out.get("LastEvaluatedKey")
    return [from_item(i) for i in out.get("Items", [])], (from_item(last) if last else None)


def index_due(table: str, index: Index, pk: str, before: str, since: str | None = None) -> Iterator[dict]:
    """The entries of one index partition with a sort key below `before` (and not below
    `since`), oldest first, as the index projects them (eventually consistent, as every
    index read)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": index.name,
        "KeyConditionExpression": "#pk = :pk AND " + ("#sk BETWEEN :since AND :before" if since is not None else "#sk < :before"),
        "ExpressionAttributeNames": {"#pk": index.partition_key, "#sk": index.sort_key},
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":before": {"S": before}, **({":since": {"S": since}} if since is not None else {})},
    }
    while True:
        out = client().query(**kwargs)
        # BETWEEN includes its upper bound; `before` does not
        yield from (from_item(i) for i in out.get("Items", []) if i[index.sort_key]["S"] < before)
        if "LastEvaluatedKey" not in out:
            return
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


class Tables(Protocol):
    """The port a `Store` reads and writes through: DynamoDB when deployed and locally,
    an in-memory fake in the fast service tests (tests/memory_tables.py)."""

    def get(self, table: str, key: dict) -> dict | None: ...
    def batch_get(self, table: str, keys: Iterable[dict]) -> list[dict]: ...
    def query(self, table: str, pk: str, sk_prefix: str | None = None, limit: int | None = None) -> list[dict]: ...
    def index_due(self, table: str, index: Index, pk: str, before: str, since: str | None = None) -> Iterator[dict]: ...
    def page(self, table: str, pk: str, sk_prefix: str, limit: int, after_sk: str | None = None) -> tuple[list[dict], str | None]: ...
    def index_page(
        self, table: str, index: Index, pk: str, limit: int, start: dict | None = None,
        condition: str | None = None, values: dict[str, Any] | None = None,
    ) -> tuple[list[dict], dict | None]: ...

    def transact(self, writes: list[Write]) -> None:
        """All of `writes` or none; raises `WriteRefused` with one reason per write."""


class DynamoTables:
    """`Tables` on DynamoDB (consistent reads)."""

    def get(self, table: str, key: dict) -> dict | None:
        return get(table, key)

    def batch_get(self, table: str, keys: Iterable[dict]) -> list[dict]:
        return batch_get(table, keys)

    def query(self, table: str, pk: str, sk_prefix: str | None = None, limit: int | None = None) -> list[dict]:
        return query(table, pk, sk_prefix, limit=limit)

    def index_due(self, table: str, index: Index, pk: str, before: str, since: str | None = None) -> Iterator[dict]:
        return index_due(table, index, pk, before, since)

    def page(self, table: str, pk: str, sk_prefix: str, limit: int, after_sk: str | None = None) -> tuple[list[dict], str | None]:
        return page(table, pk, sk_prefix, limit, after_sk)

    def index_page(
        self, table: str, index: Index, pk: str, limit: int, start: dict | None = None,
        condition: str | None = None, values: dict[str, Any] | None = None,
    ) -> tuple[list[dict], dict | None]:
        return index_page(table, index, pk, limit, start, condition, values)

    def transact(self, writes: list[Write]) -> None:
        transact(writes)


_DYNAMO = DynamoTables()


def with_retries(step: Callable[[], T], attempts: int = 8) -> T:
    """Run a read-decide-write step again when a concurrent writer got there first."""
    for attempt in range(attempts):
        try:
            return step()
        except RetryableConflict as e:
            if attempt == attempts - 1:
                log.error("still conflicting after %d attempts, giving up: %s", attempts, e)
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
