"""A deterministic simulation of the whole chain over moto, one seed per example.

Each example draws a world (sellers and vendors with random flags, SKUs mapped or not,
vendors needing approval or not, some stock) and 3-10 operations: orders of 1-3 lines,
the same order again, adjustments up and down (in two bins), returns expected and
received, handovers partial, full, duplicate and refused, approvals, cancellations,
manual GRNs for sellers with auto GRN off, SKU remaps, automatic POs or GRNs switched
on or off for a seller, a vendor's approval or eligibility changed. Most operations are
followed by a drain; some come in bursts that leave the asynchronous work of several
operations pending together. Now and then an item the domain cannot parse is written
into a table (a poison record): it must end up parked, the same in both runs.

The scenario runs twice, each time in a fresh moto world:

1. fault-free, where the operations are chosen (they depend on what exists: a
   handover needs a vendor order); the requests are recorded;
2. the same requests again, with faults: a record or event delivered twice; a batch
   redelivered after a partial failure; a crash right after the handler's k-th AWS
   write (and an HTTP request crashing after its write, sent again by the client);
   a record that fails until it lands in the on-failure queue, or an event that
   exhausts its retries into the DLQ, replayed later; an old record or event
   delivered again long after; sometimes every record and event delivered once more
   at the end.

After every step of both runs (each HTTP request and each handler invocation) the
conservation rules hold (tests/invariants.py: per line ordered = assigned + pending
+ cancelled; stock never negative and equal to what came in minus what was assigned;
at most one PO line per backordered line; received <= ordered; one GRN per handover
id; ...), and once drained nothing is left behind (invariants.check_settled).

How the two end states are compared depends on the delivery schedule:

* "exact" examples (about two thirds): both runs deliver in the same causal order -
  the natural one, or the same content-derived permutation of pumps and of records
  across partition keys. The faults are those that must not change the outcome, placed
  so they keep that order (a record failing alone, or parked and replayed, only when
  the pending work came from a single operation; otherwise the others would overtake
  it). Then every HTTP answer and the whole end state (every item of every table,
  versions included; times and secrets aside) must equal the fault-free run's.

* "reorder" examples: the run with faults also reorders: pumps in a random order each
  round, records of different partition keys shuffled within a batch, rule events in a
  random order, parked records replayed up to two operations later, old records
  delivered again in the middle of a burst. Which order gets scarce stock first
  legitimately depends on that (two orders racing for the last units; freed stock
  going to whoever waits longest *at that moment*), and so, downstream, do PO
  quantities and whether a later handover fits. So the end states are not compared
  item by item. What is compared is what the order cannot change: per seller and SKU,
  the quantities ordered and cancelled; and when every HTTP request was answered with
  the same status in both runs (so the same goods came in), the stock figures on hand,
  assigned, available, reserved and pending (at rest, assigned = min(on hand, demand)
  whatever the order). Plus, as in every example, the invariants after every step and
  the settled-state checks.

With BACKORDERS_SIM_CONCURRENCY=1, "reorder" examples also run other work *inside* a
handler invocation, right before one of its AWS calls (the next HTTP operation, other
functions' pending records), as concurrent executions would. Off by default (slower);
it found the race now fixed and kept as a regression test in test_found_bugs.py.

The runs rely on backorders_local.moto_fixes (applied by Chain.started): without it a
refused transaction makes the pumps lose every later record of that table (see
test_found_bugs.py).

BACKORDERS_SIM_EXAMPLES sets the number of examples (seeds 0..N-1, or from
BACKORDERS_SIM_SEED on). A failure prints the seed, the scenario and the faults, and
the command that replays that example alone.
"""

from __future__ import annotations

import logging
import os
import random

import pytest

from tests.chain import Chain
from tests.simulation.faults import Faults
from tests.simulation.runner import Sim, diff, snapshot, totals
from tests.simulation.scenario import Generator, Op, poison_ops

