"""A fix for moto (5.2.x): TransactWriteItems that costs what DynamoDB's does.

moto applies a transaction's writes one by one and, to be able to roll back, first takes
a deep copy of every table the transaction names, stream history included; when a write
is refused it puts those copies in place of the live tables. Two problems follow:

- Cost grows with the data, not the transaction: every transaction copies whole tables
  and their streams, so a process slows down and swells as orders accumulate (an order
  of hundreds of lines, written in many steps, took minutes and gigabytes).
- The restored copy has its own stream shard, so every shard iterator already handed out
  keeps reading the *old* shard object: it sees records for writes that were rolled back
  (which DynamoDB would never emit) and never sees a record written afterwards. A stream
  consumer (our pumps, like Lambda's event source mapping) then silently stops
  receiving that table's changes. A refused transaction is routine here (a concurrent
  writer, a negative adjustment beyond what is available, a stale stream image).

The fix does what DynamoDB does: every condition is checked first, against the items as
they are, and only if all hold are the writes applied. Should applying still fail, only
the items the transaction names are put back and their stream records dropped.

And a speed-up: moto serialises every DynamoDB attribute value of an answer member by
member through the service model (about 10 look-ups per value), which makes reading a
large item (an order of hundreds of lines) or its stream records take tens of
milliseconds. Attribute values are already in their wire form, so they are passed as
they are (binary values, which would need encoding, still take moto's way). And a
Query on a table's own key looks at its partition only, not at every item of the table
(and, for `begins_with` on the sort key, at the items it can match).
Sizing and reading a value no longer copy its whole tree first (tests/test_moto_fixes.py
checks both against moto's own).

And a leak: moto keeps every model object it ever makes in a list on its class, for its
dashboard (which we do not serve), until the mock is reset. Every item read, projected or
written, every stream record and every queue message stays in memory: `backorders local`
grew by about 0.2 MB an order. Models of the services the runtime uses are no longer kept
there; the tables, streams and queues still hold what they hold.

Stream records are kept until something drops them (DynamoDB drops them after 24 hours);
`drop_stream_records` lets the local runtime drop those every reader has read.

`apply()` installs them all for the process (the local runtime and the tests call it).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from moto.core.common_models import BaseModel
from moto.core.serialize import ResponseSerializer
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodbstreams.models import ShardIterator

_OPS = {"ConditionCheck", "Put", "Delete", "Update"}


def _key(table, op_type: str, op: dict) -> dict:
    if op_type != "Put":
        return op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    ops: list[tuple[str, dict, Any, dict]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in _OPS:
            raise ValueError("Unsupported transaction operation")
        table = self.get_table(op["TableName"])
        key = _key(table, op_type, op)
        unique = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if unique in seen:
            raise MultipleTransactionsException()
        seen.add(unique)
        current = self.get_item(op["TableName"], key)
        ops.append((op_type, op, table, key))
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
            if not check.expr(current):
                old = current.to_json()["Attributes"] if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # Every condition holds: apply. What is put back if applying fails anyway.
    saved = []
    for op_type, op, table, key in ops:
        if op_type != "ConditionCheck":
            current = self.get_item(op["TableName"], key)
            shard = table.stream_shard
            saved.append((op["TableName"], table, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None,
                          shard, len(shard.items) if shard is not None else 0))
    failing = 0  # which write failed, for its cancellation reason
    try:
        for failing, (op_type, op, _, key) in enumerate(ops):  # noqa: B007 - read after the loop
            names, values = op.get("ExpressionAttributeNames") or {}, op.get("ExpressionAttributeValues") or {}
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)
    except BaseException as failure:
        for name, _, key, before, _, _ in saved:
            if before is None:
                if self.get_item(name, key) is not None:
                    self.delete_item(name, key)
            else:
                self.put_item(name, before)
        for _, _, _, _, shard, length in saved:
            if shard is not None:
                del shard.items[length:]  # no record for a write that was rolled back
        if not isinstance(failure, Exception):
            raise
        # as moto (and DynamoDB) report it: a reason per write, the failing one named
        code = "ConditionalCheckFailed" if isinstance(failure, ConditionalCheckFailed) else type(failure).__name__
        reasons: list[tuple[Any, Any, Any]] = [(None, None, None)] * len(ops)
        reasons[failing] = (code, getattr(failure, "message", str(failure)), None)
        raise TransactionCanceledException(reasons) from None


_serialize_structure = ResponseSerializer._serialize_type_structure


def _wire_ready(value: Any) -> bool:
    """An attribute value with no binary in it (that alone needs encoding on the wire)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (kind, inner), = value.items()
    if kind in ("B", "BS"):
        return False
    if kind == "M":
        return isinstance(inner, dict) and all(_wire_ready(v) for v in inner.values())
    if kind == "L":
        return isinstance(inner, list) and all(_wire_ready(v) for v in inner)
    return True


