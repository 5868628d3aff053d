"""Benchmarks of the backorder chain: capacity and cost per order line, cold start, end to
end throughput and latency, and where the CPU goes.

    python benchmarks/run.py [--quick] [--json] [--no-e2e] [--smoke]

Prints a table (with --json, one JSON object). It measures and reports against the
targets; it never fails because a target is missed. See README, "Benchmarks".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks`, `tests` and the domain importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "shared"), str(Path(__file__).resolve().parents[1])]

from benchmarks import env

TARGETS = {
    "wru_per_backordered_line": ("<=", 18),
    "wru_per_instock_line": ("<=", 4),
    "usd_per_million_backordered_lines": ("<=", 18),
    "cold_start_ratio_max": ("<=", 1.25),
    "our_cpu_share": ("<=", 0.20),
    # stream batches read with batched calls: reads per record in a batch of 10 below a batch of 1
    "stream_batch_reads_per_record_ratio": ("<", 1.0),
    # a reconciler pass reads the open work, not the tables: 20 times the history, same reads
    "reconcile_rru_growth": ("<=", 1.1),
    # `backorders local` over a long run (full size: 2,000 orders): memory and an order's
    # time to settle stay within 1.5x of the first 100 orders', it stops soon after
    # SIGTERM, and it serves twice the 3.4 orders/s it once did
    "e2e_rss_growth": ("<=", 1.5),
    "e2e_latency_growth": ("<=", 1.5),
    "e2e_stop_s": ("<=", 5),
    "e2e_orders_per_s": (">=", 6.8),
}

# Workload sizes: (backordered/in-stock lines counted, cold start rounds, e2e orders, profiled lines)
SIZES = {"full": (10, 7, 2000, 10), "quick": (3, 3, 40, 3), "smoke": (1, 1, 6, 1)}
# Settled orders beside the same open work, for the reconciler's read units per pass
RECONCILE_HISTORY = {"full": (1_000, 20_000), "quick": (1_000, 20_000), "smoke": (50, 1_000)}

LINE_STAGE_FUNCTION = {"webhook": "api", "handover": "on_handover"}


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


# --- cost -------------------------------------------------------------------------------


def line_cost(totals, billed_ms: dict[str, float] | None = None) -> dict:
    """USD per line, by service. Lambda: each invocation billed `billed_ms` (per stage) or
    the assumed duration, at the function's configured memory."""
    from backorders import topology
    from benchmarks import pricing
    from benchmarks.capacity import HTTP_STAGES, LINE_STAGES

    lambda_requests = lambda_gb_s = 0.0
    for stage in LINE_STAGES:
        s = totals.per_stage.get(stage)
        if not s or not s["invocations"]:
            continue
        # worst case: one stream record per invocation
        invocations = max(s["invocations"], s["invocations"] * s["records_per_invocation"] / pricing.ASSUMED_STREAM_RECORDS_PER_INVOCATION)
        memory_gb = topology.function(LINE_STAGE_FUNCTION.get(stage, stage)).memory_mb / 1024
        ms = billed_ms[stage] if billed_ms else pricing.ASSUMED_BILLED_MS_PER_INVOCATION
        lambda_requests += invocations
        lambda_gb_s += invocations * memory_gb * ms / 1000
    http_requests = sum(totals.per_stage.get(s, {}).get("invocations", 0.0) for s in HTTP_STAGES)
    wru, rru, events = totals.total("wru"), totals.total("rru"), totals.total("events")
    cost = {
        "dynamodb": wru * pricing.DYNAMODB_USD_PER_WRU + rru * pricing.DYNAMODB_USD_PER_RRU,
        "lambda": lambda_requests * pricing.LAMBDA_USD_PER_REQUEST + lambda_gb_s * pricing.LAMBDA_ARM64_USD_PER_GB_S,
        "eventbridge": events * pricing.EVENTBRIDGE_USD_PER_EVENT,
        "api_gateway": http_requests * pricing.API_GATEWAY_REST_USD_PER_REQUEST,
    }
    log_bytes = totals.total("log_bytes") + lambda_requests * pricing.LAMBDA_PLATFORM_LOG_BYTES_PER_INVOCATION
    return {
        "usd_per_line": cost,
        "usd_per_line_total": sum(cost.values()),
        "dynamodb_before_nov_2024": wru * pricing.DYNAMODB_USD_PER_WRU_BEFORE_NOV_2024 + rru * pricing.DYNAMODB_USD_PER_RRU_BEFORE_NOV_2024,
        "lambda_invocations": lambda_requests,
        "lambda_gb_s": lambda_gb_s,
        "api_requests": http_requests,
        "events": events,
        "log_bytes": log_bytes,
        "cloudwatch_logs_usd_per_line": log_bytes / 1e9 * pricing.CLOUDWATCH_LOGS_USD_PER_GB,
    }


