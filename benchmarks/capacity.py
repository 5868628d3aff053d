"""DynamoDB capacity, AWS calls, invocations and events per order line, counted from the
calls the handlers really make, in-process on moto (tests.chain drives the chain).

How it counts
-------------
botocore event hooks on the two clients the domain uses (`backorders.adapters.dynamo.client()`
and `backorders.adapters.events.client()`, nothing else): `before-parameter-build` keeps the
request, `before-call` reads the items a write will touch, `after-call` reads them again
and prices the call from what was really there. Those snapshot reads go through a
separate, unhooked client: they are not counted. The domain's calls are not changed.

DynamoDB on-demand rules applied (sizes per `item_size`):
- PutItem: ceil(size / 1 KB) WRU, size = the larger of the item replaced and the new one;
- UpdateItem: the larger of the item before and after; DeleteItem: the deleted item;
- a refused conditional write still costs, for the item as it was (or as proposed);
- TransactWriteItems: 2x per item; a cancelled transaction is counted as if each of its
  writes had been made (the larger of before and proposed);
- GetItem: ceil(size / 4 KB) RRU strongly consistent, half eventually; an item not found
  still costs the minimum; BatchGetItem: the same, per key; Query/Scan: the total size of
  the items read, / 4 KB rounded up (minimum 1), half if eventually consistent;
  TransactGetItems: 2x.
- global secondary indexes (topology's `indexes`): a write that puts an item into an
  index, or takes it out, costs ceil(index item size / 1 KB) more (the index item: the
  keys and the projected attributes); one that changes an index key, both; one that
  changes only a projected attribute, the larger of before and after; one that changes
  neither, nothing. Not doubled in a transaction, not counted for a refused write.
Not counted, and free or not ours: DynamoDB Streams reads by Lambda's event source
mappings (GetRecords from Lambda is free) and the rules' delivery to their targets
(EventBridge invokes the function; the local SQS queue standing in for that is not ours).

Which handler made which call: every handler the driver invokes is wrapped; its stage is
the function's name, except the API: the webhook route is `webhook`, the handover route
(function on_handover) is `handover`, and any other route is set-up or a driver read.
"""

from __future__ import annotations

import io
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

KB = 1024
LINE_STAGES = ("webhook", "on_order_created", "create_po", "close_po_windows", "handover", "on_goods_received", "on_stock_changed")
HTTP_STAGES = ("webhook", "handover")  # the stages API Gateway bills a request for

