"""Where the CPU goes when the chain runs in-process on moto: this project's code, or the
AWS SDK and its mock.

The workload (backordered and in-stock lines through the whole chain, handlers invoked as
Lambda would, see `capacity`) runs under cProfile with a CPU-time clock. Each function's
own time (tottime) is given to a category by the file it lives in; the time of a C
built-in (`len`, `json.dumps`' C part, ...) is given to the categories of its callers, in
proportion to what each caller spent in it.

Categories (by path):
- ours:   shared/backorders/ (the domain), shared/backorders_local/ (the local runtime's
          pumps and shapes), functions/ (the handlers);
- theirs: boto3, botocore, moto, werkzeug, and the libraries they run on here; split
          into the SDK (boto3, botocore, s3transfer, jmespath, dateutil, urllib3), which
          Lambda runs too, and the mock (moto, werkzeug, responses, xmltodict,
          jsonpath_ng, requests, yaml), which it does not;
- other:  everything else, reported apart: the standard library, pydantic (and
          pydantic_core), aws_lambda_powertools, the benchmark driver (tests/, benchmarks/).

our_cpu_share = ours / (ours + theirs + other): our code's share of all the CPU time the
run took. `ours_without_mock` = ours / (everything but the mock): the same without moto,
closer to what a handler's CPU is made of on Lambda (network waits aside). cProfile's own overhead inflates code that makes many small calls (it is
charged to whoever makes them), so read it as a proportion, not a speed.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections import Counter
from pathlib import Path

from benchmarks.env import ROOT

SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3")  # what Lambda runs too
MOCK = ("moto", "werkzeug", "responses", "xmltodict", "jsonpath_ng", "requests", "yaml")  # moto and what it runs on
THEIRS = SDK + MOCK
OTHER_LIBS = {"pydantic": "pydantic", "pydantic_core": "pydantic", "aws_lambda_powertools": "powertools"}


def category(filename: str) -> str:
    """'ours', 'theirs', or an 'other:<what>' label."""
    if filename.startswith(("~", "<")):
        return "builtin"
    path = Path(filename)
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        rel = None
    if rel is not None and rel.parts and rel.parts[0] != ".venv":
        if rel.parts[0] == "functions" or (rel.parts[0] == "shared" and len(rel.parts) > 1 and rel.parts[1].startswith("backorders")):
            return "ours"
        return "other:driver"
    parts = path.parts
    if "site-packages" in parts:
        top = parts[parts.index("site-packages") + 1]
        top = top.split(".")[0]
        if top in SDK:
            return "theirs:sdk"
        if top in MOCK:
            return "theirs:mock"
        return "other:" + OTHER_LIBS.get(top, "other libraries")
    return "other:stdlib"


def attribute(stats: pstats.Stats, through_stdlib: bool = True) -> Counter:
    """Seconds per category. C built-ins are always charged to their callers, pro rata;
    with `through_stdlib`, so is the standard library's own time, passed up the call graph
    until it reaches a caller that is not the standard library (moto's deep copies end up
    as moto's, our json.dumps as ours)."""
    raw = stats.stats  # type: ignore[attr-defined]
    cats = {func: category(func[0]) for func in raw}
    seconds: Counter = Counter()
    pending: Counter = Counter()

    def transparent(func) -> bool:
        c = cats.get(func, "other:stdlib")
        return c == "builtin" or (through_stdlib and c == "other:stdlib")

    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        if transparent(func):
            pending[func] += tt
        else:
            seconds[cats[func]] += tt
    for _ in range(200):
        if sum(pending.values()) < 1e-6:
            break
        moving, pending = pending, Counter()
        for func, amount in moving.items():
            callers = raw[func][4] if func in raw else {}
            weights = {caller: info[3] for caller, info in callers.items() if info[3] > 0}
            total = sum(weights.values())
            if not total:
                seconds["other:stdlib"] += amount
                continue
            for caller, w in weights.items():
                share = amount * w / total
                if transparent(caller):
                    pending[caller] += share
                else:
                    seconds[cats[caller]] += share
    for amount in pending.values():
        seconds["other:stdlib"] += amount
    return seconds


def _profile(lines: int, handlers_only: bool) -> tuple[Counter, Counter, float]:
    from benchmarks import capacity

    meter = capacity.Meter()
    meter.metering = False  # no snapshot reads: they would be charged to moto
    profiler = cProfile.Profile()
    with capacity.Bench.started(meter) as bench:
        started = time.process_time()
        if handlers_only:
            meter.profiler = profiler
        else:
            profiler.enable()
        try:
            capacity.backordered_lines(bench, lines)
            capacity.instock_lines(bench, lines)
        finally:
            profiler.disable()
            meter.profiler = None
        cpu = time.process_time() - started
    stats = pstats.Stats(profiler)
    seconds = attribute(stats)
    # moto's TransactWriteItems deep-copies every table it touches, once per item (to roll
    # back), stream records included: its cost grows with the data, unlike DynamoDB's.
    seconds["moto_transact_write_items"] = sum(
        ct for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
        if name == "transact_write_items" and "moto" in filename and "dynamodb/models" in filename
    )
    return seconds, attribute(stats, through_stdlib=False), cpu


def _shares(seconds: Counter) -> dict:
    moto_tx = seconds.pop("moto_transact_write_items", None)
    total = sum(seconds.values())
    ours, sdk, mock = seconds["ours"], seconds["theirs:sdk"], seconds["theirs:mock"]
    out = {
        "ours": round(ours / total, 4),
        "theirs": round((sdk + mock) / total, 4),
        "theirs_sdk": round(sdk / total, 4),
        "theirs_mock": round(mock / total, 4),
        **{k.split(":", 1)[1]: round(v / total, 4) for k, v in sorted(seconds.items()) if k.startswith("other:")},
        "profiled_s": round(total, 2),
        # without the mock: roughly what the handlers' CPU is made of on Lambda
        "ours_without_mock": round(ours / (total - mock), 4) if total > mock else 0.0,
    }
    if moto_tx is not None:
        out["theirs_in_moto_transact_write_items"] = round(moto_tx / total, 4)
    return out


def measure(lines: int = 10) -> dict:
    """Two runs of the same workload: the whole in-process run profiled (pumps and the
    driver included), then only the time inside the handlers."""
    whole, whole_flat, cpu = _profile(lines, handlers_only=False)
    inside, inside_flat, _ = _profile(lines, handlers_only=True)
    whole_flat.pop("moto_transact_write_items", None)
    inside_flat.pop("moto_transact_write_items", None)
    w, h = _shares(whole), _shares(inside)
    return {
        "our_cpu_share": w["ours"],
        "our_cpu_share_in_handlers": h["ours"],
        "whole_run": w,
        "in_handlers": h,
        "whole_run_stdlib_apart": _shares(whole_flat),
        "in_handlers_stdlib_apart": _shares(inside_flat),
        "cpu_s_unprofiled_clock": round(cpu, 2),
        "lines": 2 * lines,
    }