# --- the parts ----------------------------------------------------------------------------


def run_capacity(sizes: tuple[int, tuple[int, int]]) -> dict:
    from benchmarks import capacity, pricing

    lines, history = sizes

    meter = capacity.Meter()
    with capacity.Bench.started(meter) as bench:
        backordered = capacity.backordered_lines(bench, lines)
        instock = capacity.instock_lines(bench, lines)
        windowed = capacity.window_lines(bench, 5 * math.ceil(lines / 5), per_window=5)  # whole windows
        batches = capacity.stream_batches(bench, 10)
        passes = capacity.reconcile_passes(bench, history)
        waiting = capacity.reconcile_waiting(bench, (5, 25) if history[0] < 1_000 else (20, 200))
        hot = {shards: capacity.hot_sku(bench, 8 + 4 * lines, shards) for shards in (1, 8)}
    cost = line_cost(backordered)
    measured_ms = {
        stage: math.ceil(s["handler_ms_mean"]) for stage, s in backordered.per_stage.items() if s["invocations"]
    }
    cost_measured = line_cost(backordered, measured_ms)
    b1 = sum(v["batch_1"]["read_calls_per_record"] for v in batches["per_function"].values())
    b10 = sum(v["batch_10"]["read_calls_per_record"] for v in batches["per_function"].values())
    return {
        "wru_per_backordered_line": backordered.total("wru"),
        "rru_per_backordered_line": backordered.total("rru"),
        "aws_calls_per_backordered_line": backordered.total("aws_calls"),
        # a consolidation window of 5 orders for one vendor: one PO, one vendor order, one handover
        "wru_per_backordered_line_window_5": windowed.total("wru"),
        "rru_per_backordered_line_window_5": windowed.total("rru"),
        "wru_per_instock_line": instock.total("wru"),
        "rru_per_instock_line": instock.total("rru"),
        "aws_calls_per_instock_line": instock.total("aws_calls"),
        "usd_per_million_backordered_lines": round(cost["usd_per_line_total"] * 1e6, 3),
        "usd_per_million_backordered_lines_by_service": {k: round(v * 1e6, 3) for k, v in cost["usd_per_line"].items()},
        "usd_per_million_backordered_lines_measured_durations": round(cost_measured["usd_per_line_total"] * 1e6, 3),
        "usd_per_million_backordered_lines_ddb_before_nov_2024": round(
            (cost["usd_per_line_total"] - cost["usd_per_line"]["dynamodb"] + cost["dynamodb_before_nov_2024"]) * 1e6, 3
        ),
        "usd_per_million_instock_lines": round(line_cost(instock)["usd_per_line_total"] * 1e6, 3),
        "lambda_invocations_per_backordered_line": cost["lambda_invocations"],
        "lambda_gb_s_per_backordered_line": round(cost["lambda_gb_s"], 4),
        "api_requests_per_backordered_line": cost["api_requests"],
        "events_per_backordered_line": cost["events"],
        "log_bytes_per_backordered_line": round(cost["log_bytes"]),
        "cloudwatch_logs_usd_per_million_backordered_lines": round(cost["cloudwatch_logs_usd_per_line"] * 1e6, 3),
        "stream_batch_read_calls_per_record_batch_1": round(b1, 3),
        "stream_batch_read_calls_per_record_batch_10": round(b10, 3),
        "stream_batch_reads_per_record_ratio": round(b10 / b1, 3) if b1 else 0.0,
        **{f"reconcile_{k}": v for k, v in passes.items()},
        "reconcile_rru_growth": round(passes[f"rru_per_pass_{history[1]}"] / passes[f"rru_per_pass_{history[0]}"], 3),
        "reconcile_history_sizes": list(history),
        # an order waiting for its vendor, per day of its wait (each pass looks at one slice of the older work)
        "reconcile_rru_per_waiting_order_day": waiting["rru_per_waiting_order_day"],
        "reconcile_rru_per_waiting_order_day_every_pass": waiting["rru_per_waiting_order_day_every_pass"],
        "usd_per_million_waiting_order_days": round(waiting["rru_per_waiting_order_day"] * pricing.DYNAMODB_USD_PER_RRU * 1e6, 3),
        "reconcile_waiting": waiting,
        # a hot SKU: the busiest stock item's share of its stock writes, one bin against 8 shards
        "hot_sku_busiest_item_share_1_shard": round(hot[1], 3),
        "hot_sku_busiest_item_share_8_shards": round(hot[8], 3),
        "hot_sku_throughput_factor_8_shards": round(hot[1] / hot[8], 2),
        "stages_backordered": _stages(backordered),
        "stages_instock": _stages(instock),
        "stages_backordered_window_5": _stages(windowed),
        "stream_batches": batches,
        "lines_counted": lines,
    }