# --- item size (DynamoDB's published rules) ---------------------------------------------


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "")
    if "e" in digits.lower():
        digits = digits.lower().split("e")[0]
    digits = digits.strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict) -> int:
    """Size in bytes of one attribute value in DynamoDB JSON ({"S": ...}, {"N": ...}, ...)."""
    [(kind, v)] = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in v.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict | None) -> int:
    """Sum of attribute name lengths and value sizes (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def index_units(table: str, before: dict | None, after: dict | None) -> int:
    """The write units a table write costs its indexes (see the module docstring)."""
    from backorders import topology  # after benchmarks.env.paths()

    tables = {t.name: t for t in topology.TABLES}
    units = 0
    for index in tables[table].indexes if table in tables else ():
        old, new = _index_item(index, before), _index_item(index, after)
        if old is None and new is None:
            continue
        if old is None or new is None:
            units += write_units(item_size(old or new))
        elif any(old[k] != new[k] for k in (index.partition_key, index.sort_key)):
            units += write_units(item_size(old)) + write_units(item_size(new))
        elif old != new:
            units += write_units(max(item_size(old), item_size(new)))
    return units


def _index_item(index: Any, item: dict | None) -> dict | None:
    """The item as `index` holds it (None when it is not in the sparse index)."""
    if not item or index.partition_key not in item or index.sort_key not in item:
        return None
    kept = {"pk", "sk", index.partition_key, index.sort_key, *index.include}
    return {k: v for k, v in item.items() if k in kept}


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / (4 * KB)))
    return float(units) if consistent else units / 2


# --- the meter ------------------------------------------------------------------------


@dataclass
class Call:
    stage: str
    service: str
    operation: str
    wru: float = 0.0
    rru: float = 0.0
    items: int = 0
    refused: bool = False
    events: int = 0
    tables: tuple[str, ...] = ()
    item_sizes: tuple[int, ...] = ()
    written: tuple[str, ...] = ()  # "<pk>|<sk>" of each item a write call touched


@dataclass
class Invocation:
    stage: str
    function: str
    seconds: float
    records: int


class Sink(io.TextIOBase):
    """Where the handlers' stdout (JSON logs, EMF metrics) goes: counted per stage by the
    meter attached last. One for the process: the handlers' loggers bind to it when the
    handler modules are first loaded, and those stay loaded."""

    meter: Meter | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        meter = self.meter
        if meter is not None and meter.enabled:
            meter.log_bytes[meter.stage or "outside"] += len(text.encode())
        return len(text)


_SINK = Sink()
_CURRENT: Meter | None = None


def _hook(method: str) -> Callable:
    """A botocore handler that forwards to the meter attached last (botocore keeps the first
    handler registered under a unique id, so the handler itself must not be a meter's)."""

    def forward(**kwargs: Any) -> None:
        if _CURRENT is not None:
            getattr(_CURRENT, method)(**kwargs)

    return forward


class Meter:
    def __init__(self):
        self.enabled = False
        self.stage: str | None = None
        self.calls: list[Call] = []
        self.invocations: list[Invocation] = []
        self.log_bytes: Counter = Counter()
        self.raw = None  # unhooked DynamoDB client for the snapshots
        self.profiler = None  # when set (cProfile.Profile), enabled inside handlers only
        self.metering = True  # False: counting() does nothing (hooks stay idle)
        self._keys: dict[str, tuple[str, str]] = {}

    def reset(self) -> None:
        self.calls, self.invocations, self.log_bytes = [], [], Counter()

    @contextmanager
    def counting(self):
        if not self.metering:
            yield self
            return
        self.enabled = True
        try:
            yield self
        finally:
            self.enabled = False

    # --- hooks ----------------------------------------------------------------------

    def attach(self, dynamodb, events, raw, key_names: dict[str, tuple[str, str]]) -> None:
        """Count the calls of these clients from now on (in place of any meter before)."""
        global _CURRENT
        self.raw = raw
        self._keys = key_names
        _CURRENT = self
        _SINK.meter = self
        ddb = dynamodb.meta.events
        ddb.register("before-parameter-build.dynamodb.*", _hook("_params"), unique_id="bench-ddb-params")
        ddb.register("before-call.dynamodb.*", _hook("_before"), unique_id="bench-ddb-before")
        ddb.register("after-call.dynamodb.*", _hook("_after_dynamodb"), unique_id="bench-ddb-after")
        ev = events.meta.events
        ev.register("before-parameter-build.eventbridge.*", _hook("_params"), unique_id="bench-ev-params")
        ev.register("after-call.eventbridge.*", _hook("_after_events"), unique_id="bench-ev-after")

    def _params(self, params: dict, model, context: dict, **_: Any) -> None:
        context["bench"] = {"params": params, "before": {}}

    def _targets(self, operation: str, params: dict) -> list[tuple[str, str, dict, dict | None]]:
        """(kind, table, key, proposed item) of each item a write touches."""
        out = []
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            kind = operation[: -len("Item")]
            out.append((kind, params["TableName"], self._key(params), params.get("Item")))
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                [(kind, body)] = entry.items()
                out.append((kind, body["TableName"], self._key(body), body.get("Item")))
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    if "PutRequest" in r:
                        item = r["PutRequest"]["Item"]
                        out.append(("Put", table, self._key({"TableName": table, "Item": item}), item))
                    else:
                        out.append(("Delete", table, r["DeleteRequest"]["Key"], None))
        return out

    def _key(self, body: dict) -> dict:
        if "Key" in body:
            return body["Key"]
        pk, sk = self._keys[body["TableName"]]
        return {pk: body["Item"][pk], sk: body["Item"][sk]}

    def _snapshot(self, table: str, key: dict) -> dict | None:
        return self.raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def _before(self, model, context: dict, **_: Any) -> None:
        if not self.enabled or "bench" not in context:
            return
        bench = context["bench"]
        bench["targets"] = self._targets(model.name, bench["params"])
        bench["before"] = [self._snapshot(t, k) for _, t, k, _ in bench["targets"]]

    def _after_dynamodb(self, http_response, parsed: dict, model, context: dict, **_: Any) -> None:
        if not self.enabled or "bench" not in context:
            return
        op, params = model.name, context["bench"]["params"]
        refused = http_response.status_code >= 300
        call = Call(self.stage or "outside", "dynamodb", op, refused=refused)
        if op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
            factor = 2 if op == "TransactWriteItems" else 1
            sizes = []
            for (kind, table, key, proposed), before in zip(context["bench"]["targets"], context["bench"]["before"], strict=False):
                after = None if kind == "Delete" else self._snapshot(table, key)
                if kind == "Delete" or kind == "ConditionCheck":
                    size = item_size(before)
                else:
                    size = max(item_size(before), item_size(after), item_size(proposed))
                sizes.append(size)
                call.wru += factor * write_units(size)
                if not refused:
                    call.wru += index_units(table, before, after)
                call.tables += (table,)
            call.items, call.item_sizes = len(sizes), tuple(sizes)
            call.written = tuple("|".join(str(next(iter(v.values()))) for v in key.values()) for _, _, key, _ in context["bench"]["targets"])
        elif op == "GetItem":
            size = item_size(parsed.get("Item"))
            call.rru = read_units(size, bool(params.get("ConsistentRead")))
            call.items, call.tables, call.item_sizes = 1, (params["TableName"],), (size,)
        elif op in ("Query", "Scan"):
            sizes = tuple(item_size(i) for i in parsed.get("Items", []))
            call.rru = read_units(sum(sizes), bool(params.get("ConsistentRead")))
            call.items, call.tables, call.item_sizes = len(sizes), (params["TableName"],), sizes
        elif op == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                found = parsed.get("Responses", {}).get(table, [])
                unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
                consistent = bool(request.get("ConsistentRead"))
                sizes = tuple(item_size(i) for i in found)
                missing = len(request["Keys"]) - unprocessed - len(found)
                call.rru += sum(read_units(s, consistent) for s in sizes) + missing * read_units(0, consistent)
                call.items += len(request["Keys"]) - unprocessed
                call.tables += (table,)
                call.item_sizes += sizes
        elif op == "TransactGetItems":
            for entry, got in zip(params["TransactItems"], parsed.get("Responses", []), strict=False):
                size = item_size(got.get("Item"))
                call.rru += 2 * read_units(size, True)
                call.items += 1
                call.tables += (entry["Get"]["TableName"],)
        self.calls.append(call)

    def _after_events(self, http_response, parsed: dict, model, context: dict, **_: Any) -> None:
        if not self.enabled or "bench" not in context:
            return
        entries = context["bench"]["params"].get("Entries", []) if model.name == "PutEvents" else []
        self.calls.append(Call(self.stage or "outside", "events", model.name, events=len(entries)))

    # --- handlers -------------------------------------------------------------------

    def wrap(self, function: str, handler: Callable) -> Callable:
        if getattr(handler, "_bench_wrapped", False):
            return handler

        def metered(event: dict, context: Any) -> Any:
            stage = stage_of(function, event)
            outer, self.stage = self.stage, stage
            started = time.perf_counter()
            if self.profiler is not None:
                self.profiler.enable()
            try:
                return handler(event, context)
            finally:
                if self.profiler is not None:
                    self.profiler.disable()
                if self.enabled:
                    records = len(event.get("Records", [])) if isinstance(event, dict) and "Records" in event else 1
                    self.invocations.append(Invocation(stage, function, time.perf_counter() - started, records))
                self.stage = outer

        metered._bench_wrapped = True  # type: ignore[attr-defined]
        return metered


def stage_of(function: str, event: Any) -> str:
    if function == "on_handover":
        return "handover"
    if function == "api":
        resource = event.get("resource", "") if isinstance(event, dict) else ""
        if event.get("httpMethod") == "POST" and resource == "/v1/sellers/{seller_id}/orders":
            return "webhook"
        return "driver"  # set-up (admin) and reads by the benchmark itself: not counted
    return function


# --- running the chain ------------------------------------------------------------------


@dataclass
class Totals:
    lines: int
    per_stage: dict[str, dict[str, float]] = field(default_factory=dict)

    def total(self, key: str, stages: Iterable[str] = LINE_STAGES) -> float:
        return sum(self.per_stage.get(s, {}).get(key, 0.0) for s in stages)


def summarise(meter: Meter, lines: int) -> Totals:
    """Per stage, per line: wru, rru, calls (AWS), dynamodb calls, events, invocations,
    records per invocation, mean handler ms, log bytes, and the operations made."""
    stages: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    ops: dict[str, Counter] = defaultdict(Counter)
    for c in meter.calls:
        s = stages[c.stage]
        s["wru"] += c.wru
        s["rru"] += c.rru
        s["aws_calls"] += 1
        s["dynamodb_calls"] += c.service == "dynamodb"
        s["events"] += c.events
        s["refused_writes"] += c.refused
        ops[c.stage][c.operation + (f"[{c.items}]" if c.operation.startswith(("Transact", "Batch")) else "")] += 1
    for inv in meter.invocations:
        s = stages[inv.stage]
        s["invocations"] += 1
        s["records"] += inv.records
        s["handler_s"] += inv.seconds
    for stage, n in meter.log_bytes.items():
        stages[stage]["log_bytes"] += n
    totals = Totals(lines)
    for stage, s in stages.items():
        inv = s.get("invocations", 0.0)
        totals.per_stage[stage] = {
            "wru": s["wru"] / lines,
            "rru": s["rru"] / lines,
            "aws_calls": s["aws_calls"] / lines,
            "dynamodb_calls": s["dynamodb_calls"] / lines,
            "events": s["events"] / lines,
            "invocations": inv / lines,
            "records_per_invocation": (s["records"] / inv) if inv else 0.0,
            "handler_ms_mean": (1000 * s["handler_s"] / inv) if inv else 0.0,
            "log_bytes": s["log_bytes"] / lines,
            "refused_writes": s["refused_writes"] / lines,
            "operations": {op: n / lines for op, n in sorted(ops[stage].items())},
        }
    return totals


class Bench:
    """tests.chain.Chain on moto, with every handler wrapped by the meter and the
    domain's clients hooked."""

    def __init__(self, chain, meter: Meter):
        self.chain = chain
        self.meter = meter

    @classmethod
    @contextmanager
    def started(cls, meter: Meter):
        import boto3

        from backorders import topology
        from backorders.adapters import dynamo, events
        from tests.chain import Chain

        # The handlers' loggers bind to stdout when first loaded: load them with the sink
        # in place, so their JSON lines are counted, not printed.
        with redirect_stdout(_SINK), Chain.started() as chain:
            keys = {t.name: (t.partition_key, t.sort_key) for t in topology.TABLES}
            meter.attach(dynamo.client(), events.client(), boto3.client("dynamodb"), keys)
            for name, handler in list(chain.handlers.items()):
                chain.handlers[name] = meter.wrap(name, handler)
            for pump in [*chain.pumps, *chain.queue_pumps]:
                pump.handler = meter.wrap(pump.function.name, pump.handler)
            yield cls(chain, meter)

    def drain(self) -> None:
        self.chain.drain()


def _order_status(bench: Bench, seller: str, order_id: str) -> dict:
    with _paused(bench.meter):
        return bench.chain.get_order(seller, order_id)


@contextmanager
def _paused(meter: Meter):
    was, meter.enabled = meter.enabled, False
    try:
        yield
    finally:
        meter.enabled = was


def _setup(bench: Bench, seller: str, vendor: str, skus: dict[str, int]) -> None:
    c = bench.chain
    c.seller(seller)
    c.vendor(vendor)
    for sku, stock in skus.items():
        assert c.map_sku(seller, sku, vendor).status == 200
        if stock:
            assert c.stock(seller, sku, stock, adjustment_id=f"open-{sku}").status == 201
    bench.drain()


def backordered_lines(bench: Bench, n: int, qty: int = 2) -> Totals:
    """n orders of one line each, for a SKU with no stock: webhook -> stock assignment
    (none) -> PO + vendor order -> one full handover (auto GRN) -> assignment -> ready.
    Each step drained before the next, so each stream record is a batch of one."""
    from backorders.domain import ids

    seller, vendor, sku = "s-bo", "v-bo", "SKU-BO"
    _setup(bench, seller, vendor, {sku: 0})
    meter, c = bench.meter, bench.chain
    meter.reset()
    for i in range(n):
        order_id = f"o-bo-{i}"
        with meter.counting():
            assert c.order(seller, order_id, (sku, qty)).status == 201
            bench.drain()
        po_id = ids.purchase_order_id(seller, order_id, vendor)
        vo_id = ids.vendor_order_id(seller, po_id, vendor)
        with meter.counting():
            assert c.hand_over(vendor, vo_id, f"h-bo-{i}", (sku, qty)).status == 202
            bench.drain()
        status = _order_status(bench, seller, order_id)["status"]
        assert status == "ready", f"backordered line did not end ready: {status}"
    return summarise(meter, n)


def window_lines(bench: Bench, n: int, per_window: int = 5, qty: int = 2) -> Totals:
    """As backordered_lines, for a seller with a consolidation window: `per_window` orders
    join one open PO, the window closes (its PO approved, its vendor order created), one
    handover brings everything, and every order ends ready."""
    seller, vendor, sku = "s-win", "v-win", "SKU-WIN"
    _setup(bench, seller, vendor, {sku: 0})
    c = bench.chain
    c.seller(seller, po_consolidation_minutes=30)
    meter = bench.meter
    meter.reset()
    for w in range(0, n, per_window):
        orders = [f"o-win-{i}" for i in range(w, min(n, w + per_window))]
        for order_id in orders:
            with meter.counting():
                assert c.order(seller, order_id, (sku, qty)).status == 201
                bench.drain()
        with _paused(meter):
            c.windows_due_now()  # time passes (the test's own writes, not counted)
        with meter.counting():
            c.pump_po_windows()
            bench.drain()
        with _paused(meter):
            [vo] = [v for v in c.vendor_orders(vendor) if v["status"] == "approved"]
        with meter.counting():
            assert c.hand_over(vendor, vo["vendor_order_id"], f"h-win-{w}", (sku, qty * len(orders))).status == 202
            bench.drain()
        for order_id in orders:
            status = _order_status(bench, seller, order_id)["status"]
            assert status == "ready", f"backordered line in a window did not end ready: {status}"
    return summarise(meter, n)


def instock_lines(bench: Bench, n: int, stock: int | None = None) -> Totals:
    """n orders of one line each (qty 1), fully in stock: webhook -> assignment -> ready.
    The bin keeps available stock after each order (stock = 10 n), so the inventory
    stream offers it to waiting orders each time (on_stock_changed), as it would."""
    seller, vendor, sku = "s-in", "v-in", "SKU-IN"
    _setup(bench, seller, vendor, {sku: stock or 10 * n})
    meter, c = bench.meter, bench.chain
    meter.reset()
    for i in range(n):
        order_id = f"o-in-{i}"
        with meter.counting():
            assert c.order(seller, order_id, (sku, 1)).status == 201
            bench.drain()
        status = _order_status(bench, seller, order_id)["status"]
        assert status == "ready", f"in-stock line did not end ready: {status}"
    return summarise(meter, n)


def hot_sku(bench: Bench, orders: int, shards: int) -> float:
    """The busiest stock item's share of the stock writes `orders` orders of 1 make, at
    once, for one SKU whose Default Bin is spread over `shards` shards, with four times
    that stock (so that the first bins in line never run dry). One item takes about 1,000
    write units a second: 1 / share is how many times that rate the SKU can take."""
    seller, vendor, sku = f"s-hot-{shards}", f"v-hot-{shards}", f"SKU-HOT-{shards}"
    _setup(bench, seller, vendor, {sku: 0})
    c, meter = bench.chain, bench.meter
    with _paused(meter):
        assert c.admin("PUT", f"/v1/sellers/{seller}/skus/{sku}", {"vendor_id": vendor, "stock_shards": shards}).status == 200
        assert c.stock(seller, sku, 4 * orders, adjustment_id=f"hot-{shards}").status == 201
        bench.drain()
    meter.reset()
    with meter.counting():
        for i in range(orders):
            c.order(seller, f"o-hot-{shards}-{i}", (sku, 1))
        bench.drain()
    # taken in the webhook's request (all in stock), or by on_order_created
    writes = Counter(k for call in meter.calls if call.stage in ("webhook", "on_order_created") for k in call.written if "|BIN#" in k)
    return max(writes.values()) / sum(writes.values())


def stream_batches(bench: Bench, size: int = 10) -> dict:
    """Read calls per stream record when a batch of `size` records arrives in one
    invocation, against a batch of one: do the stream handlers read with batched calls?
    (They do when reads per record fall as the batch grows.)"""
    from unittest import mock

    from backorders.domain import ids
    from backorders.services import purchasing

    seller, vendor, sku = "s-batch", "v-batch", "SKU-BATCH"
    _setup(bench, seller, vendor, {sku: 0})
    meter, c = bench.meter, bench.chain
    reads = ("GetItem", "Query", "BatchGetItem", "Scan", "TransactGetItems")

    def per_record(stage: str) -> tuple[float, float]:
        calls = [x for x in meter.calls if x.stage == stage and x.operation in reads]
        records = sum(i.records for i in meter.invocations if i.stage == stage)
        invocations = sum(1 for i in meter.invocations if i.stage == stage)
        return len(calls) / max(records, 1), records / max(invocations, 1)

    out: dict[str, dict] = {}
    for label, batch in (("batch_1", 1), (f"batch_{size}", size)):
        meter.reset()
        orders = [f"o-{label}-{i}" for i in range(batch)]
        with meter.counting():
            for order_id in orders:
                assert c.order(seller, order_id, (sku, 1)).status == 201
            bench.drain()
        # GRNs whose goods the purchasing stream gives out (those for more orders than the
        # handover's own transaction takes): a handover otherwise leaves it nothing to do
        with mock.patch.object(purchasing, "GIVE_AT_ONCE", 0):
            for i, order_id in enumerate(orders):
                po_id = ids.purchase_order_id(seller, order_id, vendor)
                vo_id = ids.vendor_order_id(seller, po_id, vendor)
                with meter.counting():
                    assert c.hand_over(vendor, vo_id, f"h-{label}-{i}", (sku, 1)).status == 202
        with meter.counting():
            bench.drain()
        for stage in ("on_order_created", "on_goods_received"):
            calls, records = per_record(stage)
            out.setdefault(stage, {})[label] = {"read_calls_per_record": round(calls, 3), "records_per_invocation": round(records, 2)}
    batched = all(v[f"batch_{size}"]["read_calls_per_record"] < v["batch_1"]["read_calls_per_record"] for v in out.values())
    return {"per_function": out, "batched_reads": batched, "batch_size": size}


def reconcile_passes(bench: Bench, settled: Sequence[int] = (1_000, 20_000), waiting: int = 10) -> dict:
    """Read units of one reconciler pass (all work counted as due) over the same open work,
    `waiting` orders waiting on a PO, beside each number of settled orders (ready, their
    PO, vendor order, handover and GRN done). A pass that reads the work index costs the
    same at each size; one that scanned the tables would grow with them.

    The settled history is one order taken through the whole chain, then copied under new
    ids straight into the tables (the chain would take minutes for 20,000)."""
    from datetime import timedelta

    import boto3

    from backorders import topology
    from backorders.adapters.store import Store
    from backorders.domain import ids
    from backorders.services.reconcile import reconcile

    seller, vendor, sku = "s-rc", "v-rc", "SKU-RC"
    _setup(bench, seller, vendor, {sku: 0})
    c, meter, raw = bench.chain, bench.meter, boto3.client("dynamodb")
    with _paused(meter):
        for i in range(waiting):
            assert c.order(seller, f"o-rc-wait-{i}", (sku, 1)).status == 201
        assert c.order(seller, "o-rc-done", (sku, 1)).status == 201
        bench.drain()
        po_id = ids.purchase_order_id(seller, "o-rc-done", vendor)
        vo_id = ids.vendor_order_id(seller, po_id, vendor)
        assert c.hand_over(vendor, vo_id, "h-rc-done", (sku, 1)).status == 202
        bench.drain()
        assert _order_status(bench, seller, "o-rc-done")["status"] == "ready"
        # the settled order and what purchasing kept of it: everything that names it
        history = [(topology.ORDERS.name, item) for item in raw.scan(TableName=topology.ORDERS.name)["Items"] if "o-rc-done" in str(item["pk"])] + [
            (topology.PURCHASING.name, item)
            for item in raw.scan(TableName=topology.PURCHASING.name)["Items"]
            if any(tag in str(item) for tag in ("o-rc-done", "h-rc-done", po_id))
        ]
    grn_ids = [item["grn_id"]["S"] for _, item in history if item.get("entity", {}).get("S") == "GRN"]
    names = ["o-rc-done", "h-rc-done", po_id, vo_id, *grn_ids]
    assert not any("work_pk" in item for _, item in history), "settled work left in the work index"
    history_bytes = sum(item_size(item) for _, item in history)

    out: dict[str, Any] = {"waiting_orders": waiting, "settled_items_per_order": len(history)}
    made = 0
    for size in settled:
        with _paused(meter):
            _copy_history(raw, history, names, range(made, size))
        made = size
        meter.reset()
        meter.stage = "reconcile"
        with meter.counting():
            repairs = reconcile(Store(), None, older_than=timedelta(0))  # type: ignore[arg-type]
        meter.stage = None
        assert not repairs, f"the pass found something to repair: {dict(repairs)}"
        out[f"rru_per_pass_{size}"] = round(sum(x.rru for x in meter.calls), 1)
        out[f"read_calls_per_pass_{size}"] = sum(1 for x in meter.calls if x.rru)
        # what one consistent scan of the settled history alone would have read
        out[f"scan_rru_estimate_{size}"] = math.ceil(size * history_bytes / (4 * KB))
    return out


def reconcile_waiting(bench: Bench, waiting: Sequence[int] = (20, 200)) -> dict:
    """What an order waiting for its vendor costs the reconciler, in read units per day
    of its wait: one cycle of scheduled passes (each looking at the recent work and one
    slice of the older) a day after the orders came, at each number of waiting orders; the
    difference per order, times the cycles in a day. Beside it, what it cost when every pass
    looked at all open work (one pass, times the passes in a day)."""
    from datetime import UTC, datetime, timedelta

    from backorders import topology
    from backorders.adapters.store import Store
    from backorders.services.reconcile import SWEEP_SLICES, reconcile

    seller, vendor, sku = "s-rw", "v-rw", "SKU-RW"
    _setup(bench, seller, vendor, {sku: 0})
    c, meter = bench.chain, bench.meter
    passes_a_day = 24 * 60 // topology.RECONCILE_EVERY_MINUTES
    later = datetime.now(UTC) + timedelta(days=1)
    cycle, every_pass, made = {}, {}, 0

    def read_units(pass_numbers: Sequence[int | None]) -> float:
        meter.reset()
        meter.stage = "reconcile"
        with meter.counting():
            for number in pass_numbers:
                repairs = reconcile(Store(), None, older_than=timedelta(minutes=15), now=later, pass_number=number)  # type: ignore[arg-type]
                assert not repairs, f"the pass found something to repair: {dict(repairs)}"
        meter.stage = None
        return sum(x.rru for x in meter.calls)

    for n in waiting:
        with _paused(meter):
            for i in range(made, n):
                assert c.order(seller, f"o-rw-{i}", (sku, 1)).status == 201
            bench.drain()
        made = n
        cycle[n] = read_units(range(5000, 5000 + SWEEP_SLICES))
        every_pass[n] = read_units([None])
    few, many = waiting[0], waiting[-1]
    per_order_cycle = (cycle[many] - cycle[few]) / (many - few)
    per_order_pass = (every_pass[many] - every_pass[few]) / (many - few)
    return {
        "waiting_orders": list(waiting),
        "rru_per_cycle": {str(n): round(v, 1) for n, v in cycle.items()},
        "rru_per_waiting_order_day": round(per_order_cycle * passes_a_day / SWEEP_SLICES, 2),
        "rru_per_waiting_order_day_every_pass": round(per_order_pass * passes_a_day, 2),
    }


def _copy_history(raw, history: list[tuple[str, dict]], names: Sequence[str], numbers: Iterable[int]) -> None:
    """Copies of the settled order's items, each copy's ids (`names`) made its own."""
    import json

    requests: dict[str, list] = {}
    for n in numbers:
        for table, item in history:
            text = json.dumps(item)
            for name in names:
                text = text.replace(name, f"{name}-{n}")
            requests.setdefault(table, []).append({"PutRequest": {"Item": json.loads(text)}})
            if len(requests[table]) == 25:
                raw.batch_write_item(RequestItems={table: requests.pop(table)})
    for table, batch in requests.items():
        raw.batch_write_item(RequestItems={table: batch})