EXAMPLES = int(os.environ.get("BACKORDERS_SIM_EXAMPLES", "25"))
FIRST_SEED = int(os.environ.get("BACKORDERS_SIM_SEED", "0"))
CONCURRENCY = os.environ.get("BACKORDERS_SIM_CONCURRENCY", "") == "1"


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    """Thousands of invocations: no log line or metric for each (and no traceback for
    each injected failure)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    loggers = [logging.getLogger(name) for name in ("backorders-tests", "backorders.local")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    yield
    for lg, level in zip(loggers, levels, strict=False):
        lg.setLevel(level)


class Example:
    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.seed = seed
        self.mode = "reorder" if rng.random() < 0.35 else "exact"
        self.schedule = "random" if self.mode == "reorder" else rng.choice(["natural", "permuted"])
        self.generator = Generator(random.Random(f"{seed}/scenario"))
        self.setup = self.generator.setup()
        self.poison = poison_ops(rng, "s1") if rng.random() < 0.1 else []
        self.n_ops = rng.randint(3, 10)
        self.rate = rng.choice([0.2, 0.4, 0.7])
        self.budget = rng.randint(4, 14)
        self.rewind = self.mode == "exact" and rng.random() < 0.25
        self.trace: list[Op] = []
        self.faults: Faults | None = None

    def report(self, problem: str) -> str:
        ops = "\n".join(f"  {i:2d}. {op.describe()}" for i, op in enumerate(self.trace))
        faults = "\n".join(f"  {line}" for line in (self.faults.log if self.faults else [])[-60:])
        return (
            f"{problem}\n\nseed {self.seed}: mode {self.mode}, schedule {self.schedule}, fault rate {self.rate}, "
            f"budget {self.budget}, rewind {self.rewind}\noperations:\n{ops}\nfaults injected:\n{faults}\n"
            f"replay this example alone: BACKORDERS_SIM_SEED={self.seed} BACKORDERS_SIM_EXAMPLES=1 "
            + ("BACKORDERS_SIM_CONCURRENCY=1 " if CONCURRENCY else "")
            + ".venv/bin/python -m pytest tests/simulation/test_simulation.py"
        )


def run(example: Example) -> None:
    # 1. fault-free: choose the operations and record the outcome
    reference_schedule = "natural" if example.mode == "reorder" else example.schedule
    counter = Faults.none()
    with Chain.started() as chain, counter.installed():
        reference = Sim(chain, seed=example.seed, schedule=reference_schedule, faults=counter)
        try:
            example.trace = reference.generate(example.generator, example.n_ops, example.setup + example.poison)
            reference.check_settled()
        except Exception as e:  # an invariant, or anything a handler raised
            raise AssertionError(example.report(f"fault-free run: {e if isinstance(e, AssertionError) else repr(e)}")) from e
        expected, expected_totals = snapshot(), totals(reference.ignore)
    expected_answers = [reference.answers[i] for i in range(len(example.trace))]
    poisoned = {f"{op.path}:{op.body['pk']}/{op.body['sk']}" for op in example.poison}
    assert reference.failed_for_good == poisoned, example.report(f"parked for good: {reference.failed_for_good}")

    # 2. the same requests, with faults
    faults = example.faults = Faults(
        random.Random(f"{example.seed}/faults"),
        exact=example.mode == "exact",
        rate=example.rate,
        budget=example.budget,
        concurrency=CONCURRENCY,
    )
    with Chain.started() as chain, faults.installed():
        sim = Sim(chain, seed=example.seed, schedule=example.schedule, faults=faults)
        try:
            sim.run(example.trace, late_duplicates=True)
            if example.rewind:
                sim.rewind()
            sim.check_settled()
        except Exception as e:
            raise AssertionError(example.report(f"run with faults: {e if isinstance(e, AssertionError) else repr(e)}")) from e
        got, got_totals = snapshot(), totals(sim.ignore)
    answers = [sim.answers[i] for i in range(len(example.trace))]
    assert sim.failed_for_good == poisoned, example.report(f"parked for good: {sim.failed_for_good}")

    if example.mode == "exact":
        for i, (want, have) in enumerate(zip(expected_answers, answers, strict=False)):
            assert have.same_as(want), example.report(f"operation {i} answered {have}, fault-free {want}")
        assert got == expected, example.report("end states differ:\n" + diff(expected, got))
        return
    # Reordered: only what the order of asynchronous work cannot change (see above).
    for key in set(expected_totals) | set(got_totals):
        for name in ("ordered", "cancelled"):
            want, have = expected_totals.get(key, {}).get(name, 0), got_totals.get(key, {}).get(name, 0)
            assert want == have, example.report(f"{key}: {name} {have}, fault-free {want}")
    if all(have.status == want.status or have.same_as(want) for want, have in zip(expected_answers, answers, strict=False)):
        assert got_totals == expected_totals, example.report(f"totals differ: {got_totals} vs {expected_totals}")


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + EXAMPLES))
def test_simulation(seed):
    run(Example(seed))