def _stages(totals) -> dict:
    return {
        stage: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()}
        for stage, s in totals.per_stage.items()
    }


def run_cold_start(rounds: int) -> dict:
    from benchmarks import cold_start

    byte = cold_start.measure(rounds, "bytecode")  # first: it also warms the file cache
    source = cold_start.measure(rounds, "source")
    return {
        "cold_start_ratio_max": byte["cold_start_ratio_max"],
        "cold_start_import_ratio_max": byte["cold_start_import_ratio_max"],
        # the floor the libraries the shape requires set (pydantic, powertools), and what our code adds
        "cold_start_libraries_ratio_min": byte["cold_start_libraries_ratio_min"],
        "cold_start_ours_ratio_max": byte["cold_start_ours_ratio_max"],
        "cold_start_ratio_max_source": source["cold_start_ratio_max"],
        "cold_start_baseline_s": byte["baseline_s"],
        "cold_start_baseline_s_source": source["baseline_s"],
        "cold_start": {"bytecode": byte, "source": source},
    }


def run_e2e(orders: int) -> dict:
    from benchmarks import e2e

    return e2e.measure(orders)


def run_cpu(lines: int) -> dict:
    from benchmarks import cpu_share

    out = cpu_share.measure(lines)
    return {
        "our_cpu_share": out["our_cpu_share"],
        "our_cpu_share_in_handlers": out["our_cpu_share_in_handlers"],
        "our_cpu_share_in_handlers_without_mock": out["in_handlers"]["ours_without_mock"],
        "cpu": out,
    }


def collect(size: str = "full", e2e: bool = True, progress=None) -> dict:
    lines, rounds, orders, cpu_lines = SIZES[size]
    say = progress or (lambda _msg: None)
    env.prepare()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from benchmarks import pricing

    result: dict = {"size": size, "machine": machine(), "prices": {k: v for k, (v, _src) in pricing.SOURCES.items()}}
    result["price_sources"] = {k: src for k, (_v, src) in pricing.SOURCES.items()}
    result["assumptions"] = {
        "billed_ms_per_invocation": pricing.ASSUMED_BILLED_MS_PER_INVOCATION,
        "stream_records_per_invocation": pricing.ASSUMED_STREAM_RECORDS_PER_INVOCATION,
        "order_lines_per_order": 1,
        "lambda_platform_log_bytes_per_invocation": pricing.LAMBDA_PLATFORM_LOG_BYTES_PER_INVOCATION,
    }
    timings = {}
    for name, part, arg in (
        ("capacity", run_capacity, (lines, RECONCILE_HISTORY[size])),
        ("cpu", run_cpu, cpu_lines),
        ("cold_start", run_cold_start, rounds),
        ("e2e", run_e2e, orders),
    ):
        if name == "e2e" and not e2e:
            continue
        say(f"running {name} ...")
        t0 = time.perf_counter()
        result.update(part(arg))
        timings[name] = round(time.perf_counter() - t0, 1)
    result["timings_s"] = timings
    result["targets"] = {
        name: {"target": f"{op} {limit}", "value": result.get(name), "met": _met(result.get(name), op, limit)}
        for name, (op, limit) in TARGETS.items()
    }
    return result


