"""Faults injected into a run: around each handler invocation (duplicates, redelivery
after a partial failure, a record that fails until it is parked) and inside it (a crash
right after the handler's k-th AWS write, by wrapping the boto3 clients the domain uses;
optionally, other work running before its k-th AWS call, as a concurrent execution would).

Every decision comes from one seeded RNG, so a failing example replays exactly.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar
from unittest import mock

from backorders import topology
from backorders.adapters import dynamo, events

DYNAMO_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
DYNAMO_READS = ("get_item", "query", "batch_get_item")


class Crash(BaseException):
    """The execution environment died: nothing after this point ran, not even the batch
    processor's per-record error handling. (A BaseException so no handler code catches it.)"""


class InjectedCrash(Exception):
    """What the event source sees of a `Crash`: the invocation failed."""


class InjectedFailure(Exception):
    """An error the handler code sees, like a throttled call after a write went through:
    the batch processor fails that record and carries on with the others."""


def record_id(record: dict) -> str:
    return f"{record['eventSourceARN'].split('/')[1]}:{record['dynamodb']['SequenceNumber']}"


def _failures(response: dict | None) -> list[dict]:
    return list((response or {}).get("batchItemFailures", []))


class Faults:
    """Decides and injects the faults of one run.

    `exact`: only faults that must not change the outcome, placed so the asynchronous
    work keeps its causal order (a record failing on its own, or parked and replayed,
    only in a drain that follows a single operation; see test_simulation.py). Otherwise
    any fault anywhere.
    """

    STREAM_KINDS: ClassVar[dict[str, int]] = {"dup": 3, "redeliver": 3, "crash": 4, "fail_record": 2, "exhaust": 1}
    RULE_KINDS: ClassVar[dict[str, int]] = {"dup": 3, "crash": 4, "exhaust": 1}

    def __init__(
        self, rng: random.Random, *, exact: bool, rate: float, budget: int, max_exhausts: int = 2, concurrency: bool = False
    ):
        self.rng = rng
        self.exact = exact
        self.rate = rate
        self.budget = budget
        self.exhausts_left = max_exhausts
        self.spent = 0
        self.log: list[str] = []
        self.doomed: set[str] = set()  # stream record ids / event ids that fail until parked
        self.ever_doomed: set[str] = set()  # parked once: their replay is not doomed again
        self.drain_kind = "single"  # "single": the drain follows one operation; "burst": several
        self.consecutive: dict[str, int] = defaultdict(int)  # injected failures in a row, per function
        self.per_event: dict[str, int] = defaultdict(int)
        self._armed: tuple[int, type[BaseException], str] | None = None
        self._writes = 0
        self.writes = 0  # every AWS write the domain made, faults or not
        self.writes_to: Counter = Counter()  # the same, per table (and "events" for the bus)
        # concurrency: other work runs right before the k-th AWS call of an invocation
        self.concurrency = concurrency and not exact
        self.concurrently: Callable[[str], str] | None = None  # set by the run: does that work
        self._interleave: tuple[str, int] | None = None
        self._calls = 0
        self._nested = False

    @classmethod
    def none(cls) -> Faults:
        """No faults at all (the fault-free run), but the writes are counted."""
        return cls(random.Random(0), exact=True, rate=0.0, budget=0)

    # --- inside a step: crash after the k-th write ------------------------------------

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Count the domain's AWS writes, so a crash can follow the k-th one (and, with
        concurrency, watch its reads too, so other work can run before any call)."""
        db, bus = dynamo.client(), events.client()
        patches = [mock.patch.object(db, name, self._counting(getattr(db, name), name)) for name in DYNAMO_WRITES]
        if self.concurrency:
            patches += [mock.patch.object(db, name, self._reading(getattr(db, name), name)) for name in DYNAMO_READS]
        patches.append(mock.patch.object(bus, "put_events", self._counting(bus.put_events, "put_events")))
        for p in patches:
            p.start()
        try:
            yield
        finally:
            for p in reversed(patches):
                p.stop()

    def _reading(self, call: Callable, name: str) -> Callable:
        def read(*args, **kwargs):
            self._before(name)
            return call(*args, **kwargs)

        return read

    def _before(self, name: str) -> None:
        """Before an AWS call: is this where other work runs concurrently?"""
        if self._interleave is None or self._nested:
            return
        self._calls += 1
        inside, k = self._interleave
        if self._calls == k and self.concurrently is not None:
            self._interleave, self._nested = None, True
            try:
                self.log.append(f"  ... inside {inside}, before its {name}: {self.concurrently(inside)}")
            finally:
                self._nested = False

    @contextmanager
    def _maybe_concurrent(self, name: str) -> Iterator[None]:
        if not self.concurrency or self._nested or self.rng.random() >= self.rate:
            yield
            return
        self._interleave, self._calls = (name, self.rng.randint(1, 4)), 0
        self.log.append(f"concurrent work: inside {name}")
        try:
            yield
        finally:
            self._interleave = None

    def _counting(self, call: Callable, name: str) -> Callable:
        def counted(*args, **kwargs):
            if self.concurrency:
                self._before(name)
            out = call(*args, **kwargs)  # the write goes through ...
            self.writes += 1
            if name == "put_events":
                self.writes_to["events"] += 1
            elif name == "transact_write_items":
                for item in kwargs["TransactItems"]:
                    self.writes_to[next(iter(item.values()))["TableName"]] += 1
            else:
                self.writes_to[kwargs["TableName"]] += 1
            if self._armed is not None and not self._nested:  # concurrent work is not this step's
                self._writes += 1
                k, exc, where = self._armed
                if self._writes == k:
                    self._armed = None
                    self.log.append(f"  ... {where}: {exc.__name__} right after write #{k} ({name})")
                    raise exc(f"injected after write #{k} ({name})")  # ... and then the handler dies
            return out

        return counted

    @contextmanager
    def armed(self, k: int, exc: type[BaseException], where: str) -> Iterator[None]:
        self._armed, self._writes = (k, exc, where), 0
        try:
            yield
        finally:
            if self._armed is not None:  # fewer than k writes: nothing happened, the budget is not spent
                self.log.append(f"  ... {where}: made {self._writes} write(s), fewer than {k}: no crash")
                self.spent -= 1
            self._armed = None

    def _k(self) -> int:
        """After which write to crash: most invocations make one or two."""
        return self.rng.choices([1, 2, 3], weights=[6, 3, 1])[0]

    # --- decisions ----------------------------------------------------------------------

    def _pick(self, kinds: dict[str, int], may_fail: bool) -> str | None:
        if self._nested or self.spent >= self.budget or self.rng.random() >= self.rate:
            return None
        allowed = dict(kinds)
        if self.exact and self.drain_kind != "single":
            # With work from several operations pending, a record failing on its own (the
            # batch processor carries on with the others) or a record or event parked for
            # later would let other work overtake it: a legitimate change of outcome (two
            # shortfalls for one vendor: the one processed first opens the consolidation
            # window, and names its PO). Not here.
            allowed.pop("fail_record", None)
            allowed.pop("exhaust", None)
        if not self.exhausts_left:
            allowed.pop("exhaust", None)
        if not may_fail:  # keep clear of the retry limit: only "exhaust" may reach it
            allowed = {k: w for k, w in allowed.items() if k == "dup"}
        if not allowed:
            return None
        self.spent += 1
        return self.rng.choices(list(allowed), weights=list(allowed.values()))[0]

    def http_crash(self, what: str) -> int | None:
        """Crash an HTTP request after its k-th write? (The client then sends it again.)"""
        if self._nested or self.spent >= self.budget or self.rng.random() >= self.rate / 3:
            return None
        self.spent += 1
        return 1  # every HTTP operation writes in one request or transaction

    def late_duplicate(self) -> bool:
        if self.spent >= self.budget or self.rng.random() >= self.rate / 2:
            return False
        self.spent += 1
        return True

    # --- around a step: stream handlers --------------------------------------------------

    def stream(self, name: str, original: Callable, event: dict, pump_order: list[dict], context) -> dict:
        """Invoke a stream handler on `event` (records in processing order); `pump_order`
        is the batch as the event source mapping sees it (it retries from the first
        failed record in that order)."""
        with self._maybe_concurrent(name):
            return self._stream(name, original, event, pump_order, context)

    def _stream(self, name: str, original: Callable, event: dict, pump_order: list[dict], context) -> dict:
        doomed = [r for r in pump_order if record_id(r) in self.doomed]
        if doomed:
            return self._fail_doomed(name, original, event, doomed, context)
        fresh = [r for r in pump_order if record_id(r) not in self.ever_doomed]
        kinds = self.STREAM_KINDS if fresh else {k: w for k, w in self.STREAM_KINDS.items() if k != "exhaust"}
        kind = self._pick(kinds, may_fail=self.consecutive[name] < 3)
        if kind is None:
            return self._clean(name, original(event, context))
        where = f"{name}[{', '.join(record_id(r) for r in pump_order)}]"
        self.log.append(f"{kind}: {where}")
        if kind == "dup":
            original(event, context)
            return self._clean(name, original(event, context))
        if kind == "redeliver":  # all processed, then a failure is reported: the rest comes again
            self.consecutive[name] += 1
            response = original(event, context)
            again = self.rng.choice(pump_order)
            self.log.append(f"  ... redelivered from {record_id(again)}")
            return {"batchItemFailures": [*_failures(response), {"itemIdentifier": again["dynamodb"]["SequenceNumber"]}]}
        if kind == "exhaust":
            self.exhausts_left -= 1
            victim = self.rng.choice(fresh)
            self.doomed.add(record_id(victim))
            self.ever_doomed.add(record_id(victim))
            self.log.append(f"  ... {record_id(victim)} fails until parked")
            return self._fail_doomed(name, original, event, [victim], context)
        self.consecutive[name] += 1
        k = self._k()
        if kind == "crash":
            with self.armed(k, Crash, name):
                try:
                    return original(event, context)
                except Crash as crash:
                    raise InjectedCrash(str(crash)) from None
        with self.armed(k, InjectedFailure, name):  # fail_record
            return original(event, context)

    def _fail_doomed(self, name: str, original: Callable, event: dict, doomed: list[dict], context) -> dict:
        """The doomed records fail (as if they raised); the others are processed."""
        self.consecutive[name] += 1
        ids = {record_id(r) for r in doomed}
        rest = [r for r in event["Records"] if record_id(r) not in ids]
        response = original({"Records": rest}, context) if rest else {}
        return {"batchItemFailures": _failures(response) + [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in doomed]}

    def _clean(self, name: str, response: dict | None) -> dict | None:
        if not _failures(response):
            self.consecutive[name] = 0
        return response

    def parked(self, key: str) -> None:
        """A doomed record or event reached its on-failure queue or DLQ: its replay may succeed."""
        self.doomed.discard(key)

    # --- around a step: the rule's target --------------------------------------------------

    def rule(self, name: str, original: Callable, event: dict, context):
        with self._maybe_concurrent(name):
            return self._rule(name, original, event, context)

    def _rule(self, name: str, original: Callable, event: dict, context):
        event_id = event["id"]
        if event_id in self.doomed:
            raise InjectedFailure(f"event {event_id} fails until it is dead-lettered")
        # Lambda invokes a failing event 1 + async_retry_attempts times: fail fewer times than that
        retries = topology.function(name).rule.async_retry_attempts
        kinds = self.RULE_KINDS if event_id not in self.ever_doomed else {k: w for k, w in self.RULE_KINDS.items() if k != "exhaust"}
        kind = self._pick(kinds, may_fail=self.per_event[event_id] < retries)
        if kind is None:
            return original(event, context)
        self.log.append(f"{kind}: {name}[{event_id}]")
        if kind == "dup":
            original(event, context)
            return original(event, context)
        self.per_event[event_id] += 1
        if kind == "exhaust":
            self.exhausts_left -= 1
            self.doomed.add(event_id)
            self.ever_doomed.add(event_id)
            raise InjectedFailure(f"event {event_id} fails until it is dead-lettered")
        with self.armed(self._k(), Crash, name):
            try:
                return original(event, context)
            except Crash as crash:
                raise InjectedCrash(str(crash)) from None
