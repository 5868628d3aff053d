"""`Tables` in memory: the port a `Store` writes through, without moto or boto3.

It takes each write exactly as DynamoDB would receive it (`Write.request()`: the wire
form, aliases filled in) and evaluates the expressions the store writes: conditions with
AND/OR/NOT, comparisons, IN, BETWEEN, attribute_exists/attribute_not_exists,
begins_with, contains; updates with SET (`+`/`-`, if_not_exists), ADD and REMOVE. A transaction
checks every condition before it changes anything, and refuses what DynamoDB refuses
(over 100 items, an item twice). `tests/services/test_memory_tables.py` runs the same
steps here and on moto and compares every table.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from backorders.adapters import dynamo
from backorders.adapters.dynamo import Write, WriteRefused, from_item, to_item
from backorders.topology import Index

_TOKEN = re.compile(r"\s*(#\w+|:\w+|[A-Za-z_]\w*|<>|<=|>=|[=<>(),+\-])")
_MISSING = object()


def _tokens(expression: str) -> list[str]:
    out, at = [], 0
    expression = expression.rstrip()
    while at < len(expression):
        m = _TOKEN.match(expression, at)
        if not m:
            raise ValueError(f"cannot read {expression[at:]!r} in {expression!r}")
        out.append(m.group(1))
        at = m.end()
    return out


class _Expression:
    """One expression over one item, with the request's names and values."""

    def __init__(self, expression: str, item: dict, names: dict[str, str], values: dict[str, Any]):
        self.tokens = _tokens(expression)
        self.at = 0
        self.item = item
        self.names = names
        self.values = values

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise ValueError(f"expected {expected or 'more'} at {token!r} in {' '.join(self.tokens)}")
        self.at += 1
        return token

    def path(self) -> str:
        token = self.take()
        return self.names[token] if token.startswith("#") else token

    # --- conditions -------------------------------------------------------------------

    def condition(self) -> bool:
        result = self._and()
        while (self.peek() or "").upper() == "OR":
            self.take()
            result = self._and() or result
        return result

    def _and(self) -> bool:
        result = self._not()
        while (self.peek() or "").upper() == "AND":
            self.take()
            result = self._not() and result
        return result

    def _not(self) -> bool:
        if (self.peek() or "").upper() == "NOT":
            self.take()
            return not self._not()
        return self._primary()

    def _primary(self) -> bool:
        token = self.peek() or ""
        if token == "(":
            self.take()
            result = self.condition()
            self.take(")")
            return result
        if token in ("attribute_exists", "attribute_not_exists"):
            self.take()
            self.take("(")
            present = self.path() in self.item
            self.take(")")
            return present if token == "attribute_exists" else not present
        if token == "contains":  # of a string, a set or a list
            self.take()
            self.take("(")
            whole = self.operand()
            self.take(",")
            part = self.operand()
            self.take(")")
            return isinstance(whole, (str, set, list)) and part in whole
        if token == "begins_with":
            self.take()
            self.take("(")
            whole = self.operand()
            self.take(",")
            start = self.operand()
            self.take(")")
            return isinstance(whole, str) and isinstance(start, str) and whole.startswith(start)
        left = self.operand()
        op = self.take().upper()
        if op == "IN":
            self.take("(")
            options = [self.operand()]
            while self.peek() == ",":
                self.take()
                options.append(self.operand())
            self.take(")")
            return left is not _MISSING and left in options
        if op == "BETWEEN":
            low = self.operand()
            self.take("AND")
            high = self.operand()
            return _compare(left, ">=", low) and _compare(left, "<=", high)
        return _compare(left, op, self.operand())

    # --- operands and updates -----------------------------------------------------------

    def operand(self) -> Any:
        token = self.take()
        if token.startswith(":"):
            return self.values[token]
        if token == "if_not_exists":
            self.take("(")
            current = self.item.get(self.path(), _MISSING)
            self.take(",")
            fallback = self.operand()
            self.take(")")
            return fallback if current is _MISSING else current
        self.at -= 1
        return self.item.get(self.path(), _MISSING)

    def value(self) -> Any:
        left = self.operand()
        if self.peek() in ("+", "-"):
            op = self.take()
            right = self.operand()
            if not isinstance(left, Decimal) or not isinstance(right, Decimal):
                raise ValueError("an operand in an arithmetic update is not a number")
            return left + right if op == "+" else left - right
        return left

    def apply_update(self) -> None:
        clause = None
        while self.peek() is not None:
            if self.peek().upper() in ("SET", "ADD", "REMOVE", "DELETE"):  # type: ignore[union-attr]
                clause = self.take().upper()
                continue
            if self.peek() == ",":
                self.take()
                continue
            name = self.path()
            if clause == "SET":
                self.take("=")
                self.item[name] = self.value()
            elif clause == "ADD":
                amount = self.operand()
                current = self.item.get(name)
                self.item[name] = ((current or set()) | amount) if isinstance(amount, set) else (current or Decimal(0)) + amount
            elif clause == "REMOVE":
                self.item.pop(name, None)
            else:
                raise ValueError(f"update clause {clause} is not supported here")


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return False
    if op == "=":
        return left == right
    if op == "<>":
        return left != right
    if type(left) is not type(right):
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _key(item: dict) -> tuple:
    return (item["pk"], item["sk"])


