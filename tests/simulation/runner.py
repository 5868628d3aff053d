"""Runs a scenario through the whole chain on moto, under a delivery schedule and
(optionally) faults, checking the invariants after every step.

A *step* is one HTTP operation or one handler invocation; the conservation rules of
tests/invariants.py are checked after each. A *drain* pumps stream records and rule
events until nothing moves, then replays what was parked in an on-failure queue or a
DLQ (now or, under the random schedule, some operations later), until nothing is left.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from backorders import topology
from backorders.adapters import dynamo
from backorders.domain import security
from backorders_local.functions import context_for
from backorders_local.pumps import RulePump, StreamPump
from tests import invariants
from tests.chain import ADMIN, Chain
from tests.simulation.faults import Crash, Faults, record_id
from tests.simulation.scenario import Generator, Op

_d = TypeDeserializer()
REGION = "us-east-1"
MAX_ROUNDS = 500


def stored() -> dict[str, list[dict]]:
    """Every item of every table, as DynamoDB's JSON, read from moto's memory: the same
    as a Scan, many times faster (the invariants are checked after every step)."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    return {t.name: [i.to_json()["Attributes"] for i in backend.get_table(t.name).all_items()] for t in topology.TABLES}


def deserialised(raw: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {table: [{k: _d.deserialize(v) for k, v in item.items()} for item in items] for table, items in raw.items()}


def snapshot() -> dict:
    """Every item of every table, without what differs between two runs (times, secrets)."""
    out = {}
    for table, items in stored().items():
        for item in items:
            sk = item["sk"]["S"]
            if sk.startswith("WAIT#"):  # queued by order time: WAIT#<created_at>#<order>#<line>
                sk = "WAIT#" + sk.split("#", 2)[2]
            out[(table, item["pk"]["S"], sk)] = invariants.without_volatile(item, also=frozenset({"sk"}))
    return out


def diff(a: dict, b: dict, limit: int = 12) -> str:
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            lines.append(f"  {key}:\n    fault-free: {a.get(key)}\n    with faults: {b.get(key)}")
    return "\n".join(lines[:limit]) + (f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else "")


@dataclass
class Answer:
    status: int | None
    body: Any
    retried: bool = False  # the request crashed after its write and was sent again

    def same_as(self, fault_free: Answer) -> bool:
        # A request that crashed after its write and was sent again finds it done: 200
        # where the first answer would have been 201; the body is the same.
        statuses = {self.status, fault_free.status}
        same_status = self.status == fault_free.status or (self.retried and statuses == {200, 201})
        return same_status and invariants.without_volatile(self.body) == invariants.without_volatile(fault_free.body)

    def __str__(self) -> str:
        return f"{self.status} {invariants.without_volatile(self.body)}" + (" (sent again after a crash)" if self.retried else "")


class _ShuffledSqs:
    """An SQS client whose ReceiveMessage hands messages over in a random order."""

    def __init__(self, real, rng: random.Random):
        self._real, self._rng = real, rng

    def receive_message(self, **kwargs):
        out = self._real.receive_message(**kwargs)
        self._rng.shuffle(out.get("Messages", []))
        return out

    def __getattr__(self, name):
        return getattr(self._real, name)


def _item_key(record: dict) -> tuple[str, str, str]:
    keys = record["dynamodb"]["Keys"]
    return record["eventSourceARN"].split("/")[1], keys["pk"]["S"], keys["sk"]["S"]


def _describe(kind: str, payload: Any) -> str:
    """What a parked record or event is about, the same in every run (unlike sequence numbers)."""
    if kind == "stream":
        keys = payload["dynamodb"]["Keys"]
        return f"{payload['eventSourceARN'].split('/')[1]}:{keys['pk']['S']}/{keys['sk']['S']}"
    event = json.loads(payload)
    return f"{event['detail-type']}:{json.dumps(event['detail'], sort_keys=True)}"


@dataclass
class Parked:
    function: str
    kind: str  # "stream" | "rule"
    key: str  # record id or event id
    payload: Any  # the stream record, or the event's message body
    due: int  # replay once this many operations are done


class Sim:
    """One run of a scenario in one moto world (a started Chain)."""

    def __init__(self, chain: Chain, *, seed: int, schedule: str, faults: Faults):
        """`faults` must be installed (Faults.installed) for the run; Faults.none() for
        a fault-free run. `schedule`: "natural" (the pumps in the topology's order, each
        batch as the stream has it), "permuted" (an order derived from the seed and the
        content, the same in every run) or "random"."""
        assert schedule in ("natural", "permuted", "random")
        self.chain, self.seed, self.schedule, self.faults = chain, seed, schedule, faults
        self.rng = random.Random(f"{seed}/schedule")
        self.sqs = boto3.client("sqs")
        self.pumps: list = chain.pumps
        self.by_name = {p.function.name: p for p in self.pumps}
        self.originals: dict[str, Callable] = {}
        self.answers: dict[int, Answer] = {}  # operation index -> answer
        self._index: dict[int, int] = {}  # id(op) -> its index in the run
        self._pending: deque[Op] = deque()  # operations not run yet (another may run inside a step)
        self.seen_records: dict[str, dict[str, dict]] = defaultdict(dict)  # function -> record id -> record
        self.seen_events: dict[str, str] = {}  # event id -> message body
        self.parked: list[Parked] = []
        self.replays: Counter = Counter()
        self.failed_for_good: set[str] = set()
        self.ignore: set[tuple[str, str, str]] = set()  # malformed items written on purpose
        self.ops_done = 0
        self.since_drain = 0
        self.checks = 0
        self._checked_at = -1  # the write count when the invariants were last checked
        self._pumped_at: dict[str, int] = {}  # per function: writes to its source when last pumped
        self._sent_to_rule = False  # a message sent to the rule's queue by hand
        self._parking_seen = 0
        for pump in self.pumps:
            if isinstance(pump, StreamPump):
                pump.refresh_shards_every_s = 3600.0  # the tables' shards never change here
            else:
                pump.retry_delay_s = 0  # a failed event is visible again at once
            self.originals[pump.function.name] = pump.handler
            pump.handler = self._wrap(pump)
            if isinstance(pump, RulePump) and schedule == "random":
                pump.sqs = _ShuffledSqs(pump.sqs, self.rng)

    # --- checks -------------------------------------------------------------------------

    def check(self, force: bool = False) -> None:
        """The invariants, unless nothing was written since they were last checked."""
        if force or self.faults.writes != self._checked_at:
            self.checks += 1
            self._checked_at = self.faults.writes
            invariants.check(ignore=self.ignore, items=deserialised(stored()))

    def check_settled(self) -> None:
        invariants.check_settled(ignore=self.ignore, items=deserialised(stored()))

    # --- handler invocations --------------------------------------------------------------

    def _order_records(self, records: list[dict]) -> list[dict]:
        """The order a batch's records are processed in. Records of one partition key keep
        their order (as one shard would); across keys, the schedule decides."""
        if self.schedule == "natural" or len(records) < 2:
            return records
        groups: dict[str, list[dict]] = {}
        for r in records:
            groups.setdefault(r["dynamodb"]["Keys"]["pk"]["S"], []).append(r)
        keys = list(groups)
        if self.schedule == "permuted":  # the same for the same content, in every run
            keys.sort(key=lambda pk: hashlib.sha256(f"{self.seed}/{pk}".encode()).hexdigest())
        else:
            self.rng.shuffle(keys)
        return [r for k in keys for r in groups[k]]

    def _wrap(self, pump) -> Callable:
        name = pump.function.name
        original = self.originals[name]

        if isinstance(pump, StreamPump):

            def stream_handler(event: dict, context) -> dict | None:
                pump_order = event["Records"]
                for r in pump_order:
                    if _item_key(r) not in self.ignore:  # poison fails whenever it comes
                        self.seen_records[name].setdefault(record_id(r), r)
                ordered = {"Records": self._order_records(pump_order)}
                try:
                    return self.faults.stream(name, original, ordered, pump_order, context)
                finally:
                    self.check()

            return stream_handler

        def rule_handler(event: dict, context):
            self.seen_events.setdefault(event["id"], json.dumps(event))
            try:
                return self.faults.rule(name, original, event, context)
            finally:
                self.check()

        return rule_handler

    # --- HTTP -------------------------------------------------------------------------------

    def http(self, op: Op) -> Answer:
        self.ops_done += 1
        self.since_drain += 1
        if op.kind == "poison":
            dynamo.client().put_item(TableName=op.path, Item=dynamo.to_item(op.body))  # counted
            self.ignore.add((op.path, op.body["pk"], op.body["sk"]))
            answer = Answer(None, None)
        elif op.kind == "close_windows":
            self._close_windows()
            answer = Answer(None, None)
        else:
            answer = self._send(op)
            if op.setup and answer.status == 201:
                registry = self.chain.sellers if op.kind == "seller" else self.chain.vendors
                registry[op.path.split("/")[3]] = answer.body
        self.answers[self._index.get(id(op), len(self.answers))] = answer
        self.check(force=op.kind == "poison")
        return answer

    def _send(self, op: Op) -> Answer:
        retried = False
        for attempt in range(4):
            k = None
            if not op.setup and attempt < 2:
                k = self.faults.http_crash(op.kind)
            try:
                if k:
                    self.faults.log.append(f"http crash: {op.kind} {op.path}")
                    with self.faults.armed(k, Crash, f"HTTP {op.kind}"):
                        out = self._call(op)
                else:
                    out = self._call(op)
            except Crash:
                retried = True  # no answer came back: the client sends the same request again
                continue
            return Answer(out.status, out.body, retried)
        raise AssertionError(f"{op.describe()} never answered")

    def _close_windows(self) -> None:
        """The windows close; a crash in the closing function leaves its message on the
        queue, which comes back (here: at once) until it is done."""
        for attempt in range(4):
            k = self.faults.http_crash("close_windows") if attempt < 2 else None
            if k:  # after one of its writes: a closing time moved, or a window closed
                k = self.faults.rng.randint(1, 4)
            try:
                if k:
                    self.faults.log.append("crash: closing the PO windows")
                    with self.faults.armed(k, Crash, "close_po_windows"):
                        self.chain.close_po_windows(drain=False)
                else:
                    self.chain.close_po_windows(drain=False)
                return
            except Crash:
                continue
        raise AssertionError("the PO windows never closed")

    def _call(self, op: Op):
        c = self.chain
        if op.auth == "signed":
            raw = b"" if op.body is None else json.dumps(op.body).encode()
            headers = {"X-Signature": security.sign(raw, c.sellers[op.account]["webhook_secret"])}
            return c.call(op.method, op.path, headers=headers, raw=raw)
        if op.auth == "admin":
            headers = ADMIN
        else:
            registry = c.sellers if op.auth == "seller" else c.vendors
            headers = {"X-Api-Key": registry[op.account]["api_key"]}
        return c.call(op.method, op.path, op.body, headers)

    # --- draining ----------------------------------------------------------------------------

    def _pump(self, pump) -> int:
        """pump.pump(), unless its source has certainly nothing new: every write goes
        through the counted clients (a poll of a quiet stream costs as much as a step)."""
        name = pump.function.name
        source = pump.function.stream.table.name if isinstance(pump, StreamPump) else "events"
        writes = self.faults.writes_to[source]
        if isinstance(pump, RulePump) and self._sent_to_rule:
            self._sent_to_rule = False
        elif self._pumped_at.get(name) == writes:
            return 0
        self._pumped_at[name] = writes
        moved = pump.pump()
        if moved and isinstance(pump, RulePump):
            self._pumped_at.pop(name)  # failed events become visible again: look again
        return moved

    def _pump_order(self, rng: random.Random) -> list:
        if self.schedule == "natural":
            return self.pumps
        return rng.sample(self.pumps, len(self.pumps))

    def drain(self, final: bool = False) -> None:
        """Deliver everything pending (and whatever it causes), replaying parked records
        and events when they are due."""
        kind = "single" if self.since_drain <= 1 else "burst"
        self.since_drain = 0
        self.faults.drain_kind = kind
        # permuted: the same order for the drain after the same operation, in every run
        order_rng = random.Random(f"{self.seed}/pumps/{self.ops_done}") if self.schedule == "permuted" else self.rng
        order = self._pump_order(order_rng)
        for _ in range(MAX_ROUNDS):
            if self.schedule == "random":
                order = self._pump_order(self.rng)
            if sum(self._pump(p) for p in order):
                continue
            self._collect_parked()
            due = [p for p in self.parked if final or p.due <= self.ops_done]
            if not due:
                break
            for p in due:
                self.parked.remove(p)
                self._replay(p)
        else:
            raise RuntimeError("the chain did not settle")
        self.check()

    def _collect_parked(self) -> None:
        parkings = sum(p.failed_to_destination for p in self.pumps)
        if parkings == self._parking_seen:
            return
        self._parking_seen = parkings
        queues = [(name, "stream", url) for name, url in self.chain.resources.on_failure_queue_urls.items()]
        queues += [(rq.function.name, "rule", url) for rq in self.chain.resources.rules for url in rq.dead_letter_urls]
        for name, kind, url in queues:
            while True:
                messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not messages:
                    break
                for m in messages:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    if kind == "stream":
                        payload = json.loads(m["Body"])["record"]
                        key = record_id(payload)
                    else:  # the event, unwrapped from Lambda's on-failure record
                        body = json.loads(m["Body"])
                        event = body.get("requestPayload", body)
                        payload, key = json.dumps(event), event["id"]
                    self.faults.parked(key)
                    if self.replays[key] >= 2:  # it failed on its replays too: it cannot be processed
                        self.failed_for_good.add(_describe(kind, payload))
                        continue
                    later = self.rng.randint(0, 2) if self.schedule == "random" else 0
                    self.parked.append(Parked(name, kind, key, payload, self.ops_done + later))

    def _replay(self, parked: Parked) -> None:
        """An operator sends a parked record or event back to its function."""
        self.replays[parked.key] += 1
        pump = self.by_name[parked.function]
        if parked.kind == "rule":
            self.sqs.send_message(QueueUrl=pump.queue_url, MessageBody=parked.payload)
            self._sent_to_rule = True
            return
        for _ in range(pump.trigger.retry_attempts + 1):
            try:
                response = pump.handler({"Records": [parked.payload]}, context_for(pump.function)) or {}
            except Exception:
                continue
            if not response.get("batchItemFailures"):
                return
        if self.replays[parked.key] >= 2:
            self.failed_for_good.add(_describe(parked.kind, parked.payload))
        else:
            self.parked.append(Parked(parked.function, parked.kind, parked.key, parked.payload, self.ops_done + 1))

    # --- duplicates long after the fact ---------------------------------------------------

    def late_duplicate(self) -> None:
        """A record or event delivered again, long after it was processed (a rewound
        iterator, an event source retrying after a lost acknowledgement)."""
        rng = self.faults.rng
        streams = sorted(name for name, seen in self.seen_records.items() if seen)
        if self.seen_events and (not streams or rng.random() < 0.3):
            event_id = rng.choice(list(self.seen_events))  # in the order seen (event ids are random)
            self.faults.log.append(f"late duplicate: event {event_id}")
            (rq,) = self.chain.resources.rules
            self.sqs.send_message(QueueUrl=rq.queue_url, MessageBody=self.seen_events[event_id])
            self._sent_to_rule = True
        elif streams:
            name = rng.choice(streams)
            rid = rng.choice(sorted(self.seen_records[name]))
            self.faults.log.append(f"late duplicate: {name}[{rid}]")
            self._deliver_again(name, [self.seen_records[name][rid]])

    def _deliver_again(self, name: str, records: list[dict]) -> None:
        """Records processed before, delivered again (no fault this time): they must
        succeed, and (checked by the comparison at the end) change nothing."""
        try:
            response = self.originals[name]({"Records": records}, context_for(self.by_name[name].function)) or {}
        except Exception as e:
            raise AssertionError(f"{name} failed on records delivered again {[record_id(r) for r in records]}: {e!r}") from e
        assert not response.get("batchItemFailures"), f"{name} failed on records delivered again: {response}"
        self.check()

    def rewind(self) -> None:
        """Every record of every stream and every event, delivered once more."""
        self.faults.log.append("rewind: everything delivered again")
        for name, seen in sorted(self.seen_records.items()):
            size = self.by_name[name].trigger.batch_size
            records = list(seen.values())
            for start in range(0, len(records), size):
                self._deliver_again(name, records[start : start + size])
        for body in self.seen_events.values():
            (rq,) = self.chain.resources.rules
            self.sqs.send_message(QueueUrl=rq.queue_url, MessageBody=body)
            self._sent_to_rule = True
        self.drain(final=True)

    # --- the scenario ------------------------------------------------------------------------

    def execute(self, op: Op, *, late_duplicates: bool = False) -> Answer:
        """One operation; then, unless it opens a burst, a drain. With faults, perhaps an
        old record or event delivered again (at a quiescent point, or under the random
        schedule anywhere)."""
        answer = self.http(op)
        if op.drain:
            self.drain()
        if late_duplicates and (op.drain or self.schedule == "random") and self.faults.late_duplicate():
            self.late_duplicate()
            if op.drain:
                self.drain()
        return answer

    def run(self, ops: list[Op], *, late_duplicates: bool = False) -> None:
        """Replay the operations a fault-free run recorded."""
        self._index = {id(op): i for i, op in enumerate(ops)}
        self._pending = deque(ops)
        self.faults.concurrently = self._concurrently
        while self._pending:
            self.execute(self._pending.popleft(), late_duplicates=late_duplicates)
        self.drain(final=True)

    def _concurrently(self, inside: str) -> str:
        """Work that runs while a handler is in the middle of its invocation (concurrent
        Lambda executions): the next HTTP operation, and/or the other functions' pending
        records and events."""
        done = []
        if self._pending and not self._pending[0].setup and self.faults.rng.random() < 0.6:
            op = self._pending.popleft()
            self.http(op)
            done.append(f"HTTP {op.kind} {op.path}")
        if not done or self.faults.rng.random() < 0.6:
            others = [p for p in self.pumps if p.function.name != inside]
            self.rng.shuffle(others)
            moved = sum(self._pump(p) for p in others for _ in range(3))
            done.append(f"{moved} records/events delivered to other functions")
        return " then ".join(done)

    def generate(self, generator: Generator, n_ops: int, first: list[Op]) -> list[Op]:
        """Choose and run operations (the fault-free run); returns what was run."""
        from backorders.adapters.store import Store

        trace = []
        for op in first:
            self._index[id(op)] = len(trace)
            trace.append(op)
            self.execute(op)
        store = Store()
        for _ in range(n_ops):
            op = generator.next(store)
            self._index[id(op)] = len(trace)
            trace.append(op)
            self.execute(op)
        self.drain(final=True)
        return trace


def totals(ignore: set | frozenset = frozenset()) -> dict:
    """Per (seller, sku): ordered and cancelled quantities, and the stock figures."""
    items = deserialised(stored())
    figures = invariants.check(ignore=ignore, items=items)
    out: dict = defaultdict(lambda: Counter())
    for order in items["orders"]:
        if order.get("entity") != "ORDER" or not isinstance(order.get("lines"), list):
            continue
        for line in order["lines"]:
            key = (order["seller_id"], line["sku"])
            out[key]["ordered"] += int(line["qty"])
            out[key]["cancelled"] += int(line["cancelled_qty"])
    for key, f in figures.items():
        for name in ("on_hand", "available", "assigned", "reserved", "pending"):
            out[key][name] += f[name]
    return {k: dict(v) for k, v in out.items()}