def _met(value, op: str, limit: float) -> bool | None:
    if value is None:
        return None
    return {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]


# --- the table ---------------------------------------------------------------------------


def table(r: dict) -> str:
    out: list[str] = []
    m = r["machine"]
    out.append(f"Backorders benchmarks ({r['size']}) on {m['nproc']} CPU(s), {m['cpu']}, Python {m['python']}")
    out.append("")
    out.append(f"{'figure':<48} {'value':>12}  target")
    headline = [
        "wru_per_backordered_line", "rru_per_backordered_line", "aws_calls_per_backordered_line",
        "wru_per_backordered_line_window_5", "rru_per_backordered_line_window_5",
        "wru_per_instock_line", "rru_per_instock_line", "aws_calls_per_instock_line",
        "usd_per_million_backordered_lines", "usd_per_million_backordered_lines_measured_durations",
        "usd_per_million_backordered_lines_ddb_before_nov_2024", "usd_per_million_instock_lines",
        "stream_batch_reads_per_record_ratio",
        "reconcile_rru_growth",
        "reconcile_rru_per_waiting_order_day", "reconcile_rru_per_waiting_order_day_every_pass",
        "usd_per_million_waiting_order_days",
        "hot_sku_throughput_factor_8_shards",
        "cold_start_ratio_max", "cold_start_import_ratio_max", "cold_start_ratio_max_source",
        "cold_start_libraries_ratio_min", "cold_start_ours_ratio_max",
        "our_cpu_share", "our_cpu_share_in_handlers", "our_cpu_share_in_handlers_without_mock",
        "e2e_orders_per_s", "e2e_p50_ms", "e2e_p95_ms", "e2e_latency_growth", "e2e_rss_mb_early", "e2e_rss_mb_end",
        "e2e_rss_growth", "e2e_stop_s",
    ]
    for name in headline:
        if name not in r:
            continue
        t = r["targets"].get(name)
        mark = f"{t['target']}  {'met' if t['met'] else 'NOT met'}" if t else ""
        out.append(f"{name:<48} {_fmt(r[name]):>12}  {mark}")
    if "stages_backordered" in r:
        stages = (
            ("backordered line", "stages_backordered"),
            ("backordered line, 5 orders per consolidation window", "stages_backordered_window_5"),
            ("in-stock line", "stages_instock"),
        )
        for title, key in stages:
            out.append("")
            out.append(f"Per stage, one {title} (order of one line), per line:")
            out.append(f"  {'stage':<18} {'WRU':>5} {'RRU':>5} {'calls':>5} {'inv':>4} {'events':>6} {'ms*':>6} {'log B':>6}  operations")
            for stage, s in r[key].items():
                if stage in ("driver", "outside"):
                    continue
                ops = ", ".join(f"{op} x{n:g}" for op, n in s["operations"].items())
                out.append(
                    f"  {stage:<18} {s['wru']:>5g} {s['rru']:>5g} {s['aws_calls']:>5g} {s['invocations']:>4g} "
                    f"{s['events']:>6g} {s['handler_ms_mean']:>6.1f} {s['log_bytes']:>6.0f}  {ops}"
                )
        out.append("  * mean handler wall time in-process on moto (not Lambda's billed duration)")
        by = r["usd_per_million_backordered_lines_by_service"]
        out.append("")
        out.append("USD per million backordered lines, by service: " + ", ".join(f"{k} {v:.2f}" for k, v in by.items()))
        out.append(
            f"  ({r['lambda_invocations_per_backordered_line']:g} invocations at {r['assumptions']['billed_ms_per_invocation']} ms "
            f"each, {r['api_requests_per_backordered_line']:g} API requests, {r['events_per_backordered_line']:g} event(s) per line; "
            f"not included: CloudWatch Logs {r['cloudwatch_logs_usd_per_million_backordered_lines']:.2f} "
            f"for {r['log_bytes_per_backordered_line']} bytes/line, X-Ray traces, storage, PITR)"
        )
        out.append(
            "  Not counted (free, or not ours): DynamoDB Streams reads by Lambda's event source mappings, EventBridge's "
            "delivery to its targets; the local runtime's SQS stand-in for that delivery."
        )
        out.append("Prices: " + "; ".join(f"{k} = {v:g} ({r['price_sources'][k]})" for k, v in r["prices"].items()))
        sb = r["stream_batches"]["per_function"]
        out.append(
            "Stream batches: read calls per record, batch of 1 vs batch of 10: "
            + ", ".join(f"{fn} {v['batch_1']['read_calls_per_record']:g} vs {v['batch_10']['read_calls_per_record']:g}" for fn, v in sb.items())
        )
        small, large = r["reconcile_history_sizes"]
        out.append(
            f"Reconciler pass over {r['reconcile_waiting_orders']} waiting orders: read units {r[f'reconcile_rru_per_pass_{small}']:g} "
            f"beside {small:,} settled orders, {r[f'reconcile_rru_per_pass_{large}']:g} beside {large:,} "
            f"(a scan of that history alone: {r[f'reconcile_scan_rru_estimate_{small}']:,} and {r[f'reconcile_scan_rru_estimate_{large}']:,})"
        )
    if "cold_start" in r:
        out.append("")
        for mode in ("bytecode", "source"):
            c = r["cold_start"][mode]
            out.append(
                f"Cold start ({mode}: {'bytecode ready' if mode == 'bytecode' else 'compiled from source, as Lambda does today'}), "
                f"baseline import boto3 + client('dynamodb') {c['baseline_s'] * 1000:.0f} ms, medians of {c['rounds']} interleaved rounds:"
            )
            out.append(f"  {'function':<18} {'import ms':>9} {'ratio':>6} {'init ms':>8} {'ratio':>6} {'libraries alone':>15} {'ours':>5}")
            for fn, v in c["functions"].items():
                out.append(
                    f"  {fn:<18} {v['import_s'] * 1000:>9.0f} {v['ratio']:>6.2f} {v['init_s'] * 1000:>8.0f} {v['init_ratio']:>6.2f}"
                    f" {v['libraries_ratio']:>15.2f} {v['ours_ratio']:>5.2f}"
                )
    if "cpu" in r:
        c = r["cpu"]
        out.append("")
        for label, key in (("whole in-process run", "whole_run"), ("inside the handlers only", "in_handlers")):
            shares = ", ".join(f"{k} {v:.1%}" for k, v in c[key].items() if k != "profiled_s")
            out.append(f"CPU, {label}: {shares}")
    if "e2e_orders" in r:
        out.append("")
        out.append(
            f"End to end: {r['e2e_orders']} orders (half short) by {r['e2e_workers']} clients through `backorders local`: "
            f"{r['e2e_orders_per_s']:g} orders/s, p50 {r['e2e_p50_ms']:g} ms (in stock {r['e2e_p50_ms_in_stock']:g}, "
            f"short {r['e2e_p50_ms_short']:g}), p95 {r['e2e_p95_ms']:g} ms; first half {r['e2e_orders_per_s_first_half']:g} "
            f"orders/s, second half {r['e2e_orders_per_s_second_half']:g}; the first {r['e2e_early_orders']} orders p50 "
            f"{r['e2e_p50_ms_first']:g} ms, the last {r['e2e_p50_ms_last']:g} ms; resident memory {r['e2e_rss_mb_early']} MB after "
            f"the first {r['e2e_early_orders']}, {r['e2e_rss_mb_end']} MB at the end; stopped {r['e2e_stop_s']:g} s after SIGTERM "
            f"(exit {r['e2e_exit_status']})"
        )
    return "\n".join(out)


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller workloads (3 lines, 3 cold start rounds, 40 orders)")
    p.add_argument("--smoke", action="store_true", help="the smallest workloads: only checks that everything runs")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end run through `backorders local`")
    args = p.parse_args(argv)
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    progress = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not args.json else None
    result = collect(size, e2e=not args.no_e2e, progress=progress)
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=False))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