class MemoryTables:
    """`dynamo.Tables` in memory, for service tests that need no AWS at all."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple, dict]] = {}
        self.transactions = 0

    def _table(self, name: str) -> dict[tuple, dict]:
        return self.tables.setdefault(name, {})

    # --- reads ------------------------------------------------------------------------

    def get(self, table: str, key: dict) -> dict | None:
        item = self._table(table).get(_key(key))
        return copy.deepcopy(item) if item is not None else None

    def batch_get(self, table: str, keys: Iterable[dict]) -> list[dict]:
        return [item for item in (self.get(table, k) for k in keys) if item is not None]

    def query(self, table: str, pk: str, sk_prefix: str | None = None, limit: int | None = None) -> list[dict]:
        found = [i for (p, s), i in self._table(table).items() if p == pk and s.startswith(sk_prefix or "")]
        return copy.deepcopy(sorted(found, key=lambda i: i["sk"].encode())[:limit])

    def page(self, table: str, pk: str, sk_prefix: str, limit: int, after_sk: str | None = None) -> tuple[list[dict], str | None]:
        found = sorted(self.query(table, pk, sk_prefix), key=lambda i: i["sk"].encode(), reverse=True)
        if after_sk is not None:
            found = [i for i in found if i["sk"].encode() < after_sk.encode()]
        items = found[:limit]
        return items, (items[-1]["sk"] if len(found) > limit else None)

    def index_page(
        self, table: str, index: Index, pk: str, limit: int, start: dict | None = None,
        condition: str | None = None, values: dict[str, Any] | None = None,
    ) -> tuple[list[dict], dict | None]:
        def position(i: dict) -> tuple:
            return (i[index.sort_key].encode(), i["pk"].encode(), i["sk"].encode())

        found = [i for i in self._table(table).values() if i.get(index.partition_key) == pk and index.sort_key in i]
        found.sort(key=position, reverse=True)
        if start is not None:
            found = [i for i in found if position(i) < position(start)]
        evaluated = found[:limit]  # as DynamoDB: the limit, then the filter
        if condition is not None:
            names = {f"#{n}": n for n in re.findall(r"#(\w+)", condition)}
            wire = from_item({k: dynamo.to_attr(v) for k, v in (values or {}).items()})
            matched = [i for i in evaluated if _Expression(condition, i, names, wire).condition()]
        else:
            matched = evaluated
        keep = {"pk", "sk", index.partition_key, index.sort_key, *index.include}
        items = [{k: v for k, v in copy.deepcopy(i).items() if k in keep} for i in matched]
        last = evaluated[-1] if len(found) > limit else None
        return items, ({k: last[k] for k in ("pk", "sk", index.partition_key, index.sort_key)} if last else None)

    def index_due(self, table: str, index: Index, pk: str, before: str, since: str | None = None) -> Iterator[dict]:
        found = [i for i in self._table(table).values() if i.get(index.partition_key) == pk and index.sort_key in i]
        keep = {"pk", "sk", index.partition_key, index.sort_key, *index.include}
        for item in sorted(found, key=lambda i: (i[index.sort_key], i["pk"], i["sk"])):
            if (since is None or item[index.sort_key] >= since) and item[index.sort_key] < before:
                yield {k: v for k, v in copy.deepcopy(item).items() if k in keep}

    # --- writes -----------------------------------------------------------------------

    def transact(self, writes: list[Write]) -> None:
        if len(writes) > 1:
            dynamo._check_transaction(writes)
        requests = [w.request() for w in writes]
        reasons = ["ConditionalCheckFailed" if not self._condition_holds(r) else "None" for r in requests]
        if "ConditionalCheckFailed" in reasons:
            messages = ["The conditional request failed" if r != "None" else "" for r in reasons]
            raise WriteRefused(reasons, messages, writes)
        for write, request in zip(writes, requests, strict=True):
            self._apply(write.kind, request)
        self.transactions += 1

    def _current(self, request: dict) -> dict:
        key = from_item(request["Key"] if "Key" in request else request["Item"])
        return self._table(request["TableName"]).get(_key(key), {})

    def _condition_holds(self, request: dict) -> bool:
        if "ConditionExpression" not in request:
            return True
        names = request.get("ExpressionAttributeNames", {})
        values = from_item(request.get("ExpressionAttributeValues", {}))
        return _Expression(request["ConditionExpression"], self._current(request), names, values).condition()

    def _apply(self, kind: str, request: dict) -> None:
        table = self._table(request["TableName"])
        if kind == "Put":
            item = from_item(request["Item"])
            table[_key(item)] = item
            return
        key = from_item(request["Key"])
        if kind == "Delete":
            table.pop(_key(key), None)
            return
        item = {**copy.deepcopy(table.get(_key(key), {})), **key}
        names = request.get("ExpressionAttributeNames", {})
        values = from_item(request.get("ExpressionAttributeValues", {}))
        _Expression(request["UpdateExpression"], item, names, values).apply_update()
        # DynamoDB drops an emptied set; the item is stored as the wire would give it back
        table[_key(key)] = from_item(to_item(item))

    def items(self, table: str) -> list[dict]:
        """Every item of a table, in key order (for comparing whole tables)."""
        return [copy.deepcopy(i) for _, i in sorted(self._table(table).items())]