def _serialize_type_structure(self, serialized, value, shape, key) -> None:
    if shape.name == "AttributeValue" and _wire_ready(value):
        if key:
            self._default_serialize(serialized, value, shape, key)
        else:
            serialized.update(value)
        return
    _serialize_structure(self, serialized, value, shape, key)


def _size(self: DynamoType) -> int:
    """moto's DynamoType.size, without copying every nested map's values into new
    DynamoType objects first (they are DynamoType already): the same count, and a write
    of a big item (moto sizes the whole item at each attribute it sets) no longer
    copies the item's whole tree each time."""
    kind, value = self.type, self.value
    if kind == "N":
        return len(str(value))
    if kind in ("SS", "NS", "BS"):
        return sum(DynamoType({kind[0]: v}).size() for v in value)
    if kind == "L":
        return sum(v.size() for v in value)
    if kind == "M":
        return sum(bytesize(k) + (v.size() if type(v) is DynamoType else DynamoType(v).size()) for k, v in value.items())
    if isinstance(value, bool):
        return 1
    return bytesize(value)


_moto_size = DynamoType.size
_to_regular_json = DynamoType.to_regular_json


def _regular_json(self: DynamoType) -> dict[str, Any]:
    """moto's DynamoType.to_regular_json without deep-copying the value first: it builds
    the answer anew anyway, and the copy (of a whole big item, for every read of it) was
    most of its cost. Binary values still take moto's way."""
    kind, value = self.type, self.value
    if kind in ("B", "BS"):
        return _to_regular_json(self)
    if isinstance(value, dict):
        value = {k: v.to_regular_json() if isinstance(v, DynamoType) else copy.deepcopy(v) for k, v in value.items()}
    elif isinstance(value, list):
        value = [v.to_regular_json() if isinstance(v, DynamoType) else copy.deepcopy(v) for v in value]
    return {kind: value}


_query = Table.query


_QUERY_PARAMS = inspect.signature(_query)


def _query_one_partition(self: Table, *args, **kwargs):
    bound = _QUERY_PARAMS.bind(self, *args, **kwargs).arguments
    hash_key = bound.get("hash_key")
    if bound.get("index_name") is not None or hash_key is None or not self.range_key_attr:
        return _query(self, *args, **kwargs)
    stored = self.items.get(hash_key, {})
    prefix = range_objs[0].value if (range_objs := bound.get("range_objs")) and bound.get("range_comparison") == "BEGINS_WITH" else None
    if isinstance(prefix, str):  # only the items it can match: moto would compare each one
        partition = [item for key, item in stored.items() if isinstance(key.value, str) and key.value.startswith(prefix)]
    else:
        partition = list(stored.values())
    self.all_items = lambda: partition  # type: ignore[method-assign]  # what moto's query filters and sorts
    try:
        return _query(self, *args, **kwargs)
    finally:
        del self.all_items


_shard_iterator_get = ShardIterator.get


def _get_once(self: ShardIterator, limit: int = 1000) -> dict[str, Any]:
    """Read from a shard iterator, and forget it: moto keeps every iterator it ever handed
    out (each with 630 random characters), so a process whose pumps poll its streams
    swells by the hour, idle or not. Our readers always go on with the next iterator."""
    out = _shard_iterator_get(self, limit)
    self.streams_backend.shard_iterators.pop(self.arn, None)
    return out


def drop_stream_records(shard: Any, read_up_to: int) -> int:
    """Drop a stream shard's records up to sequence number `read_up_to` (included). The
    rest keep their sequence numbers, so iterators past them read on as before."""
    count = max(0, min(read_up_to + 1 - shard.starting_sequence_number, len(shard.items)))
    del shard.items[:count]
    shard.starting_sequence_number += count
    return count


# The services whose models are not kept for moto's dashboard. S3 is not among them: its
# reset goes through that list to close the files its objects hold.
_UNTRACKED_SERVICES = frozenset({"dynamodb", "dynamodbstreams", "sqs", "events"})
_tracked_new = BaseModel.__new__


def _new_model(cls, *args, **kwargs):
    if cls.__module__.split(".")[1] in _UNTRACKED_SERVICES:
        return object.__new__(cls)
    return _tracked_new(cls, *args, **kwargs)


def apply() -> None:
    """Install the fixes (once; later calls change nothing)."""
    if BaseModel.__new__ is not _new_model:
        BaseModel.__new__ = staticmethod(_new_model)  # type: ignore[method-assign]
    if ShardIterator.get is not _get_once:
        ShardIterator.get = _get_once  # type: ignore[method-assign]
    if DynamoType.size is not _size:
        DynamoType.size = _size  # type: ignore[method-assign]
    if DynamoType.to_regular_json is not _regular_json:
        DynamoType.to_regular_json = _regular_json  # type: ignore[method-assign]
    if Table.query is not _query_one_partition:
        Table.query = _query_one_partition  # type: ignore[method-assign]
    if DynamoDBBackend.transact_write_items is not _transact_write_items:
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    if ResponseSerializer._serialize_type_structure is not _serialize_type_structure:
        ResponseSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
